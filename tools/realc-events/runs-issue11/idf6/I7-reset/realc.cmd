/tmp/realc-build/realc-events.elf ws://127.0.0.1:19003/ --disable-auto-reconnect --duration 5 --profile idf6
exit code: 0
