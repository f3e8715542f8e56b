/tmp/wsim-main connect wss://127.0.0.1:19011/ --cert-pem /tmp/rc/certs/ca.pem --disable-auto-reconnect --duration 5 --profile idf6
exit code: 1
