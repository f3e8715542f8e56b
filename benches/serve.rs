//! The memory of `wsim serve` (the real binary, in a child process) across its life:
//! resident memory (VmRSS) at start, after 10,000 connections that each open, echo one
//! message and close, after 500 MiB echoed in 1 MiB messages, and once everything has
//! closed, with the peak (VmHWM) and the ratio of the end to the start.
//!
//! The start is measured after a warm-up round of the same shape as the load (8
//! connections at once, one short and one 1 MiB message each).
//!
//! Run with `cargo bench --bench serve` (`-- --quick` for a tenth of the load). Target:
//! the end within 10% of the start. Linux only (reads `/proc/<pid>/status`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const CONNECTIONS: usize = 10_000;
const ECHOED: usize = 500 << 20;
const MESSAGE: usize = 1 << 20;
const PARALLEL: usize = 8;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A field of `/proc/<pid>/status` in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

async fn connect(addr: SocketAddr) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let url = format!("ws://{addr}/");
    tokio_tungstenite::client_async(url, tcp).await.expect("handshake").0
}

/// Opens a connection, echoes one short message, closes it.
async fn one_connection(addr: SocketAddr) {
    let mut ws = connect(addr).await;
    ws.send(Message::text("hello")).await.expect("send");
    let echo = ws.next().await.expect("echo").expect("echo");
    assert_eq!(echo, Message::text("hello"));
    ws.close(None).await.expect("close");
    while let Some(Ok(_)) = ws.next().await {}
}

/// Echoes `count` messages of `MESSAGE` bytes over one connection.
async fn echo_bulk(addr: SocketAddr, count: usize) {
    let mut ws = connect(addr).await;
    let payload = vec![0xA5u8; MESSAGE];
    for _ in 0..count {
        ws.send(Message::binary(payload.clone())).await.expect("send");
        let echo = ws.next().await.expect("echo").expect("echo");
        assert_eq!(echo.len(), MESSAGE);
    }
    ws.close(None).await.expect("close");
    while let Some(Ok(_)) = ws.next().await {}
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let (connections, echoed) = (CONNECTIONS / scale, ECHOED / scale);
    let certs = std::env::temp_dir().join(format!("wsim-bench-serve-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["serve", "--port", "0", "--tls-port", "0", "--certs-dir"])
        .arg(&certs)
        .stdout(Stdio::piped())
        .spawn()
        .expect("wsim serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next();
    let serve = Serve(child);
    let pid = serve.0.id();
    let line = first.expect("a first line").expect("a first line");
    let addr: SocketAddr = line
        .strip_prefix("ws echo:  ws://")
        .and_then(|a| a.strip_suffix('/'))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    // A warm-up round first, as the load below does it: PARALLEL connections at once,
    // each echoing one short and one 1 MiB message. The start then counts a server
    // whose runtime threads and their allocator arenas are set up (a fixed cost, not
    // growth); what the load adds on top is what this measures.
    let mut warm = tokio::task::JoinSet::new();
    for _ in 0..PARALLEL {
        warm.spawn(async move {
            one_connection(addr).await;
            echo_bulk(addr, 1).await;
        });
    }
    while let Some(r) = warm.join_next().await {
        r.expect("a warm-up task");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = status_kib(pid, "VmRSS:");

    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..PARALLEL {
        tasks.spawn(async move {
            for _ in (w..connections).step_by(PARALLEL) {
                one_connection(addr).await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("a connection task");
    }
    let conns_time = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_conns = status_kib(pid, "VmRSS:");

    let t1 = Instant::now();
    let messages = echoed / MESSAGE;
    for w in 0..PARALLEL {
        let count = messages / PARALLEL + usize::from(w < messages % PARALLEL);
        tasks.spawn(echo_bulk(addr, count));
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("an echo task");
    }
    let echo_time = t1.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let end = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");
    let ratio = end as f64 / start as f64;

    println!("wsim serve memory (VmRSS of the child process)");
    println!("  at start (after a warm-up round):       {}", mib(start));
    println!(
        "  after {connections} connections ({:.1} s):   {} ({:.3}x start)",
        conns_time.as_secs_f64(),
        mib(after_conns),
        after_conns as f64 / start as f64
    );
    println!(
        "  after {} MiB echoed ({:.1} s), all closed: {} ({ratio:.3}x start)",
        echoed >> 20,
        echo_time.as_secs_f64(),
        mib(end)
    );
    println!("  peak (VmHWM):                           {}", mib(peak));
    let verdict = if ratio <= 1.10 { "met" } else { "NOT met" };
    println!("  target (end within 10% of start): {verdict}");
    let _ = std::fs::remove_dir_all(&certs);
}
