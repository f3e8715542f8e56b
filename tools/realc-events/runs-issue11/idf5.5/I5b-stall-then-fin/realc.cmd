/tmp/realc-build-idf5.5/realc-events.elf ws://127.0.0.1:19032/ --network-timeout-ms 300 --disable-auto-reconnect --duration 8 --profile idf5.5
exit code: 0
