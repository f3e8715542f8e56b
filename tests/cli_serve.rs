//! `wsim serve` and `wsim certs` as a firmware developer uses them: echo servers on
//! loopback that `wsim connect` (the model) can talk to over ws and wss.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_wsim")).arg("connect").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn serve_prints_its_urls_and_echoes_over_ws_and_wss() {
    let certs = std::env::temp_dir().join(format!("wsim-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&certs);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["serve", "--port", "0", "--tls-port", "0", "--certs-dir"])
        .arg(&certs)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _guard = Serve(child);
    let ws = lines.next().unwrap().unwrap();
    let wss = lines.next().unwrap().unwrap();
    let ca = lines.next().unwrap().unwrap();
    let ws = ws.strip_prefix("ws echo:  ").expect("ws line").to_string();
    let wss = wss.strip_prefix("wss echo: ").expect("wss line").to_string();
    assert!(ws.starts_with("ws://127.0.0.1:") && wss.starts_with("wss://127.0.0.1:"), "{ws} {wss}");
    let ca_path = ca.strip_prefix("CA certificate: ").expect("CA line").to_string();
    assert!(std::fs::read_to_string(&ca_path).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

    for (uri, extra) in
        [(ws.as_str(), vec![]), (wss.as_str(), vec!["--cert-pem", ca_path.as_str()])]
    {
        let mut args = vec![uri, "--send-text", "hello from the model", "--close"];
        args.extend(extra);
        let events = connect(&args);
        let data =
            events.iter().find(|e| e["event"] == "data" && e["op_code"] == 1).expect("the echo");
        assert_eq!(data["text"], "hello from the model");
        assert_eq!(events.last().unwrap()["event"], "finish");
    }
}

#[test]
fn certs_writes_the_test_pki() {
    let dir = std::env::temp_dir().join(format!("wsim-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["certs", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for f in [
        "ca.pem",
        "ca.der",
        "server.pem",
        "server.key",
        "expired.pem",
        "wrong-host.pem",
        "untrusted.pem",
        "self-signed.pem",
        "client.pem",
        "client.key",
    ] {
        let body = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!body.is_empty(), "{f}");
    }
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
}

/// A `wsim serve` on free loopback ports with `extra` options: the guard, the ws
/// address, and the server's stderr.
fn start_serve(
    tag: &str,
    extra: &[&str],
) -> (Serve, std::net::SocketAddr, std::process::ChildStderr) {
    start_serve_with(tag, None, extra)
}

/// The same, run through `sh` with a descriptor limit when `nofile` is given.
fn start_serve_with(
    tag: &str,
    nofile: Option<u32>,
    extra: &[&str],
) -> (Serve, std::net::SocketAddr, std::process::ChildStderr) {
    let certs = std::env::temp_dir().join(format!("wsim-serve-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&certs);
    let bin = env!("CARGO_BIN_EXE_wsim");
    let mut cmd = match nofile {
        None => Command::new(bin),
        Some(n) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
            c
        }
    };
    let mut child = cmd
        .args(["serve", "--port", "0", "--tls-port", "0", "--certs-dir"])
        .arg(&certs)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let guard = Serve(child);
    let ws = lines.next().unwrap().unwrap();
    let addr = ws
        .strip_prefix("ws echo:  ws://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("ws line: {ws}"))
        .parse()
        .unwrap();
    (guard, addr, stderr)
}

/// A raw client over blocking TCP: every read is bounded by a timeout.
struct Raw(std::net::TcpStream);

impl Raw {
    fn connect(addr: std::net::SocketAddr) -> Raw {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        Raw(s)
    }

    fn handshake(addr: std::net::SocketAddr) -> Raw {
        use std::io::{Read, Write};
        let mut r = Raw::connect(addr);
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let req = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        r.0.write_all(req.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while wsim::proto::find_header_end(&got).is_none() {
            assert_eq!(r.0.read(&mut b).unwrap(), 1, "the handshake answer ends early");
            got.push(b[0]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 101"), "{text}");
        assert!(text.contains(&wsim::proto::accept_key(key)), "{text}");
        r
    }

    fn send(&mut self, header: wsim::proto::FrameHeader, payload: &[u8]) {
        use std::io::Write;
        self.0.write_all(&wsim::proto::encode_frame(&header, payload)).unwrap();
    }

    /// Reads until the server closes (EOF or reset); returns what came and how long it took.
    fn read_to_close(&mut self) -> (Vec<u8>, std::time::Duration) {
        use std::io::Read;
        let t0 = std::time::Instant::now();
        let mut all = Vec::new();
        let mut b = [0u8; 4096];
        loop {
            match self.0.read(&mut b) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("no close within the read timeout: {e}"),
            }
        }
        (all, t0.elapsed())
    }
}

fn masked(opcode: wsim::proto::Opcode, len: u64) -> wsim::proto::FrameHeader {
    let mut h = wsim::proto::FrameHeader::new(opcode, len);
    h.mask = Some([0x11, 0x22, 0x33, 0x44]);
    h
}

/// Sends a text message and reads its echo.
fn echo_once(addr: std::net::SocketAddr) {
    use std::io::Read;
    let mut c = Raw::handshake(addr);
    c.send(masked(wsim::proto::Opcode::Text, 5), b"hello");
    let mut got = [0u8; 7];
    c.0.read_exact(&mut got).unwrap();
    assert_eq!(got, [0x81, 5, b'h', b'e', b'l', b'l', b'o']);
}

#[test]
fn a_frame_claiming_two_to_the_64_bytes_closes_its_connection_not_the_server() {
    let (mut guard, addr, _err) = start_serve("huge", &[]);
    let mut c = Raw::handshake(addr);
    c.send(masked(wsim::proto::Opcode::Binary, u64::MAX), &[0; 64]);
    let (got, _) = c.read_to_close();
    let (close, at) = wsim::proto::FrameHeader::parse(&got).expect("a frame before the end");
    assert_eq!(close.opcode, wsim::proto::Opcode::Close, "a CLOSE: {got:02x?}");
    assert_eq!(got.get(at..at + 2), Some(&1009u16.to_be_bytes()[..]), "code 1009 (too big)");
    assert!(guard.0.try_wait().unwrap().is_none(), "the server is still running");
    echo_once(addr);
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let (_guard, addr, _err) = start_serve("idle", &["--idle-timeout-secs", "1"]);
    let mut c = Raw::handshake(addr);
    let (_, waited) = c.read_to_close();
    assert!(waited >= std::time::Duration::from_millis(800), "closed too soon: {waited:?}");
    assert!(waited < std::time::Duration::from_secs(5), "closed too late: {waited:?}");
    // A connection that never starts its handshake is idle too.
    let (_, waited) = Raw::connect(addr).read_to_close();
    assert!(waited < std::time::Duration::from_secs(5), "closed too late: {waited:?}");
}

#[test]
fn a_stalled_handshake_is_closed_after_the_handshake_timeout() {
    use std::io::Write;
    let (_guard, addr, _err) =
        start_serve("stall", &["--handshake-timeout-secs", "1", "--idle-timeout-secs", "60"]);
    let mut c = Raw::connect(addr);
    // Bytes keep coming, so the idle limit never fires; the handshake limit does.
    c.0.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let (_, waited) = c.read_to_close();
    assert!(waited < std::time::Duration::from_secs(5), "closed too late: {waited:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn out_of_descriptors_the_accept_loop_backs_off_instead_of_spinning() {
    use std::io::Read;
    let (guard, addr, mut err) = start_serve_with("emfile", Some(64), &[]);
    let pid = guard.0.id();
    // Enough connections to use up the server's 64 descriptors.
    let held: Vec<_> = (0..80).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<u64> = rest.split(' ').skip(11).take(2).map(|x| x.parse().unwrap()).collect();
        f[0] + f[1]
    };
    let before = cpu();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ticks = cpu() - before;
    // Spinning would take about 200 ticks (2 s at 100 Hz); backing off takes next to none.
    assert!(ticks < 40, "{ticks} clock ticks of CPU in 2 s");
    drop(held);
    drop(guard);
    let mut log = String::new();
    err.read_to_string(&mut log).unwrap();
    assert_eq!(log.matches("accept failed").count(), 1, "said once: {log}");
    assert!(log.contains("retrying every 100 ms"), "{log}");
}

#[tokio::test]
async fn a_long_running_server_keeps_nothing_once_a_connection_ends() {
    use wsim::server::{ServerHandle, ServerKind, ServerOptions, SubprotocolPolicy};
    let options = ServerOptions::long_running(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(10),
        16,
    );
    let bind = "127.0.0.1:0".parse().unwrap();
    let kind = ServerKind::Echo(SubprotocolPolicy::None);
    let server = ServerHandle::start_with("ws", bind, kind, None, options).await.unwrap();
    let addr = server.addr();
    let mut c = tokio::task::spawn_blocking(move || {
        echo_once(addr);
        Raw::handshake(addr)
    })
    .await
    .unwrap();
    let open = wait_for(|| server.open_connections() == 1).await;
    assert!(open, "one connection open: {}", server.open_connections());
    c.send(masked(wsim::proto::Opcode::Close, 2), &1000u16.to_be_bytes());
    let (got, _) = tokio::task::spawn_blocking(move || c.read_to_close()).await.unwrap();
    assert_eq!(got.first(), Some(&0x88), "the CLOSE answer");
    assert!(wait_for(|| server.open_connections() == 0).await, "no connection left");
    assert!(server.connections().is_empty(), "no record kept");
    assert_eq!(server.unrecorded_connections(), 2);
    assert_eq!(server.failure(), None);
}

#[tokio::test]
async fn a_flood_of_frames_does_not_grow_a_scenario_server_record_past_its_limits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wsim::server::{RecordLimits, ScriptBehaviour, ServerHandle, ServerKind, ServerOptions};
    let limits = RecordLimits { connections: 4, bytes: 100_000, frames: 500, wire_entries: 300 };
    let options = ServerOptions { record: limits, ..ServerOptions::scenario() };
    let bind = "127.0.0.1:0".parse().unwrap();
    let kind = ServerKind::Script(ScriptBehaviour::default());
    let server = ServerHandle::start_with("s", bind, kind, None, options).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 64];
    let _ = tcp.read(&mut answer).await.unwrap();
    let frame = wsim::proto::encode_frame(&masked(wsim::proto::Opcode::Binary, 1000), &[5; 1000]);
    for _ in 0..5000 {
        tcp.write_all(&frame).await.unwrap();
    }
    let sent = 5000;
    let all_seen = server
        .wait_until(std::time::Duration::from_secs(20), |c| {
            c.first().is_some_and(|l| l.frames.len() as u64 + l.frames_dropped == sent)
        })
        .await;
    assert!(all_seen, "every frame counted");
    let log = &server.connections()[0];
    assert_eq!(log.frames.len(), 500);
    let kept: usize = log.frames.iter().map(|f| f.payload.len()).sum();
    assert!(kept + log.request.len() <= 100_000, "{kept} payload bytes kept");
    assert!(log.wire.len() <= 300 && log.wire_dropped > 0);
    assert_eq!(server.failure(), None);
}

async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn a_scripted_server_streams_its_echo_of_a_frame_claiming_two_to_the_64_bytes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wsim::server::{ScriptBehaviour, ServerHandle, ServerKind};
    let behaviour = ScriptBehaviour { echo: true, ..ScriptBehaviour::default() };
    let bind = "127.0.0.1:0".parse().unwrap();
    let server = ServerHandle::start("s", bind, ServerKind::Script(behaviour), None).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    while wsim::proto::find_header_end(&answer).is_none() {
        let mut b = [0u8; 1];
        tcp.read_exact(&mut b).await.unwrap();
        answer.push(b[0]);
    }
    let header = masked(wsim::proto::Opcode::Binary, u64::MAX);
    let sent = 3 << 20;
    let (mut rd, mut wr) = tcp.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&header.encode()).await.unwrap();
        let mut chunk = vec![0x5Au8; 64 * 1024];
        wsim::proto::apply_mask([0x11, 0x22, 0x33, 0x44], 0, &mut chunk);
        for _ in 0..sent / chunk.len() {
            wr.write_all(&chunk).await.unwrap();
        }
        wr
    });
    // The echo comes back while the frame is still arriving: the same claimed length,
    // the payload unmasked.
    let mut got = Vec::new();
    let want = 10 + sent - (1 << 20);
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut b = vec![0u8; 64 * 1024];
        while got.len() < want {
            let n = rd.read(&mut b).await.unwrap();
            assert!(n > 0, "closed after {} bytes", got.len());
            got.extend_from_slice(&b[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "the echo streams: {} bytes came", got.len());
    let echoed = wsim::proto::FrameHeader::parse(&got).unwrap().0;
    assert_eq!(
        (echoed.opcode, echoed.len, echoed.mask),
        (wsim::proto::Opcode::Binary, u64::MAX, None)
    );
    assert!(got[10..].iter().all(|&b| b == 0x5A));
    let _wr = writer.await.unwrap();
    assert!(server.connections()[0].frames.is_empty(), "an unfinished frame is not recorded");
    assert_eq!(server.failure(), None);
}
