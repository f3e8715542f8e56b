/work/wt-verify11/target/release/wsim connect ws://127.0.0.1:19030/ --disable-auto-reconnect --duration 4 --profile idf5.5
exit code: 0
