/tmp/realc-build-idf5.5/realc-events.elf ws://127.0.0.1:19004/ --buffer-size 4096 --disable-auto-reconnect --close --duration 5 --profile idf5.5
exit code: 1
