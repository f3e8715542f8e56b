//! Playing the catalogue against a DUT: for each selected case, a fuzzing server (on
//! the simulated network in virtual time, or on a loopback socket), a client created
//! through the [`Dut`] seam with the echo reaction Autobahn's testee has (reassemble
//! each message, echo it from the handler), and the verdict once the connection ends.
//! Cases run on `jobs` threads, each case in a runtime of its own; results come back in
//! the order cases finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::catalogue::Case;
use super::handshake::read_request;
use super::id::{CaseId, Pattern};
use super::judge::{Verdict, judge};
use super::player::{CaseRecord, play};
use super::report::CaseFile;
use crate::dut::agent::{AgentDut, DutSpec};
use crate::dut::{ClientCommand, Dut, HostDut, ReactionSpec};
use crate::esp::{Config, Env, Profile, Sdkconfig};
use crate::net::{SharedRng, SimNet};

/// Where the cases run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// The simulated network, virtual time.
    Sim,
    /// Loopback sockets, real time.
    Real,
}

/// How a catalogue run is set up.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The agent name of the reports.
    pub agent: String,
    /// The world.
    pub world: World,
    /// The DUT.
    pub dut: DutSpec,
    /// The model's profile (host DUT).
    pub profile: Profile,
    /// The client's `buffer_size`.
    pub buffer_size: i32,
    /// Threads.
    pub jobs: usize,
    /// The seed of every case's world (mixed with its id).
    pub seed: u64,
}

/// The port the fuzzer listens on in the simulated world.
pub const SIM_PORT: u16 = 9001;
/// Ticks' worth of milliseconds an echo may block in `send_*`.
const ECHO_SEND_MS: u64 = 5000;
/// How long the client may take to connect and send its request.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long destroying the client may take after a case.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(3);

/// The selection: every catalogue case matching one of `cases` (all when empty) and
/// none of `exclude`, sorted by id. A pattern without `*` must name a case.
pub fn select(cases: &[String], exclude: &[String]) -> Result<Vec<&'static Case>, String> {
    let all = super::catalogue::catalogue();
    let inc: Vec<Pattern> = cases.iter().map(|p| Pattern::new(p)).collect();
    let exc: Vec<Pattern> = exclude.iter().map(|p| Pattern::new(p)).collect();
    for p in inc.iter().chain(&exc) {
        if !p.is_wild() && !all.iter().any(|c| c.id.to_string() == p.to_string()) {
            return Err(format!(
                "case pattern \"{p}\": no such case (use * for a prefix, e.g. \"{p}.*\")"
            ));
        }
    }
    let hit = |ps: &[Pattern], id: &str| {
        ps.iter().any(|p| if p.is_wild() { p.matches_prefix(id) } else { p.to_string() == id })
    };
    Ok(all
        .iter()
        .filter(|c| {
            let id = c.id.to_string();
            (inc.is_empty() || hit(&inc, &id)) && !hit(&exc, &id)
        })
        .collect())
}

/// One finished case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// Its number in the selection (1-based).
    pub caseno: usize,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its report file.
    pub file: CaseFile,
}

/// Runs `cases` and calls `done` with each outcome as cases finish (on the calling
/// thread).
pub fn run_cases(cfg: &RunConfig, cases: &[&'static Case], mut done: impl FnMut(CaseOutcome)) {
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let jobs = cfg.jobs.clamp(1, cases.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            let (next, tx) = (next.clone(), tx.clone());
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let out = run_one(cfg, case, i + 1);
                    if tx.send(out).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for o in rx {
            done(o);
        }
    });
}

/// Runs one case in a runtime of its own (paused clock in the simulated world).
pub fn run_one(cfg: &RunConfig, case: &Case, caseno: usize) -> CaseOutcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(cfg.world == World::Sim)
        .build();
    let result = match rt {
        Ok(rt) => {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(case_in_world(cfg, case, caseno))
            }));
            rt.shutdown_timeout(Duration::from_millis(100));
            r.map_err(|p| format!("wsim panicked: {}", crate::text::panic_message(&*p)))
        }
        Err(e) => Err(format!("cannot start a runtime: {e}")),
    };
    let (rec, problem) = match result {
        Ok(r) => r,
        Err(e) => (CaseRecord::default(), Some(e)),
    };
    let mut verdict = judge(case, &rec.obs);
    if let Some(p) = problem {
        verdict.result_close = format!("{} ({p})", verdict.result_close);
    }
    let started = started_text(cfg.world);
    let file = CaseFile::new(&cfg.agent, case, caseno, &rec, &verdict, started);
    CaseOutcome { caseno, verdict, file }
}

/// `started`: the wall clock in the real world; the simulated world has none, so
/// its cases all start at the Unix epoch (reports stay byte-identical run to run).
fn started_text(world: World) -> String {
    let t = match world {
        World::Real => time::OffsetDateTime::now_utc(),
        World::Sim => time::OffsetDateTime::UNIX_EPOCH,
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn case_seed(seed: u64, id: &CaseId) -> u64 {
    crate::text::fnv1a(seed, &id.to_string())
}

/// The case's world: listener, DUT, client; then the play. Returns the record and a
/// problem of the harness or DUT (not of the protocol), if any.
async fn case_in_world(
    cfg: &RunConfig,
    case: &Case,
    caseno: usize,
) -> (CaseRecord, Option<String>) {
    let seed = case_seed(cfg.seed, &case.id);
    let rng = SharedRng::seeded(seed);
    enum L {
        Sim(crate::net::SimListener),
        Tcp(tokio::net::TcpListener),
    }
    let (listener, env, port) = match cfg.world {
        World::Sim => {
            let net = SimNet::new(rng.clone());
            let (l, _toxics) = net.listen(SIM_PORT);
            (L::Sim(l), Env::with_rng(Arc::new(net), rng), SIM_PORT)
        }
        World::Real => match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => {
                let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                (L::Tcp(l), Env::with_rng(Arc::new(crate::transport::TcpConnector), rng), port)
            }
            Err(e) => return (CaseRecord::default(), Some(format!("cannot bind loopback: {e}"))),
        },
    };
    let sdk = Sdkconfig::default();
    let mut dut: Box<dyn Dut> = if cfg.dut.is_host() {
        Box::new(HostDut::new(env, cfg.profile))
    } else {
        let opened = async {
            let mut a = AgentDut::open(&cfg.dut, sdk.tick_period_ms()).await?;
            a.reset(Vec::new(), None, seed).await?;
            Ok::<_, crate::dut::DutError>(a)
        };
        match opened.await {
            Ok(a) => Box::new(a),
            Err(e) => return (CaseRecord::default(), Some(e.to_string())),
        }
    };
    let uri =
        format!("ws://127.0.0.1:{port}/runCase?case={caseno}&agent={}", urlencode(&cfg.agent));
    let config = Config {
        uri: Some(uri),
        buffer_size: cfg.buffer_size,
        network_timeout_ms: 10_000,
        disable_auto_reconnect: true,
        ..Default::default()
    };
    let ticks = (ECHO_SEND_MS / sdk.tick_period_ms()) as u32;
    let reactions = [ReactionSpec::Echo { timeout: ticks }];
    // The verdict comes from the wire, not from the DUT's events: none are passed on
    // (the model then copies no event data; the handler's echo runs all the same).
    dut.set_event_limit(0);
    match dut.create_client("autobahn", &config, &reactions).await {
        Ok(true) => {}
        Ok(false) => {
            return (CaseRecord::default(), Some("the DUT's client init returned NULL".into()));
        }
        Err(e) => return (CaseRecord::default(), Some(e.to_string())),
    }
    let start = dut.call("autobahn", ClientCommand::Start);
    // Drain the DUT's events while the case plays: they are not needed, and a 16 MiB
    // echo would otherwise pile up in the channel.
    let play_case = async {
        let _ = start.await;
        // Connecting and sending the request are bounded by OPEN_TIMEOUT; the play
        // ends by its own timers, and its bound only guards against a bug.
        let bound = Duration::from_millis(case.max_wait_ms()) + Duration::from_secs(10);
        let no_open =
            || (CaseRecord::default(), Some("the client did not open a connection".to_string()));
        let late = || (CaseRecord::default(), Some("the case did not end in time".to_string()));
        match listener {
            L::Sim(mut l) => {
                let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
                    let mut s = l.accept().await?;
                    let (req, rest, reads) = read_request(&mut s).await.ok()?;
                    Some((s, req, rest, reads))
                });
                let Ok(Some((s, req, rest, reads))) = opened.await else { return no_open() };
                tokio::time::timeout(bound, play(case, s, &req, rest, &reads))
                    .await
                    .map_or_else(|_| late(), |r| (r, None))
            }
            L::Tcp(l) => {
                let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
                    let (mut s, _) = l.accept().await.ok()?;
                    let _ = s.set_nodelay(true);
                    let (req, rest, reads) = read_request(&mut s).await.ok()?;
                    Some((s, req, rest, reads))
                });
                let Ok(Some((s, req, rest, reads))) = opened.await else { return no_open() };
                tokio::time::timeout(bound, play(case, s, &req, rest, &reads))
                    .await
                    .map_or_else(|_| late(), |r| (r, None))
            }
        }
    };
    tokio::pin!(play_case);
    let out = loop {
        tokio::select! {
            r = &mut play_case => break r,
            e = dut.events().recv() => if e.is_none() {
                // No more events: just wait for the play.
                break (&mut play_case).await;
            },
        }
    };
    let shutdown = dut.shutdown();
    let _ = tokio::time::timeout(DESTROY_TIMEOUT, async {
        tokio::select! {
            _ = shutdown => {},
            _ = async { while dut.events().recv().await.is_some() {} } => {},
        }
    })
    .await;
    let mut problem = out.1;
    let failures = dut.failures();
    if !failures.is_empty() {
        problem = Some(match problem {
            Some(p) => format!("{p}; the DUT: {}", failures.join("; ")),
            None => format!("the DUT: {}", failures.join("; ")),
        });
    }
    (out.0, problem)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
