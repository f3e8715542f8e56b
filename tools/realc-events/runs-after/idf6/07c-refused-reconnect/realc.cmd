/tmp/realc-build/realc-events.elf ws://127.0.0.1:19099/ --reconnect-timeout-ms 200 --duration 0.7 --profile idf6
exit code: 1
