/tmp/realc-build/realc-events.elf wss://127.0.0.1:19012/ --cert-pem /tmp/rcv/certs/ca.pem --disable-auto-reconnect --duration 3 --profile idf6
exit code: 0
