//! `wsim connect` as a user runs it: the real binary against a tokio-tungstenite echo
//! server on loopback.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::Value;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

async fn run_connect(args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        Command::new(env!("CARGO_BIN_EXE_wsim"))
            .arg("connect")
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("wsim connect finished in time")
    .expect("wsim runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines =
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    (out.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn field<'a>(v: &'a Value, k: &str) -> &'a Value {
    &v[k]
}

#[tokio::test]
async fn send_2000_bytes_then_close_prints_the_exact_event_sequence() {
    let addr = echo_server(None).await;
    let text = "a".repeat(2000);
    let uri = format!("ws://127.0.0.1:{}/echo", addr.port());
    let (code, lines, stderr) = run_connect(&[&uri, "--send-text", &text, "--close"]).await;
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = lines
        .iter()
        .map(|l| field(l, "event").as_str().unwrap())
        .filter(|n| *n != "header_received")
        .collect();
    assert_eq!(
        names,
        ["begin", "before_connect", "connected", "data", "data", "data", "closed", "finish"]
    );
    let data: Vec<&Value> = lines.iter().filter(|l| l["event"] == "data").collect();
    let pick = |v: &Value| {
        (
            v["op_code"].as_u64().unwrap(),
            v["fin"].as_bool().unwrap(),
            v["data_len"].as_u64().unwrap(),
            v["payload_len"].as_i64().unwrap(),
            v["payload_offset"].as_i64().unwrap(),
        )
    };
    assert_eq!(pick(data[0]), (1, true, 1024, 2000, 0));
    assert_eq!(pick(data[1]), (1, true, 976, 2000, 1024));
    assert_eq!(
        data[0]["text"].as_str().unwrap().len() + data[1]["text"].as_str().unwrap().len(),
        2000
    );
    // The server's CLOSE reply is DATA with op_code 8.
    assert_eq!(data[2]["op_code"], 8);
    for l in &lines {
        for k in [
            "t_ms",
            "op_code",
            "fin",
            "data_len",
            "payload_len",
            "payload_offset",
            "error_handle",
            "close_status_code",
        ] {
            assert!(l.get(k).is_some(), "{k} missing in {l}");
        }
        for k in [
            "esp_tls_last_esp_err",
            "esp_tls_stack_err",
            "esp_tls_cert_verify_flags",
            "error_type",
            "esp_ws_handshake_status_code",
            "esp_transport_sock_errno",
        ] {
            assert!(l["error_handle"].get(k).is_some(), "error_handle.{k} missing in {l}");
        }
    }
}

#[tokio::test]
async fn binary_payloads_print_as_hex_and_close_code_is_sent() {
    let srv = RawServer::bind().await;
    let uri = srv.uri("/raw");
    let child = tokio::spawn(async move {
        run_connect(&[
            &uri,
            "--send-bin-hex",
            "00ff10",
            "--close-code",
            "4001",
            "--close-reason",
            "done",
        ])
        .await
    });
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    let f = conn.read_frame().await;
    assert_eq!((f.opcode, f.payload), (2, vec![0x00, 0xff, 0x10]));
    conn.write(&frame(0x82, &[0xff, 0x00])).await;
    let close = conn.read_frame().await;
    assert_eq!(close.payload, [&4001u16.to_be_bytes()[..], b"done"].concat());
    conn.write(&frame(0x88, &4001u16.to_be_bytes())).await;
    drop(conn);
    let (code, lines, stderr) = child.await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    let bin =
        lines.iter().find(|l| l["event"] == "data" && l["op_code"] == 2).expect("binary data line");
    assert_eq!(bin["hex"], "ff00");
    // The code is parsed after the CLOSE frame's DATA event (spec §8): DATA(8) carries
    // the previous value, CLOSED the code.
    let close = lines.iter().find(|l| l["event"] == "data" && l["op_code"] == 8).unwrap();
    assert_eq!(close["close_status_code"], 0);
    let closed = lines.iter().find(|l| l["event"] == "closed").unwrap();
    assert_eq!(closed["close_status_code"], 4001);
}

#[tokio::test]
async fn a_refused_connection_without_reconnect_exits_with_failed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let uri = format!("ws://127.0.0.1:{port}/");
    let (code, lines, _) = run_connect(&[&uri, "--disable-auto-reconnect"]).await;
    assert_eq!(code, wsim::exit::FAILED);
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["begin", "before_connect", "error", "disconnected", "finish"]);
    assert!(lines[2]["text"].as_str().unwrap().contains("ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST"));
}

#[tokio::test]
async fn bad_input_exits_with_bad_input() {
    let (code, _, stderr) = run_connect(&["INVALID"]).await;
    assert_eq!(code, wsim::exit::BAD_INPUT);
    assert!(stderr.contains("invalid URI"), "{stderr}");
    let (code, _, _) = run_connect(&["ws://127.0.0.1:1/", "--send-bin-hex", "zz"]).await;
    assert_eq!(code, wsim::exit::BAD_INPUT);
    let (code, _, _) = run_connect(&["ws://127.0.0.1:1/", "--profile", "idf4"]).await;
    assert_eq!(code, wsim::exit::BAD_INPUT);
}

#[tokio::test]
async fn duration_bounds_a_run_against_a_dead_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let uri = format!("ws://127.0.0.1:{port}/");
    let t0 = std::time::Instant::now();
    let (code, lines, _) =
        run_connect(&[&uri, "--duration", "0.5", "--reconnect-timeout-ms", "100"]).await;
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(code, wsim::exit::FAILED);
    assert!(lines.iter().filter(|l| l["event"] == "before_connect").count() >= 2);
}

/// Starts `wsim connect ARGS` with stdout piped (not read unless the caller reads it).
fn spawn_connect(args: &[&str]) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wsim"))
        .arg("connect")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("wsim runs")
}

/// The peak resident set (VmHWM) of a running process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits for `child` to exit within `limit`, sampling its peak memory until it does.
/// Returns the exit code, the time it took and the last VmHWM seen (KiB).
async fn wait_sampling(child: &mut tokio::process::Child, limit: Duration) -> (i32, Duration, u64) {
    let t0 = std::time::Instant::now();
    let pid = child.id().expect("running");
    let mut hwm = 0;
    loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            hwm = hwm.max(kib);
        }
        match tokio::time::timeout(Duration::from_millis(10), child.wait()).await {
            Ok(status) => return (status.unwrap().code().unwrap_or(-1), t0.elapsed(), hwm),
            Err(_) if t0.elapsed() > limit => panic!("wsim connect still running after {limit:?}"),
            Err(_) => {}
        }
    }
}

/// Accepts connections on loopback and hands each stream, once its upgrade request has
/// been read (`upgrade`: and answered with 101), to `serve`.
async fn raw_listener<F, Fut>(upgrade: bool, serve: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut req = Vec::new();
            let mut tmp = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut tmp).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&tmp[..n]),
                }
            }
            if upgrade {
                let key = request_key(&String::from_utf8_lossy(&req));
                let resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    wsim::esp::handshake::expected_accept(&key)
                );
                if stream.write_all(resp.as_bytes()).await.is_err() {
                    continue;
                }
            }
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// A server that upgrades every connection and then writes 1000-byte text frames as
/// fast as the client takes them, until the connection fails.
async fn flood_server() -> std::net::SocketAddr {
    let mut burst = Vec::new();
    while burst.len() < 64 * 1024 {
        burst.extend_from_slice(&frame(0x81, &[b'x'; 1000]));
    }
    let burst = std::sync::Arc::new(burst);
    raw_listener(true, move |mut stream| {
        let burst = burst.clone();
        async move { while stream.write_all(&burst).await.is_ok() {} }
    })
    .await
}

/// A server that reads the upgrade request and never answers it.
async fn stalled_handshake_server()
-> (std::net::SocketAddr, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let addr = raw_listener(false, move |stream| {
        let _ = tx.send(());
        async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(stream);
        }
    })
    .await;
    (addr, rx)
}

/// Sends SIGINT to a process.
fn sigint(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -INT {pid}");
}

/// Reads a child's stdout to the end in the background; returns its line count and
/// the first line.
fn drain_stdout(
    child: &mut tokio::process::Child,
) -> tokio::task::JoinHandle<(usize, usize, String)> {
    let mut out = child.stdout.take().expect("piped stdout");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 256 * 1024];
        let (mut lines, mut bytes, mut first) = (0, 0, Vec::new());
        while let Ok(n) = out.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if first.len() < 4096 {
                first.extend_from_slice(&buf[..n.min(4096)]);
            }
            bytes += n;
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        let first = String::from_utf8_lossy(&first).lines().next().unwrap_or("").to_string();
        (lines, bytes, first)
    })
}

/// The memory bound asserted for a flooded client (the benchmark measures the figure).
const FLOOD_RSS_LIMIT_KIB: u64 = 128 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_server_is_read_with_back_pressure_and_duration_ends_it() {
    let addr = flood_server().await;
    let uri = format!("ws://127.0.0.1:{}/flood", addr.port());
    let mut child = spawn_connect(&[&uri, "--duration", "1"]);
    let reader = drain_stdout(&mut child);
    let (code, took, hwm) = wait_sampling(&mut child, Duration::from_secs(10)).await;
    let (lines, bytes, first) = reader.await.unwrap();
    assert_eq!(code, wsim::exit::SUCCESS);
    assert!(took < Duration::from_secs(3), "--duration 1 took {took:?}");
    assert!(hwm < FLOOD_RSS_LIMIT_KIB, "peak RSS {hwm} KiB");
    // The flood was really read: thousands of 1000-byte frames were printed.
    assert!(lines > 2000, "only {lines} lines ({bytes} bytes)");
    assert!(first.contains("\"begin\""), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdout_nobody_reads_holds_the_client_back_instead_of_growing_memory() {
    let addr = flood_server().await;
    let uri = format!("ws://127.0.0.1:{}/flood", addr.port());
    // stdout is a pipe that is never read: the printer blocks, then the handler, then
    // the client's reads.
    let mut child = spawn_connect(&[&uri, "--duration", "1.5"]);
    let (code, took, hwm) = wait_sampling(&mut child, Duration::from_secs(10)).await;
    assert_eq!(code, wsim::exit::SUCCESS);
    assert!(took < Duration::from_secs(4), "--duration 1.5 took {took:?}");
    assert!(hwm < FLOOD_RSS_LIMIT_KIB, "peak RSS {hwm} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_flood_exits_with_interrupted() {
    let addr = flood_server().await;
    let uri = format!("ws://127.0.0.1:{}/flood", addr.port());
    let mut child = spawn_connect(&[&uri]);
    let reader = drain_stdout(&mut child);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let t0 = std::time::Instant::now();
    sigint(child.id().unwrap());
    let (code, _, hwm) = wait_sampling(&mut child, Duration::from_secs(10)).await;
    let took = t0.elapsed();
    let (lines, _, _) = reader.await.unwrap();
    assert_eq!(code, 130);
    assert!(took < Duration::from_secs(2), "exit after SIGINT took {took:?}");
    assert!(hwm < FLOOD_RSS_LIMIT_KIB, "peak RSS {hwm} KiB");
    assert!(lines > 100, "only {lines} lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_stalled_handshake_exits_at_once() {
    let (addr, mut accepted) = stalled_handshake_server().await;
    let uri = format!("ws://127.0.0.1:{}/stall", addr.port());
    let mut child = spawn_connect(&[&uri, "--network-timeout-ms", "30000"]);
    let reader = drain_stdout(&mut child);
    tokio::time::timeout(Duration::from_secs(10), accepted.recv())
        .await
        .expect("the client connects")
        .expect("one connection");
    // The request has been read; the client now waits for a response that never comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = std::time::Instant::now();
    sigint(child.id().unwrap());
    let (code, _, _) = wait_sampling(&mut child, Duration::from_secs(10)).await;
    let took = t0.elapsed();
    assert_eq!(code, 130);
    assert!(took < Duration::from_secs(2), "exit after SIGINT took {took:?}");
    let (lines, _, first) = reader.await.unwrap();
    assert_eq!(lines, 2, "begin and before_connect only");
    assert!(first.contains("\"begin\""), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_ends_a_stalled_handshake() {
    let (addr, _accepted) = stalled_handshake_server().await;
    let uri = format!("ws://127.0.0.1:{}/stall", addr.port());
    let mut child = spawn_connect(&[&uri, "--network-timeout-ms", "30000", "--duration", "0.5"]);
    let reader = drain_stdout(&mut child);
    let (code, took, _) = wait_sampling(&mut child, Duration::from_secs(10)).await;
    assert_eq!(code, wsim::exit::FAILED, "never connected");
    assert!(took < Duration::from_secs(3), "--duration 0.5 took {took:?}");
    let (lines, _, _) = reader.await.unwrap();
    assert_eq!(lines, 2, "begin and before_connect only");
}

#[tokio::test]
async fn duration_must_be_a_finite_non_negative_number() {
    for bad in ["inf", "-inf", "nan", "-1", "-0.5", "1e400", "soon", "1e30"] {
        let (code, lines, stderr) = run_connect(&["ws://127.0.0.1:1/", "--duration", bad]).await;
        assert_eq!(code, wsim::exit::BAD_INPUT, "--duration {bad}: {stderr}");
        assert!(lines.is_empty(), "--duration {bad} printed events");
        assert!(stderr.contains("--duration"), "--duration {bad}: {stderr}");
        assert!(stderr.contains(&format!("{bad:?}")), "--duration {bad}: {stderr}");
    }
    // Zero is allowed: the client stops at once.
    let (code, _, stderr) =
        run_connect(&["ws://127.0.0.1:1/", "--duration", "0", "--disable-auto-reconnect"]).await;
    assert!(code == wsim::exit::FAILED || code == wsim::exit::SUCCESS, "{code}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_a_flooded_run() {
    let addr = flood_server().await;
    let uri = format!("ws://127.0.0.1:{}/flood", addr.port());
    let mut child = spawn_connect(&[&uri]);
    // As `wsim connect … | head`: read up to the first DATA line, then close the pipe.
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("\"data\"") {
        line.clear();
        let n = tokio::time::timeout(Duration::from_secs(10), out.read_line(&mut line))
            .await
            .expect("a line in time")
            .unwrap();
        assert!(n > 0, "stdout ended early");
    }
    drop(out);
    let (code, took, hwm) = wait_sampling(&mut child, Duration::from_secs(10)).await;
    assert_eq!(code, wsim::exit::SUCCESS, "connected, then the output closed");
    assert!(took < Duration::from_secs(3), "exit after the pipe closed took {took:?}");
    assert!(hwm < FLOOD_RSS_LIMIT_KIB, "peak RSS {hwm} KiB");
}

/// Deterministic, varied bytes (an LCG), so a misplaced chunk cannot go unnoticed.
fn varied(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// Varied ASCII text.
fn varied_text(len: usize, seed: u32) -> String {
    varied(len, seed).into_iter().map(|b| char::from(b'a' + b % 26)).collect()
}

/// One message the echo-testing server sends: whole, or in fragments of these sizes
/// with a PING after the first.
struct Probe {
    text: bool,
    data: Vec<u8>,
    fragments: Option<Vec<usize>>,
}

/// A tokio-tungstenite server that sends each probe, waits for the client's echo and
/// records whether it came back intact, then closes. Returns its address and the
/// verdicts (one per probe, `Err` saying what differed).
async fn echo_testing_server(
    probes: Vec<Probe>,
    wait: Duration,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Receiver<Vec<Result<(), String>>>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let mut verdicts = Vec::new();
        for p in probes {
            match &p.fragments {
                None if p.text => {
                    let t = String::from_utf8(p.data.clone()).unwrap();
                    ws.send(Message::text(t)).await.unwrap();
                }
                None => ws.send(Message::binary(p.data.clone())).await.unwrap(),
                Some(sizes) => {
                    let first = OpCode::Data(if p.text { Data::Text } else { Data::Binary });
                    let mut at = 0;
                    for (i, &n) in sizes.iter().enumerate() {
                        let end = (at + n).min(p.data.len());
                        let last = i + 1 == sizes.len();
                        let op = if i == 0 { first } else { OpCode::Data(Data::Continue) };
                        let piece =
                            if last { p.data[at..].to_vec() } else { p.data[at..end].to_vec() };
                        ws.send(Message::Frame(Frame::message(piece, op, last))).await.unwrap();
                        if i == 0 {
                            ws.send(Message::Ping(b"between".to_vec().into())).await.unwrap();
                        }
                        at = end;
                    }
                }
            }
            let reply = loop {
                match tokio::time::timeout(wait, ws.next()).await {
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                    Ok(Some(Ok(m))) => break Ok(m),
                    other => break Err(format!("no echo: {other:?}")),
                }
            };
            verdicts.push(reply.and_then(|m| {
                let (is_text, got) = match m {
                    Message::Text(t) => (true, t.as_bytes().to_vec()),
                    Message::Binary(b) => (false, b.to_vec()),
                    other => return Err(format!("unexpected {other:?}")),
                };
                if is_text != p.text || got != p.data {
                    return Err(format!(
                        "sent {} {} bytes, got {} {} bytes back{}",
                        if p.text { "text" } else { "binary" },
                        p.data.len(),
                        if is_text { "text" } else { "binary" },
                        got.len(),
                        if got.len() == p.data.len() { " (different bytes)" } else { "" }
                    ));
                }
                Ok(())
            }));
        }
        let _ = ws.close(None).await;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {}
        let _ = tx.send(verdicts);
    });
    (addr, rx)
}

#[tokio::test]
async fn echo_returns_every_message_intact_whatever_its_size_and_fragmentation() {
    let text = |len, seed| Probe {
        text: true,
        data: varied_text(len, seed).into_bytes(),
        fragments: None,
    };
    let bin = |len, seed| Probe { text: false, data: varied(len, seed), fragments: None };
    let probes = vec![
        text(2, 1),
        bin(0, 2),
        text(512, 3),
        bin(513, 4),
        text(5000, 5),
        bin(70_000, 6),
        Probe { fragments: Some(vec![1000, 3000, 1000]), ..text(5000, 7) },
        Probe { fragments: Some(vec![1, 69_998, 1]), ..bin(70_000, 8) },
        Probe { fragments: Some(vec![0, 100]), ..bin(100, 9) },
    ];
    let n = probes.len();
    let (addr, verdicts) = echo_testing_server(probes, Duration::from_secs(10)).await;
    let uri = format!("ws://127.0.0.1:{}/", addr.port());
    let (code, lines, stderr) = run_connect(&[
        &uri,
        "--echo",
        "--buffer-size",
        "512",
        "--disable-auto-reconnect",
        "--seed",
        "3",
    ])
    .await;
    assert_eq!(code, 0, "{stderr}");
    let verdicts = tokio::time::timeout(Duration::from_secs(5), verdicts).await.unwrap().unwrap();
    assert_eq!(verdicts.len(), n);
    for (i, v) in verdicts.iter().enumerate() {
        assert_eq!(v, &Ok(()), "probe {i}");
    }
    assert!(!stderr.contains("echo:"), "{stderr}");
    // The 5000-byte whole message came in buffer_size chunks: the echo reassembled them.
    let chunks = lines
        .iter()
        .filter(|l| l["event"] == "data" && l["payload_len"] == 5000 && l["op_code"] == 1)
        .count();
    assert!(chunks >= 10, "5000 bytes in chunks of at most 512 bytes: {chunks}");
    assert_eq!(lines.last().unwrap()["event"], "finish");
}

#[tokio::test]
async fn without_echo_nothing_is_sent_back() {
    let probes = vec![Probe { text: true, data: b"anyone?".to_vec(), fragments: None }];
    let (addr, verdicts) = echo_testing_server(probes, Duration::from_secs(1)).await;
    let uri = format!("ws://127.0.0.1:{}/", addr.port());
    let (code, _, stderr) =
        run_connect(&[&uri, "--disable-auto-reconnect", "--duration", "5"]).await;
    assert_eq!(code, 0, "{stderr}");
    let verdicts = tokio::time::timeout(Duration::from_secs(5), verdicts).await.unwrap().unwrap();
    assert!(verdicts[0].as_ref().is_err_and(|e| e.contains("no echo")), "{verdicts:?}");
}
