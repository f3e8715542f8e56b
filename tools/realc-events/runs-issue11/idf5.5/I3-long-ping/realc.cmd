/tmp/realc-build-idf5.5/realc-events.elf ws://127.0.0.1:19031/ --buffer-size 64 --disable-auto-reconnect --duration 4 --profile idf5.5
exit code: 0
