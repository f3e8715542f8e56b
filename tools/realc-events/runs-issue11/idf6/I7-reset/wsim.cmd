/work/wt-verify11/target/release/wsim connect ws://127.0.0.1:19003/ --disable-auto-reconnect --duration 5 --profile idf6
exit code: 0
