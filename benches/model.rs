//! Benchmarks of the client model, each against a baseline measured in the same run:
//!
//! 1. echo throughput of the model versus a tokio-tungstenite client, both talking to
//!    the same tokio-tungstenite echo server (in a child process), for `buffer_size`
//!    1024 and 65536;
//! 2. the memory of 1,000 connected idle instances in one process, per instance and
//!    beyond its two `buffer_size` buffers.
//!
//! Run with `cargo bench --bench model`. Targets: ratio ≥ 0.5 at 65536; ≤ 16 KiB per
//! idle instance beyond its buffers.

use std::alloc::System;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cap::Cap;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use wsim::esp::{Config, Env, EspWebsocketClient, EventFilter, EventId, PORT_MAX_DELAY, Profile};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

const ROLE_VAR: &str = "WSIM_BENCH_ROLE";
const MESSAGE: usize = 64 * 1024;
const ROUNDS: usize = 400;
const WARMUP: usize = 20;
const INSTANCES: usize = 1000;

fn main() {
    if std::env::var(ROLE_VAR).as_deref() == Ok("server") {
        run_server();
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .env(ROLE_VAR, "server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the echo server process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port line");
    let port: u16 = line.trim().parse().expect("the server prints its port");
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let uri = format!("ws://127.0.0.1:{port}/bench");
        println!(
            "echo throughput, {ROUNDS} round trips of {} KiB (after {WARMUP} warm-up):",
            MESSAGE / 1024
        );
        let base = tungstenite_echo(&uri).await;
        println!("  tokio-tungstenite client      {:8.1} MiB/s  (baseline)", base);
        for size in [1024, 65536] {
            let model = model_echo(&uri, size).await;
            println!(
                "  model, buffer_size {size:>5}     {model:8.1} MiB/s  ratio {:.2}",
                model / base
            );
        }
        let (per, beyond) = idle_memory(&uri).await;
        println!("memory of {INSTANCES} connected idle instances (buffer_size 1024):");
        println!(
            "  {per} bytes per instance, {beyond} bytes beyond its two buffers ({:.1} KiB)",
            beyond as f64 / 1024.0
        );
    });
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
}

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

async fn tungstenite_echo(uri: &str) -> f64 {
    let port = uri.split(':').nth(2).and_then(|p| p.split('/').next()).expect("uri has a port");
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.expect("tcp");
    let (mut ws, _) = tokio_tungstenite::client_async(uri, tcp).await.expect("baseline connects");
    let msg = vec![7u8; MESSAGE];
    let mut d = Duration::ZERO;
    for (n, timed) in [(WARMUP, false), (ROUNDS, true)] {
        let t0 = Instant::now();
        for _ in 0..n {
            ws.send(Message::binary(msg.clone())).await.unwrap();
            loop {
                if let Message::Binary(b) = ws.next().await.expect("echo").unwrap() {
                    assert_eq!(b.len(), MESSAGE);
                    break;
                }
            }
        }
        if timed {
            d = t0.elapsed();
        }
    }
    mib_per_s(2 * ROUNDS * MESSAGE, d)
}

async fn model_echo(uri: &str, buffer_size: i32) -> f64 {
    let config = Config { uri: Some(uri.into()), buffer_size, ..Config::default() };
    let client =
        EspWebsocketClient::try_init(&config, &Env::real_seeded(1), Profile::Idf6).unwrap();
    let connected = Arc::new(Notify::new());
    let done = Arc::new(Notify::new());
    let received = Arc::new(AtomicUsize::new(0));
    {
        let (connected, done, received) = (connected.clone(), done.clone(), received.clone());
        client.register_events(EventFilter::Any, move |e| match e.id {
            EventId::Connected => connected.notify_one(),
            EventId::Data if e.data.op_code == 2 || e.data.op_code == 0 => {
                received.fetch_add(e.data.data.len(), Ordering::Relaxed);
                let end = e.data.payload_offset as usize + e.data.data.len()
                    == e.data.payload_len as usize;
                if e.data.fin && end {
                    done.notify_one();
                }
            }
            _ => {}
        });
    }
    client.start().await;
    connected.notified().await;
    let msg = vec![7u8; MESSAGE];
    let measure = |n| {
        let (client, msg, done) = (client.clone(), msg.clone(), done.clone());
        async move {
            let t0 = Instant::now();
            for _ in 0..n {
                assert_eq!(client.send_bin(&msg, PORT_MAX_DELAY).await, MESSAGE as i32);
                done.notified().await;
            }
            t0.elapsed()
        }
    };
    measure(WARMUP).await;
    received.store(0, Ordering::Relaxed);
    let d = measure(ROUNDS).await;
    assert_eq!(received.load(Ordering::Relaxed), ROUNDS * MESSAGE, "every echo arrived");
    client.destroy().await;
    mib_per_s(2 * ROUNDS * MESSAGE, d)
}

async fn idle_memory(uri: &str) -> (usize, usize) {
    let env = Env::real_seeded(2);
    let connected = Arc::new(AtomicUsize::new(0));
    let all = Arc::new(Notify::new());
    let before = ALLOC.allocated();
    let mut clients = Vec::with_capacity(INSTANCES);
    for _ in 0..INSTANCES {
        let config = Config { uri: Some(uri.into()), ..Config::default() };
        let c = EspWebsocketClient::try_init(&config, &env, Profile::Idf6).unwrap();
        let (connected, all) = (connected.clone(), all.clone());
        c.register_events(EventFilter::Only(EventId::Connected), move |_| {
            if connected.fetch_add(1, Ordering::SeqCst) + 1 == INSTANCES {
                all.notify_one();
            }
        });
        c.start().await;
        clients.push(c);
    }
    tokio::time::timeout(Duration::from_secs(60), all.notified())
        .await
        .expect("all instances connect");
    // Let every task settle into its idle poll.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = ALLOC.allocated();
    let per = (after.saturating_sub(before)) / INSTANCES;
    let beyond = per.saturating_sub(2 * 1024);
    // Tear down together: each stop waits for its task's poll (up to 1 s).
    futures_util::future::join_all(clients.iter().map(|c| c.destroy())).await;
    (per, beyond)
}

/// The echo server process: prints its port, echoes until its parent closes stdin.
fn run_server() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        std::thread::spawn(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
            std::process::exit(0);
        });
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                while let Some(Ok(m)) = ws.next().await {
                    if (m.is_binary() || m.is_text()) && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
