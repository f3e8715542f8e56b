/work/wt-verify/target/release/wsim connect wss://127.0.0.1:18443/ --cert-pem /tmp/rcv/certs/untrusted-ca.pem --disable-auto-reconnect --duration 5 --profile idf6
exit code: 1
