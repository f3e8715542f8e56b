//! The runner: runs scenarios (in parallel up to `jobs`) and emits one linear stream of
//! run events. It prints nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::events::{RunEvent, RunInfo, ScenarioReport, Verdict};
use super::execute::{RunContext, run_scenario, scenario_seed};
use super::world::DutSite;
use crate::certs::TestPki;
use crate::dut::agent::DutSpec;
use crate::esp::{Profile, Sdkconfig};
use crate::report::DutRecord;
use crate::scenario::{LoadedScenario, World};
use crate::text::panic_message;
use crate::transport::{CertSource, set_global_ca_store};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The profile of the model.
    pub profile: Profile,
    /// The run's seed.
    pub seed: u64,
    /// Scenarios at once.
    pub jobs: usize,
    /// Stop starting scenarios after the first failure or error.
    pub fail_fast: bool,
    /// The world.
    pub world: World,
    /// The build options (a scenario may set more).
    pub sdkconfig: Sdkconfig,
    /// The DUT (`--dut`); an external one runs one scenario at a time if it is one
    /// device.
    pub dut: DutSpec,
    /// What the reports record about an external DUT (from its hello); `None`: the
    /// host model with `profile` and `sdkconfig`.
    pub dut_record: Option<DutRecord>,
    /// Where servers listen, what placeholders name, the external DUT's chip.
    pub site: DutSite,
}

impl RunOptions {
    /// What reports say about a run with these options whose (first) seed is `seed`.
    pub fn run_info(&self, seed: u64) -> RunInfo {
        RunInfo {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            dut: Box::new(
                self.dut_record
                    .clone()
                    .unwrap_or_else(|| DutRecord::host(self.profile, &self.sdkconfig)),
            ),
            profile: self.profile.name().to_string(),
            seed,
            world: self.world.name().to_string(),
            sdkconfig: self.sdkconfig.changed(),
        }
    }
}

/// Which scenarios a run takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Substrings of the id or name (any matches).
    pub filters: Vec<String>,
    /// Tags (any matches).
    pub tags: Vec<String>,
}

impl Selection {
    /// Whether the scenario is selected.
    pub fn selects(&self, s: &LoadedScenario) -> bool {
        let f = self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| s.id.contains(f.as_str()) || s.name().contains(f.as_str()));
        let t = self.tags.is_empty() || self.tags.iter().any(|t| s.tags().contains(t));
        f && t
    }
}

/// How long a run that was stopped waits for its running scenarios to wind down
/// before it reports them as interrupted without them.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Stops a run (Ctrl-C): once [`StopSignal::stop`] is called no scenario starts, and the
/// running ones are cut short with verdict `error` ("interrupted …"). Clones share one
/// signal; it works across runtimes (each scenario has its own).
#[derive(Debug, Clone)]
pub struct StopSignal {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal::new()
    }
}

impl StopSignal {
    /// A signal not yet given.
    pub fn new() -> Self {
        StopSignal { tx: Arc::new(watch::Sender::new(false)) }
    }

    /// Gives the signal (idempotent).
    pub fn stop(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the signal was given.
    pub fn is_stopped(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the signal is given.
    pub async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so this only ends when the value turns true.
        let _ = rx.wait_for(|v| *v).await;
    }
}

/// What a report needs to know about a scenario that produced none itself.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    id: String,
    name: String,
    tags: Vec<String>,
    file: PathBuf,
    seed: u64,
}

impl Identity {
    pub(super) fn of(s: &LoadedScenario, run_seed: u64) -> Identity {
        Identity {
            id: s.id.clone(),
            name: s.name().to_string(),
            tags: s.tags().to_vec(),
            file: s.file.clone(),
            seed: scenario_seed(run_seed, &s.id),
        }
    }

    /// An `error` report with `detail`.
    pub(super) fn error(&self, detail: String, wall_ms: u64) -> ScenarioReport {
        ScenarioReport {
            id: self.id.clone(),
            name: self.name.clone(),
            tags: self.tags.clone(),
            file: self.file.clone(),
            verdict: Verdict::Error,
            detail: Some(detail),
            failed_step: None,
            wall_ms,
            virtual_ms: 0,
            seed: self.seed,
            trace: Vec::new(),
            servers: Default::default(),
            sdkconfig: Vec::new(),
            dut_log: Vec::new(),
            drawn: Default::default(),
        }
    }

    fn interrupted(&self, wall_ms: u64) -> ScenarioReport {
        self.error(
            format!("interrupted (the run was stopped after {wall_ms} ms of this scenario)"),
            wall_ms,
        )
    }
}

/// Wall time a scenario may take: in the simulated world [`SIM_WALL_LIMIT`]; in the real
/// world its own bound plus [`REAL_WALL_SLACK`] for teardown.
fn wall_limit(s: &LoadedScenario, world: World) -> Duration {
    match world {
        World::Sim => SIM_WALL_LIMIT,
        World::Real => Duration::from_millis(s.plan.timeout_ms) + REAL_WALL_SLACK,
    }
}

/// Wall time a simulated-world scenario may take (the shipped suite takes milliseconds).
pub const SIM_WALL_LIMIT: Duration = Duration::from_secs(120);
/// Wall time a real-world scenario may take beyond its `timeout_ms`.
pub const REAL_WALL_SLACK: Duration = Duration::from_secs(30);

/// Runs one scenario on the current thread, in a runtime of its own, until it ends, a
/// wall-clock watchdog fires, or `stop` is given.
pub(super) fn run_on_own_runtime(
    s: &LoadedScenario,
    ctx: &RunContext,
    who: &Identity,
    stop: &StopSignal,
) -> ScenarioReport {
    let t0 = Instant::now();
    // The simulated world runs on virtual time: the clock is paused and jumps ahead
    // whenever every task waits.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(ctx.world == World::Sim)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return who.error(format!("internal error in wsim: no runtime: {e}"), 0),
    };
    // A wall-clock watchdog: virtual time bounds a scenario only while its tasks wait,
    // so one that keeps them busy without waiting would otherwise never end.
    let limit = wall_limit(s, ctx.world);
    let watchdog = StopSignal::new();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let dog = watchdog.clone();
    let _ = std::thread::Builder::new().name("wsim-watchdog".into()).spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
            dog.stop();
        }
    });
    let report = rt.block_on(async {
        tokio::select! {
            biased;
            r = run_scenario(s, ctx) => r,
            () = stop.stopped() => who.interrupted(t0.elapsed().as_millis() as u64),
            () = watchdog.stopped() => who.error(
                format!(
                    "the scenario ran for {} s of wall time without ending (its tasks kept busy without waiting, so virtual time stood still)",
                    limit.as_secs()
                ),
                t0.elapsed().as_millis() as u64,
            ),
        }
    });
    drop(done_tx);
    // Whatever the scenario left behind (servers, proxies, a cut-short client) ends here.
    rt.shutdown_timeout(Duration::from_millis(100));
    report
}

/// Runs `scenarios`, sending every run event to `tx`. Returns the reports in id order.
pub async fn run(
    scenarios: Vec<LoadedScenario>,
    options: RunOptions,
    pki: Arc<TestPki>,
    tx: mpsc::UnboundedSender<RunEvent>,
) -> Vec<ScenarioReport> {
    run_until(scenarios, options, pki, tx, &StopSignal::new()).await
}

/// [`run`], stopped early when `stop` is given: no scenario starts after it, running
/// ones end with verdict `error` ("interrupted …") — within [`STOP_GRACE`] even if
/// one does not wind down —, scenarios not started get no report, and
/// [`RunEvent::RunFinished`] says `interrupted`.
pub async fn run_until(
    scenarios: Vec<LoadedScenario>,
    options: RunOptions,
    pki: Arc<TestPki>,
    tx: mpsc::UnboundedSender<RunEvent>,
    stop: &StopSignal,
) -> Vec<ScenarioReport> {
    let wall0 = Instant::now();
    // The global CA store holds the run's test CA, for `use_global_ca_store`.
    set_global_ca_store(CertSource::Pem(pki.ca.cert_pem.clone().into_bytes()));
    let info = options.run_info(options.seed);
    let mut ids: Vec<String> = scenarios.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    let _ = tx.send(RunEvent::RunStarted { info, total: scenarios.len(), ids });
    let ctx = RunContext {
        pki,
        profile: options.profile,
        seed: options.seed,
        world: options.world,
        sdkconfig: options.sdkconfig,
        dut: options.dut.clone(),
        site: options.site.clone(),
    };
    let jobs = if options.dut.one_at_a_time() { 1 } else { options.jobs.max(1) };
    let mut queue = scenarios.into_iter();
    let mut running = JoinSet::new();
    let mut identities = HashMap::new();
    let mut reports = Vec::new();
    let mut fail_fast_stop = false;
    // Set when the stop signal is seen: the grace deadline for the running scenarios.
    let mut stopping: Option<tokio::time::Instant> = None;
    loop {
        while !fail_fast_stop && stopping.is_none() && running.len() < jobs {
            if stop.is_stopped() {
                break;
            }
            let Some(s) = queue.next() else { break };
            let _ = tx.send(RunEvent::ScenarioStarted { id: s.id.clone() });
            let ctx = ctx.clone();
            let who = Identity::of(&s, options.seed);
            let (who2, stop2) = (who.clone(), stop.clone());
            // Each scenario gets a thread and a current-thread runtime of its own: its
            // world is single-threaded (so its trace has one order), scenarios still run
            // in parallel.
            let handle =
                running.spawn_blocking(move || run_on_own_runtime(&s, &ctx, &who2, &stop2));
            identities.insert(handle.id(), (who, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        let done = tokio::select! {
            d = running.join_next_with_id() => d,
            () = stop.stopped(), if stopping.is_none() => {
                stopping = Some(tokio::time::Instant::now() + STOP_GRACE);
                continue;
            }
            () = tokio::time::sleep_until(stopping.unwrap_or_else(tokio::time::Instant::now)),
                if stopping.is_some() => {
                // Scenarios that did not wind down in time are reported without them.
                let mut left: Vec<_> = identities.drain().map(|(_, v)| v).collect();
                left.sort_by(|a, b| a.0.id.cmp(&b.0.id));
                for (who, t0) in left {
                    let report = who.interrupted(t0.elapsed().as_millis() as u64);
                    let _ = tx.send(RunEvent::ScenarioFinished(Box::new(report.clone())));
                    reports.push(report);
                }
                break;
            }
        };
        let Some(done) = done else { break };
        let report = match done {
            Ok((task, r)) => {
                identities.remove(&task);
                r
            }
            Err(e) => {
                // A panic inside a scenario is wsim's own bug: that scenario errors,
                // naming the panic, and the run and the results obtained go on.
                let (who, t0) = identities.remove(&e.id()).unwrap_or_else(|| {
                    (
                        Identity {
                            id: String::new(),
                            name: String::new(),
                            tags: Vec::new(),
                            file: PathBuf::new(),
                            seed: options.seed,
                        },
                        Instant::now(),
                    )
                });
                let cause = match e.try_into_panic() {
                    Ok(payload) => format!("panicked: {}", panic_message(payload.as_ref())),
                    Err(e) => e.to_string(),
                };
                who.error(
                    format!("internal error in wsim: {cause}"),
                    t0.elapsed().as_millis() as u64,
                )
            }
        };
        if options.fail_fast && matches!(report.verdict, Verdict::Fail | Verdict::Error) {
            fail_fast_stop = true;
        }
        let _ = tx.send(RunEvent::ScenarioFinished(Box::new(report.clone())));
        reports.push(report);
    }
    // Stopped: scenarios were cut short, or some never started.
    let interrupted = stopping.is_some() || (stop.is_stopped() && queue.len() > 0);
    let _ =
        tx.send(RunEvent::RunFinished { wall_ms: wall0.elapsed().as_millis() as u64, interrupted });
    reports.sort_by(|a, b| a.id.cmp(&b.id));
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_signal_reaches_waiters_on_another_runtime() {
        let stop = StopSignal::new();
        assert!(!stop.is_stopped());
        let s2 = stop.clone();
        let waiter = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), s2.stopped()).await.is_ok()
            })
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.stop();
        assert!(stop.is_stopped());
        assert!(tokio::task::spawn_blocking(move || waiter.join().unwrap()).await.unwrap());
        // Already given: resolves at once.
        tokio::time::timeout(Duration::from_secs(1), stop.stopped()).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_stopped_before_it_starts_runs_nothing_and_says_interrupted() {
        let scenarios =
            crate::scenario::load_all(&[PathBuf::from("tests/fixtures/suite")]).unwrap();
        let planned = scenarios.len();
        let options = RunOptions {
            sdkconfig: Default::default(),
            profile: Profile::Idf6,
            seed: 1,
            jobs: 2,
            fail_fast: false,
            world: World::Sim,
            dut: DutSpec::Host,
            dut_record: None,
            site: DutSite::default(),
        };
        let pki = Arc::new(TestPki::generate().unwrap());
        let stop = StopSignal::new();
        stop.stop();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reports = run_until(scenarios, options.clone(), pki.clone(), tx, &stop).await;
        assert!(reports.is_empty());
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        assert!(
            matches!(&events[0], RunEvent::RunStarted { total, ids, .. } if *total == planned && ids.len() == planned)
        );
        assert!(matches!(events.last(), Some(RunEvent::RunFinished { interrupted: true, .. })));
        assert_eq!(events.len(), 2, "nothing started");
        // Not stopped: every scenario runs and the run is not interrupted.
        let scenarios =
            crate::scenario::load_all(&[PathBuf::from("tests/fixtures/suite")]).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reports = run(scenarios, options, pki, tx).await;
        assert_eq!(reports.len(), planned);
        let mut last = None;
        while let Some(e) = rx.recv().await {
            last = Some(e);
        }
        assert!(matches!(last, Some(RunEvent::RunFinished { interrupted: false, .. })));
    }
}
