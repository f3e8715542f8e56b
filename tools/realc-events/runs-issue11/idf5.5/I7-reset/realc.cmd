/tmp/realc-build-idf5.5/realc-events.elf ws://127.0.0.1:19003/ --disable-auto-reconnect --duration 5 --profile idf5.5
exit code: 0
