/tmp/realc-build/realc-events.elf wss://127.0.0.1:18443/ --cert-pem /tmp/rcv/certs/ca.pem --cert-common-name wrong.example --disable-auto-reconnect --duration 5 --profile idf6
exit code: 1
