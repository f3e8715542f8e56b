/tmp/realc-build/realc-events.elf wss://127.0.0.1:18443/ --disable-auto-reconnect --close --duration 5 --profile idf6
exit code: 1
