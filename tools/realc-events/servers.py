#!/usr/bin/env python3
"""Tiny scripted WebSocket servers on 127.0.0.1 for the issue-8 comparisons.

usage: servers.py MODE PORT [--tls CERT KEY]

Each mode serves connections one after another, forever (Ctrl-C ends it):
  close1000   handshake, then CLOSE(1000, "bye"); reads the client's CLOSE, then closes (FIN)
  fin         handshake, then after 200 ms shuts the connection (FIN), no CLOSE frame
  reset       handshake, then after 200 ms resets it (RST: SO_LINGER 0)
  piggyback   the 101 response and a 2000-byte text frame in one write
  piggyback2  the 101 response and a 500-byte text frame in one write; 100 ms later a
              2000-byte text frame
  ssh         answers the upgrade request with "SSH-2.0-OpenSSH\\r\\n\\r\\n"
  echo        handshake, then echoes text/binary frames; answers CLOSE
  react       for handler reactions: sends a 2000-byte text frame, a binary message in two
              fragments (1000 + 1000), then logs every client frame; CLOSE(1000) after 1.5 s
  block       for a handler that blocks the task: sends text "go", does not read for 1 s,
              sends PING "p", still does not read for 1 s, then reads and logs every client
              frame with its arrival time (a PONG logged after the handler's big reply shows
              that the PING waited for the handler)
Issue 11 (IDF 5.5 reads, first PING):
  len64top    101; 100 ms later, in a separate write, the frame 82 7f 80 00 00 00 00 00 00 05
              "hello" (a 64-bit length with its top bit set); then logs client frames for 3 s
  longping    101; 100 ms later a 125-byte PING ("0123456789" repeated); logs each client
              frame with its length and the first 64 payload bytes (hex); CLOSE(1000) after 2 s
  stall       101; 100 ms later the header and the first 40 payload bytes of a 100-byte
              binary frame ("s"); 1 s later the remaining 60 bytes and a CLOSE(1000) in one
              write; logs client frames (a CLOSE answer or not) for 5 s
  pingtime    101; then logs each client frame with its arrival time relative to the moment
              the 101 was written, answering PINGs with PONGs, for 16 s
  pingslow    as pingtime, but the 101 is written 2.5 s after the request arrived (the
              C client counts the first ping interval from esp_websocket_client_init())
"""
import base64
import hashlib
import socket
import ssl
import struct
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_request(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return None, b""
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    key = b""
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"sec-websocket-key":
            key = v.strip()
    return key, rest


def response(key):
    acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + acc + b"\r\n\r\n")


def frame(op, payload, fin=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        h = struct.pack("!BB", b0, n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, 126, n)
    else:
        h = struct.pack("!BBQ", b0, 127, n)
    return h + payload


def read_frame(c, buf):
    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = c.recv(65536)
            if not d:
                raise EOFError
            buf += d
    need(2)
    op = buf[0] & 0x0F
    n = buf[1] & 0x7F
    masked = buf[1] & 0x80
    off = 2
    if n == 126:
        need(4)
        n = struct.unpack("!H", buf[2:4])[0]
        off = 4
    elif n == 127:
        need(10)
        n = struct.unpack("!Q", buf[2:10])[0]
        off = 10
    mk = b""
    if masked:
        need(off + 4)
        mk = buf[off:off + 4]
        off += 4
    need(off + n)
    p = bytearray(buf[off:off + n])
    if masked:
        for i in range(n):
            p[i] ^= mk[i % 4]
    buf = buf[off + n:]
    return op, bytes(p), buf


CONN = [0]


def log_frames(c, buf, seconds, t0, pong=False, show=0):
    """Log every client frame for `seconds` (time relative to t0); PONG a PING if asked."""
    end = time.time() + seconds
    while True:
        left = end - time.time()
        if left <= 0:
            return buf
        c.settimeout(left)
        try:
            op, p, buf = read_frame(c, buf)
        except socket.timeout:
            return buf
        except EOFError:
            log("t=%.3f client EOF" % (time.time() - t0))
            return None
        extra = (" first%d=%s" % (show, p[:show].hex())) if show else ""
        log("t=%.3f client frame op=%d len=%d%s" % (time.time() - t0, op, len(p), extra))
        if pong and op == 9:
            c.sendall(frame(10, p))


def serve_one(mode, c):
    CONN[0] += 1
    log("connection #%d" % CONN[0])
    try:
        key, rest = read_request(c)
        if key is None:
            return
        if mode == "ssh":
            c.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
            time.sleep(0.5)
            return
        if mode == "piggyback":
            c.sendall(response(key) + frame(1, b"x" * 2000))
        elif mode == "piggyback2":
            c.sendall(response(key) + frame(1, b"a" * 500))
            time.sleep(0.1)
            c.sendall(frame(1, b"b" * 2000))
        else:
            if mode == "pingslow":
                time.sleep(2.5)
            c.sendall(response(key))
        if mode == "close1000":
            time.sleep(0.2)
            c.sendall(frame(8, struct.pack("!H", 1000) + b"bye"))
            buf = rest
            try:
                while True:
                    op, p, buf = read_frame(c, buf)
                    log("client frame op=%d payload=%r" % (op, p))
                    if op == 8:
                        break
            except EOFError:
                pass
            time.sleep(0.05)
            return
        if mode == "react":
            c.sendall(frame(1, b"t" * 2000))
            c.sendall(frame(2, bytes(range(250)) * 4, fin=False) + frame(0, bytes(range(250)) * 4))
            c.settimeout(0.1)
            buf = rest
            t0 = time.time()
            while time.time() - t0 < 1.5:
                try:
                    op, p, buf = read_frame(c, buf)
                    log("client frame op=%d len=%d" % (op, len(p)))
                except socket.timeout:
                    continue
                except EOFError:
                    return
            c.settimeout(None)
            c.sendall(frame(8, struct.pack("!H", 1000)))
            try:
                while True:
                    op, p, buf = read_frame(c, buf)
                    log("client frame op=%d len=%d" % (op, len(p)))
                    if op == 8:
                        break
            except EOFError:
                pass
            return
        if mode == "block":
            t0 = time.time()
            c.sendall(frame(1, b"go"))
            time.sleep(1.0)
            c.sendall(frame(9, b"p"))
            log("t=%.3f sent PING" % (time.time() - t0))
            time.sleep(1.0)
            buf = rest
            c.settimeout(1.0)
            try:
                while True:
                    op, p, buf = read_frame(c, buf)
                    log("t=%.3f client frame op=%d len=%d fin? payload[:4]=%r" % (time.time() - t0, op, len(p), p[:4]))
            except (socket.timeout, EOFError):
                pass
            c.settimeout(None)
            c.sendall(frame(8, struct.pack("!H", 1000)))
            time.sleep(0.2)
            return
        if mode in ("len64top", "longping", "stall", "pingtime", "pingslow"):
            t0 = time.time()
            buf = rest
            if mode in ("pingtime", "pingslow"):
                log_frames(c, buf, 16.0, t0, pong=True)
                return
            time.sleep(0.1)
            if mode == "len64top":
                c.sendall(bytes.fromhex("827f8000000000000005") + b"hello")
                log("t=%.3f sent 82 7f 80 00 00 00 00 00 00 05 'hello'" % (time.time() - t0))
                log_frames(c, buf, 3.0, t0)
                return
            if mode == "longping":
                c.sendall(frame(9, (b"0123456789" * 13)[:125]))
                log("t=%.3f sent PING of 125 bytes" % (time.time() - t0))
                buf = log_frames(c, buf, 2.0, t0, show=64)
                if buf is None:
                    return
                c.settimeout(None)
                c.sendall(frame(8, struct.pack("!H", 1000)))
                log_frames(c, buf, 1.0, t0)
                return
            # stall
            whole = frame(2, b"s" * 100)
            c.sendall(whole[:2 + 40])
            log("t=%.3f sent header + 40 of 100 payload bytes" % (time.time() - t0))
            time.sleep(1.0)
            c.sendall(whole[2 + 40:] + frame(8, struct.pack("!H", 1000)))
            log("t=%.3f sent the remaining 60 bytes + CLOSE(1000)" % (time.time() - t0))
            log_frames(c, buf, 5.0, t0)
            return
        if mode == "fin":
            time.sleep(0.2)
            c.shutdown(socket.SHUT_RDWR)
            time.sleep(0.5)
            return
        if mode == "reset":
            time.sleep(0.2)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        # echo (also after piggyback)
        buf = rest
        while True:
            op, p, buf = read_frame(c, buf)
            log("client frame op=%d len=%d" % (op, len(p)))
            if op in (1, 2, 0):
                c.sendall(frame(op, p))
            elif op == 9:
                c.sendall(frame(10, p))
            elif op == 8:
                c.sendall(frame(8, p[:2]))
                time.sleep(0.05)
                return
    except (EOFError, ConnectionError, OSError) as e:
        log("connection ended: %r" % e)
    finally:
        c.close()


def log(msg):
    print("[server] %s" % msg, file=sys.stderr, flush=True)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    ctx = None
    if len(sys.argv) > 3 and sys.argv[3] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if mode == "block":  # a small receive window, so the client's big reply fills up quickly
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    log("%s on 127.0.0.1:%d%s" % (mode, port, " (tls)" if ctx else ""))
    while True:
        c, a = s.accept()
        log("accepted %s:%d" % a)
        if ctx:
            try:
                c = ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log("tls handshake failed: %r" % e)
                c.close()
                continue
        threading.Thread(target=serve_one, args=(mode, c), daemon=True).start()


if __name__ == "__main__":
    main()
