/work/wt-verify/target/release/wsim connect wss://127.0.0.1:18443/ --disable-auto-reconnect --close --duration 5 --profile idf5.5
exit code: 1
