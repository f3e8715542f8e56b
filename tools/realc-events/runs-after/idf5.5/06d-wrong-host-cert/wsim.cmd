/work/wt-verify/target/release/wsim connect wss://127.0.0.1:19011/ --cert-pem /tmp/rcv/certs/ca.pem --disable-auto-reconnect --duration 5 --profile idf5.5
exit code: 1
