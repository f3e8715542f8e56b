//! The cost of the agent protocol, each figure against a baseline from the same run:
//!
//! 1. the whole shipped suite in the real world through `exec:"wsim agent"` against
//!    the in-process model (`host`): scenarios per second of each and their ratio;
//! 2. event throughput over a 115200-baud link (8N1: 11 520 bytes/s each way),
//!    simulated by a rate-limited in-memory relay between the driver and `wsim agent`'s
//!    engine: a server pushes messages, the DUT reports each as a DATA event; events/s
//!    and payload bytes/s, the latter as a ratio to the link's raw capacity measured
//!    through the same relay. Small payloads travel inline; large ones as length +
//!    SHA-256, so the payload rate can exceed the link's.
//!
//! Run with `cargo bench --bench agent`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use wsim::certs::TestPki;
use wsim::dut::agent::{AgentDut, AgentOptions, DEFAULT_MAX_LINE, DutSpec, serve_agent};
use wsim::dut::{Dut, DutReport};
use wsim::esp::{Config, EventId, Profile, Sdkconfig};
use wsim::run::{RunOptions, Verdict, run};
use wsim::scenario::{World, load_all};
use wsim::server::{ConnAction, ScriptBehaviour, ServerHandle, ServerKind, server_frame};

/// 115200 baud, 8N1: ten bits a byte.
const LINK_BYTES_PER_S: f64 = 11_520.0;

fn run_suite(rt: &tokio::runtime::Runtime, dut: DutSpec, pki: &Arc<TestPki>) -> (f64, usize) {
    let scenarios = load_all(&[PathBuf::from("scenarios")]).expect("the suite loads");
    let options = RunOptions {
        profile: Profile::Idf6,
        seed: 1,
        jobs: 4,
        fail_fast: false,
        world: World::Real,
        sdkconfig: Default::default(),
        dut,
        site: Default::default(),
        dut_record: None,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t0 = Instant::now();
    let reports = rt.block_on(async {
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let r = run(scenarios, options, pki.clone(), tx).await;
        let _ = drain.await;
        r
    });
    let wall = t0.elapsed().as_secs_f64();
    let bad: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error))
        .map(|r| (&r.id, &r.detail))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    let ran = reports.iter().filter(|r| r.verdict != Verdict::Skip).count();
    (wall, ran)
}

/// Copies `from` to `to` at `rate` bytes a second at most (in 16-byte steps).
async fn limited(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, rate: f64) {
    let mut buf = [0u8; 16];
    let mut free_at = tokio::time::Instant::now();
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Waking up late (the timer's granularity) is caught up; only an idle link
        // (10 ms and more) starts afresh, so there are no bursts from idle time.
        let now = tokio::time::Instant::now();
        if free_at + Duration::from_millis(10) < now {
            free_at = now;
        }
        free_at += Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(free_at).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A 115200-baud link: (host end, agent end).
fn slow_link() -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
    let (host, relay_h) = tokio::io::duplex(4096);
    let (agent, relay_a) = tokio::io::duplex(4096);
    let (hr, hw) = tokio::io::split(relay_h);
    let (ar, aw) = tokio::io::split(relay_a);
    tokio::spawn(limited(hr, aw, LINK_BYTES_PER_S));
    tokio::spawn(limited(ar, hw, LINK_BYTES_PER_S));
    (host, agent)
}

/// Bytes a second through the relay itself: the link's raw capacity as measured.
async fn raw_capacity() -> f64 {
    let (mut host, mut agent) = slow_link();
    let total = 16 * 1024;
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        agent.write_all(&vec![b'x'; total]).await.unwrap();
        agent
    });
    let mut got = vec![0u8; total];
    host.read_exact(&mut got).await.unwrap();
    let _ = writer.await;
    total as f64 / t0.elapsed().as_secs_f64()
}

/// `count` server messages of `size` bytes to the DUT over the slow link: (events/s,
/// payload bytes/s).
async fn event_throughput(size: usize, count: usize, inline_max: usize) -> (f64, f64) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut server =
        ServerHandle::serve("push", l, ServerKind::Script(ScriptBehaviour::default()), None)
            .unwrap();
    let (host, agent) = slow_link();
    let (ar, aw) = tokio::io::split(agent);
    let opts = AgentOptions {
        profile: Profile::Idf6,
        pki: None,
        max_line: DEFAULT_MAX_LINE,
        inline_max,
        sdkconfig: Sdkconfig::default(),
    };
    tokio::spawn(serve_agent(ar, aw, opts));
    let (hr, hw) = tokio::io::split(host);
    let mut dut = AgentDut::start("115200".into(), hr, Box::new(hw), None, None, 10).await.unwrap();
    dut.reset(Vec::new(), None, 1).await.unwrap();
    let cfg = Config {
        uri: Some(format!("ws://{addr}/")),
        buffer_size: i32::try_from(size.max(1024)).unwrap(),
        ..Config::default()
    };
    assert!(dut.create_client("a", &cfg, &[]).await.unwrap());
    dut.call("a", wsim::dut::ClientCommand::Start).await.unwrap();
    wait_events(&mut dut, EventId::Connected, 1).await;
    let payload = vec![b'p'; size];
    let chunks = (0..count).map(|_| server_frame(0x81, &payload)).collect();
    let t0 = Instant::now();
    server.act(ConnAction::Write { chunks, gap_ms: 0, sends_close: false }).unwrap();
    wait_events(&mut dut, EventId::Data, count).await;
    let secs = t0.elapsed().as_secs_f64();
    let _ = dut.shutdown().await;
    server.stop();
    (count as f64 / secs, (count * size) as f64 / secs)
}

async fn wait_events(dut: &mut AgentDut, id: EventId, n: usize) {
    let mut seen = 0;
    while seen < n {
        let r = tokio::time::timeout(Duration::from_secs(120), dut.events().recv())
            .await
            .expect("events in time")
            .expect("the link is open");
        if let DutReport::Event(e) = r
            && e.event.event == id
        {
            seen += 1;
        }
    }
}

fn main() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pki = Arc::new(TestPki::generate().unwrap());

    let (host_wall, host_ran) = run_suite(&rt, DutSpec::Host, &pki);
    let agent = DutSpec::Exec(format!("{} agent", env!("CARGO_BIN_EXE_wsim")));
    let (agent_wall, agent_ran) = run_suite(&rt, agent, &pki);
    assert_eq!(host_ran, agent_ran);
    let (host_rate, agent_rate) = (host_ran as f64 / host_wall, agent_ran as f64 / agent_wall);
    println!("suite, real world, -j4, {host_ran} scenarios run:");
    println!("  host:              {host_wall:7.2} s wall, {host_rate:6.2} scenarios/s");
    println!("  exec:\"wsim agent\": {agent_wall:7.2} s wall, {agent_rate:6.2} scenarios/s");
    println!("  ratio agent/host:  {:.3} (1.0 = no protocol overhead)", agent_rate / host_rate);

    rt.block_on(async {
        let raw = raw_capacity().await;
        println!("115200-baud link (8N1, nominal {LINK_BYTES_PER_S} bytes/s each way):");
        println!("  raw capacity through the relay: {raw:.0} bytes/s (baseline)");
        for (size, count, inline_max, how) in
            [(32, 100, 1024, "inline"), (512, 40, 1024, "inline"), (8192, 40, 256, "digest")]
        {
            let (ev, bytes) = event_throughput(size, count, inline_max).await;
            println!(
                "  {count} events of {size} B ({how}): {ev:8.1} events/s, {bytes:9.0} payload B/s = {:.3} x raw capacity",
                bytes / raw
            );
        }
    });
}
