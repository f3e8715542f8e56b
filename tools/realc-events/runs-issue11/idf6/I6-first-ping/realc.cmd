/tmp/realc-build/realc-events.elf ws://127.0.0.1:19033/ --disable-auto-reconnect --duration 15 --profile idf6
exit code: 0
