/work/wt-verify/target/release/wsim connect wss://127.0.0.1:18443/ --cert-pem /tmp/rcv/certs/ca.pem --send-text hi --close --disable-auto-reconnect --duration 5 --profile idf5.5
exit code: 0
