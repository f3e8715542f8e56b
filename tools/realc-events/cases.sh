#!/usr/bin/env bash
# cases.sh: runs the issue-8 cases with the real C client (realc-events) and the model
# (`wsim connect`) side by side, through compare.py. It builds nothing.
#
# Needs, all on 127.0.0.1: the servers of servers.py on ports 19001-19021 (19030-19033 for
# the issue-11 cases) and `wsim serve`
# on 18080/18443 with its certificates in $CERTS (see README.md, "Servers").
#
# usage: REALC=… WSIM=… CERTS=… OUT=runs/idf6 [PROFILE=idf6|idf5.5] cases.sh [CASE…]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${CERTS:?set CERTS to the folder written by wsim certs --out}"
P=(--profile "${PROFILE:-idf6}")
C=$CERTS
cmp() { local name=$1; shift; "$HERE/compare.py" "$name" -- "$@" "${P[@]}"; }
cmp_realc() { local name=$1; shift; "$HERE/compare.py" "$name" --only realc -- "$@" "${P[@]}"; }

want() { [ $# -eq 0 ] && return 0; for c in "${SEL[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }
SEL=("$@")
run() { local name=$1; if [ ${#SEL[@]} -eq 0 ] || want "$name"; then "${@:2}"; fi; }

# (1) server CLOSE(1000, "bye")
run 01-close1000 cmp 01-close1000 ws://127.0.0.1:19001/ --disable-auto-reconnect --duration 5
# (2) server FIN after connect, no CLOSE; then the same with reconnects
run 02-fin cmp 02-fin ws://127.0.0.1:19002/ --disable-auto-reconnect --duration 5
run 02b-fin-reconnect cmp 02b-fin-reconnect ws://127.0.0.1:19002/ --reconnect-timeout-ms 300 --duration 1.5
# (3) 101 + a 2000-byte text frame in one write, buffer_size 1024; then 101 + a 500-byte
#     frame in one write and a 2000-byte frame 100 ms later
run 03-piggyback cmp 03-piggyback ws://127.0.0.1:19004/ --buffer-size 1024 --disable-auto-reconnect --close --duration 5
run 03c-piggyback-buf4096 cmp 03c-piggyback-buf4096 ws://127.0.0.1:19004/ --buffer-size 4096 --disable-auto-reconnect --close --duration 5
run 03b-piggyback-small cmp 03b-piggyback-small ws://127.0.0.1:19007/ --buffer-size 1024 --disable-auto-reconnect --close --duration 5
# (4) wss:// without a CA (wsim serve's wss echo)
run 04-wss-no-ca cmp 04-wss-no-ca wss://127.0.0.1:18443/ --disable-auto-reconnect --close --duration 5
# (5) "SSH-2.0-OpenSSH\r\n\r\n" instead of a 101
run 05-ssh cmp 05-ssh ws://127.0.0.1:19005/ --disable-auto-reconnect --duration 5
# (6) TLS: untrusted CA, wrong common name (by cert_common_name and by the served
#     certificate), the valid case, an expired certificate
run 06a-untrusted-ca cmp 06a-untrusted-ca wss://127.0.0.1:18443/ --cert-pem "$C/untrusted-ca.pem" --disable-auto-reconnect --duration 5
run 06b-wrong-cn cmp 06b-wrong-cn wss://127.0.0.1:18443/ --cert-pem "$C/ca.pem" --cert-common-name wrong.example --disable-auto-reconnect --duration 5
run 06c-valid cmp 06c-valid wss://127.0.0.1:18443/ --cert-pem "$C/ca.pem" --send-text hi --close --disable-auto-reconnect --duration 5
run 06d-wrong-host-cert cmp 06d-wrong-host-cert wss://127.0.0.1:19011/ --cert-pem "$C/ca.pem" --disable-auto-reconnect --duration 5
run 06e-expired cmp 06e-expired wss://127.0.0.1:19012/ --cert-pem "$C/ca.pem" --disable-auto-reconnect --duration 3
# (7) errno= after a refused connect and after a reset (RST)
run 07a-refused cmp 07a-refused ws://127.0.0.1:19099/ --disable-auto-reconnect --duration 5
run 07c-refused-reconnect cmp 07c-refused-reconnect ws://127.0.0.1:19099/ --reconnect-timeout-ms 200 --duration 0.7
run 07b-reset cmp 07b-reset ws://127.0.0.1:19003/ --disable-auto-reconnect --duration 5
# handler reactions (the model has no handler reactions yet: the real client only),
# and the model's DATA chunks for the same server
run R1-echo-from-handler cmp_realc R1-echo-from-handler ws://127.0.0.1:19020/ --buffer-size 512 --echo --disable-auto-reconnect --duration 4
run R1b-react-no-echo cmp R1b-react-no-echo ws://127.0.0.1:19020/ --buffer-size 512 --disable-auto-reconnect --duration 4
run R2-stop-from-handler cmp_realc R2-stop-from-handler ws://127.0.0.1:19020/ --stop-from-handler --disable-auto-reconnect --duration 4
run R3-handler-blocks-ping cmp_realc R3-handler-blocks-ping ws://127.0.0.1:19021/ --reply-bytes 8000000 --disable-auto-reconnect --duration 8
# issue 11 (IDF 5.5 reads, first PING): servers len64top:19030 longping:19031 stall:19032
# pingtime:19033 pingslow:19034, and piggyback:19004 piggyback2:19007 reset:19003 as above
# (1) 82 7f 80 00 00 00 00 00 00 05 "hello" after the 101, in a separate write
run I1-len64-top cmp I1-len64-top ws://127.0.0.1:19030/ --disable-auto-reconnect --duration 4
# (2) 101 + 2000-byte text frame in one write, buffer_size 1024 and 4096
run I2a-piggyback cmp I2a-piggyback ws://127.0.0.1:19004/ --buffer-size 1024 --disable-auto-reconnect --close --duration 5
run I2b-piggyback-buf4096 cmp I2b-piggyback-buf4096 ws://127.0.0.1:19004/ --buffer-size 4096 --disable-auto-reconnect --close --duration 5
# (3) a 125-byte PING with buffer_size 64: the server logs the PONG's length and first 64 bytes
run I3-long-ping cmp I3-long-ping ws://127.0.0.1:19031/ --buffer-size 64 --disable-auto-reconnect --duration 4
# (4) a frame that arrives with the 101 (as 03b)
run I4-piggyback-small cmp I4-piggyback-small ws://127.0.0.1:19007/ --buffer-size 1024 --disable-auto-reconnect --close --duration 5
# (5) 40 of a 100-byte frame's payload, 1 s stall (network_timeout_ms 300), then the
#     remaining 60 bytes + CLOSE(1000)
run I5-stall cmp I5-stall ws://127.0.0.1:19032/ --network-timeout-ms 300 --disable-auto-reconnect --duration 6
#     the same, stopped after the server's FIN (it closes 6.1 s after the 101): in I5 the
#     FIN lands while the real client's stop() waits for its poll, after `wsim connect`
#     has given up waiting (50 ms)
run I5b-stall-then-fin cmp I5b-stall-then-fin ws://127.0.0.1:19032/ --network-timeout-ms 300 --disable-auto-reconnect --duration 8
# (6) the first PING with the default ping interval (the server logs its arrival time)
run I6-first-ping cmp I6-first-ping ws://127.0.0.1:19033/ --disable-auto-reconnect --duration 15
#     and with the 101 written 2.5 s late (server pingslow:19034): the interval runs from init
run I6b-first-ping-slow-101 cmp I6b-first-ping-slow-101 ws://127.0.0.1:19034/ --disable-auto-reconnect --duration 15
# the reset case again
run I7-reset cmp I7-reset ws://127.0.0.1:19003/ --disable-auto-reconnect --duration 5
