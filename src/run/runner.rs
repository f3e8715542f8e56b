//! The runner: runs scenarios (in parallel up to `jobs`) and emits one linear stream of
//! run events. It prints nothing.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::events::{RunEvent, RunInfo, ScenarioReport, Verdict};
use super::execute::{RunContext, run_scenario};
use crate::certs::TestPki;
use crate::esp::Profile;
use crate::scenario::{LoadedScenario, World};
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

/// Runs `scenarios`, sending every run event to `tx`. Returns the reports in id order.
pub async fn run(
    scenarios: Vec<LoadedScenario>,
    options: RunOptions,
    pki: Arc<TestPki>,
    tx: mpsc::UnboundedSender<RunEvent>,
) -> Vec<ScenarioReport> {
    let wall0 = std::time::Instant::now();
    // The global CA store holds the run's test CA, for `use_global_ca_store`.
    set_global_ca_store(CertSource::Pem(pki.ca.cert_pem.clone().into_bytes()));
    let info = RunInfo {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        dut: format!("host model ({})", options.profile),
        profile: options.profile.name().to_string(),
        seed: options.seed,
        world: options.world.name().to_string(),
    };
    let _ = tx.send(RunEvent::RunStarted { info, total: scenarios.len() });
    let ctx =
        RunContext { pki, profile: options.profile, seed: options.seed, world: options.world };
    let mut queue = scenarios.into_iter();
    let mut running = JoinSet::new();
    let mut identities = std::collections::HashMap::new();
    let mut reports = Vec::new();
    let mut stop = false;
    loop {
        while !stop && running.len() < options.jobs.max(1) {
            let Some(s) = queue.next() else { break };
            let _ = tx.send(RunEvent::ScenarioStarted { id: s.id.clone() });
            let ctx = ctx.clone();
            let identity = (s.id.clone(), s.name().to_string(), s.tags().to_vec(), s.file.clone());
            // Each scenario gets a thread and a current-thread runtime of its own: its
            // world is single-threaded (so its trace has one order), scenarios still run
            // in parallel.
            let handle = running.spawn_blocking(move || {
                // The simulated world runs on virtual time: the clock is paused and jumps
                // ahead whenever every task waits.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(ctx.world == World::Sim)
                    .build()
                    .expect("a current-thread runtime can be built");
                let report = rt.block_on(run_scenario(&s, &ctx));
                rt.shutdown_timeout(std::time::Duration::from_millis(100));
                report
            });
            identities.insert(handle.id(), identity);
        }
        let Some(done) = running.join_next().await else { break };
        let report = match done {
            Ok(r) => r,
            Err(e) => {
                // A panic inside a scenario is wsim's own bug: that scenario errors, the
                // run and the results already obtained go on.
                let (id, name, tags, file) = identities.remove(&e.id()).unwrap_or_default();
                ScenarioReport {
                    id,
                    name,
                    tags,
                    file,
                    verdict: Verdict::Error,
                    detail: Some(format!("internal error in wsim: {e}")),
                    failed_step: None,
                    wall_ms: 0,
                    virtual_ms: 0,
                    seed: options.seed,
                    trace: Vec::new(),
                    servers: Default::default(),
                }
            }
        };
        if options.fail_fast && matches!(report.verdict, Verdict::Fail | Verdict::Error) {
            stop = true;
        }
        let _ = tx.send(RunEvent::ScenarioFinished(Box::new(report.clone())));
        reports.push(report);
    }
    let _ = tx.send(RunEvent::RunFinished { wall_ms: wall0.elapsed().as_millis() as u64 });
    reports.sort_by(|a, b| a.id.cmp(&b.id));
    reports
}
