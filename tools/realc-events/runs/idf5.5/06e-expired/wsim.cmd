/tmp/wsim-main connect wss://127.0.0.1:19012/ --cert-pem /tmp/rc/certs/ca.pem --disable-auto-reconnect --duration 3 --profile idf5.5
exit code: 1
