/tmp/realc-build-idf5.5/realc-events.elf ws://127.0.0.1:19002/ --reconnect-timeout-ms 300 --duration 1.5 --profile idf5.5
exit code: 0
