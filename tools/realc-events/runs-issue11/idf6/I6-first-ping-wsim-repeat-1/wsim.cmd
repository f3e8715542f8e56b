/work/wt-verify11/target/release/wsim connect ws://127.0.0.1:19033/ --disable-auto-reconnect --duration 15 --profile idf6
exit code: 0
