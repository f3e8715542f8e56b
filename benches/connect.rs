//! `wsim connect` under a flooding server, each figure against a baseline from the same
//! run, all with the real (release) binary against servers on loopback in this process:
//!
//! 1. peak memory (VmHWM) connected to an idle echo server for a few seconds (the
//!    baseline), then to a server writing 1000-byte text frames as fast as it can, with
//!    stdout read as fast as possible and with stdout a pipe nobody reads
//!    (target: under 64 MiB);
//! 2. how late `--duration 1` ends a flooded run (target: ≤ 100 ms);
//! 3. the time from SIGINT to exit during the flood and during a handshake the server
//!    never answers (target: ≤ 100 ms).
//!
//! Run with `cargo bench --bench connect`.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WSIM: &str = env!("CARGO_BIN_EXE_wsim");
const FLOOD_SECS: f64 = 3.0;
const MEMORY_TARGET_MIB: f64 = 64.0;
const LATENCY_TARGET_MS: f64 = 100.0;
const SIGINT_ROUNDS: usize = 5;

fn main() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (idle, flood, stall) =
        rt.block_on(async { (idle_server().await, flood_server().await, stall_server().await) });
    let uri = |addr: SocketAddr, path: &str| format!("ws://127.0.0.1:{}{path}", addr.port());
    let secs = FLOOD_SECS.to_string();

    println!("wsim connect ({WSIM})");
    println!("peak memory (VmHWM) over {FLOOD_SECS} s:");
    let base = run_for(&[&uri(idle, "/idle"), "--duration", &secs], true);
    println!("  idle echo server, stdout read          {:7.1} MiB  (baseline)", base.hwm_mib);
    let read = run_for(&[&uri(flood, "/flood"), "--duration", &secs], true);
    println!(
        "  flooding server, stdout read           {:7.1} MiB  (+{:.1} MiB; {} lines, {:.0} MiB/s printed)",
        read.hwm_mib,
        read.hwm_mib - base.hwm_mib,
        read.lines,
        read.bytes as f64 / (1 << 20) as f64 / FLOOD_SECS
    );
    let unread = run_for(&[&uri(flood, "/flood"), "--duration", &secs], false);
    println!(
        "  flooding server, stdout never read     {:7.1} MiB  (+{:.1} MiB)",
        unread.hwm_mib,
        unread.hwm_mib - base.hwm_mib
    );
    let worst = read.hwm_mib.max(unread.hwm_mib);
    println!("  target: under {MEMORY_TARGET_MIB} MiB: {}", verdict(worst < MEMORY_TARGET_MIB));

    println!("exit latency (ms): median / max of {SIGINT_ROUNDS}");
    let overshoot: Vec<f64> = (0..SIGINT_ROUNDS)
        .map(|_| {
            let r = run_for(&[&uri(flood, "/flood"), "--duration", "1"], true);
            (r.wall.as_secs_f64() - 1.0) * 1000.0
        })
        .collect();
    report("  --duration 1 during the flood, overshoot", &overshoot);
    let flood_int: Vec<f64> = (0..SIGINT_ROUNDS)
        .map(|_| sigint_after(&[&uri(flood, "/flood")], Duration::from_millis(800)))
        .collect();
    report("  SIGINT during the flood", &flood_int);
    let stall_int: Vec<f64> = (0..SIGINT_ROUNDS)
        .map(|_| {
            sigint_after(
                &[&uri(stall, "/stall"), "--network-timeout-ms", "30000"],
                Duration::from_millis(500),
            )
        })
        .collect();
    report("  SIGINT during a stalled handshake", &stall_int);
    let all = overshoot.iter().chain(&flood_int).chain(&stall_int).fold(0.0f64, |a, &b| a.max(b));
    println!("  target: ≤ {LATENCY_TARGET_MS} ms: {}", verdict(all <= LATENCY_TARGET_MS));
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn report(what: &str, ms: &[f64]) {
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    println!("{what:<46} {:6.1} / {:6.1}", v[v.len() / 2], v[v.len() - 1]);
}

struct RunResult {
    hwm_mib: f64,
    wall: Duration,
    lines: usize,
    bytes: usize,
}

fn spawn(args: &[&str]) -> Child {
    Command::new(WSIM)
        .arg("connect")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wsim starts")
}

/// Reads the child's stdout to the end; returns its lines and bytes.
fn drain(child: &mut Child) -> JoinHandle<(usize, usize)> {
    let mut out = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let (mut lines, mut bytes) = (0, 0);
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes += n;
            lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
        }
        (lines, bytes)
    })
}

/// Samples the child's VmHWM every 2 ms until it has exited; returns the last (peak)
/// value in KiB.
fn sample_hwm(pid: u32) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut hwm = 0;
        while let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            // A zombie has no memory lines: the process has exited.
            let Some(kib) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            else {
                break;
            };
            hwm = hwm.max(kib);
            std::thread::sleep(Duration::from_millis(2));
        }
        hwm
    })
}

/// Runs to the end (`--duration` in `args`); `read_stdout: false` leaves stdout a pipe
/// nobody reads until the process has exited.
fn run_for(args: &[&str], read_stdout: bool) -> RunResult {
    let t0 = Instant::now();
    let mut child = spawn(args);
    let hwm = sample_hwm(child.id());
    let reader = if read_stdout { Some(drain(&mut child)) } else { None };
    let status = child.wait().expect("wait");
    let wall = t0.elapsed();
    assert!(status.success(), "wsim connect {args:?} exited with {status}");
    let (lines, bytes) = match reader {
        Some(r) => r.join().unwrap(),
        None => drain(&mut child).join().unwrap(),
    };
    RunResult { hwm_mib: hwm.join().unwrap() as f64 / 1024.0, wall, lines, bytes }
}

/// Starts `wsim connect ARGS`, sends SIGINT after `after`, returns the milliseconds from
/// the signal to the exit.
fn sigint_after(args: &[&str], after: Duration) -> f64 {
    let mut child = spawn(args);
    let reader = drain(&mut child);
    std::thread::sleep(after);
    let ok =
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill runs");
    assert!(ok.success());
    let t0 = Instant::now();
    let status = child.wait().expect("wait");
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status.code(), Some(130), "exit code after SIGINT");
    let _ = reader.join();
    ms
}

/// Reads an HTTP request up to its blank line; returns it.
async fn read_request(s: &mut tokio::net::TcpStream) -> Option<String> {
    let mut req = Vec::new();
    let mut tmp = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&tmp[..n]),
        }
    }
    Some(String::from_utf8_lossy(&req).into_owned())
}

/// A tokio-tungstenite server that accepts and then only reads.
async fn idle_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    addr
}

/// Upgrades, then writes 1000-byte text frames as fast as the client takes them.
async fn flood_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut burst = Vec::new();
    while burst.len() < 64 * 1024 {
        burst.extend_from_slice(&wsim::server::server_frame(0x81, &[b'x'; 1000]));
    }
    let burst = Arc::new(burst);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let burst = burst.clone();
            tokio::spawn(async move {
                let Some(req) = read_request(&mut tcp).await else { return };
                let Some(key) = req.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                else {
                    return;
                };
                let resp = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    wsim::esp::handshake::expected_accept(key.trim())
                );
                if tcp.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
                while tcp.write_all(&burst).await.is_ok() {}
            });
        }
    });
    addr
}

/// Reads the upgrade request and never answers.
async fn stall_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_request(&mut tcp).await;
                let mut sink = [0u8; 64];
                while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}
