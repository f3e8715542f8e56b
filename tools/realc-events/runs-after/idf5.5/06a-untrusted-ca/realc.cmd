/tmp/realc-build-idf5.5/realc-events.elf wss://127.0.0.1:18443/ --cert-pem /tmp/rcv/certs/untrusted-ca.pem --disable-auto-reconnect --duration 5 --profile idf5.5
exit code: 1
