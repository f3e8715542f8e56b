/work/wt-verify/target/release/wsim connect ws://127.0.0.1:19099/ --reconnect-timeout-ms 200 --duration 0.7 --profile idf5.5
exit code: 1
