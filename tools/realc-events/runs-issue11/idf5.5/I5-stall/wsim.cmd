/work/wt-verify11/target/release/wsim connect ws://127.0.0.1:19032/ --network-timeout-ms 300 --disable-auto-reconnect --duration 6 --profile idf5.5
exit code: 0
