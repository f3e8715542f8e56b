/work/wt-verify/target/release/wsim connect ws://127.0.0.1:19020/ --buffer-size 512 --disable-auto-reconnect --duration 4 --profile idf5.5
exit code: 0
