/tmp/realc-build-idf5.5/realc-events.elf ws://127.0.0.1:19021/ --reply-bytes 8000000 --disable-auto-reconnect --duration 8 --profile idf5.5
exit code: 0
