//! Seed sweeps: every selected scenario under every seed of a range, each run in a
//! simulated world of its own, `jobs` at a time. The sweep emits one event per seed
//! and keeps nothing: whoever consumes the events aggregates them (so memory stays flat
//! however many seeds run).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::mpsc;

use super::events::{RunInfo, ScenarioReport, Verdict};
use super::execute::RunContext;
use super::runner::{Identity, RunOptions, StopSignal, run_on_own_runtime};
use crate::certs::TestPki;
use crate::scenario::{LoadedScenario, World};
use crate::text::panic_message;
use crate::transport::{CertSource, set_global_ca_store};

/// The run seeds of a sweep: `start` up to but not including `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    /// The first seed.
    pub start: u64,
    /// One past the last seed.
    pub end: u64,
}

/// Most seeds one sweep takes (2^40: far beyond what finishes in a day).
pub const MAX_SWEEP_SEEDS: u64 = 1 << 40;

impl SeedRange {
    /// `count` seeds from `base` (`--seeds N` with `--seed S`).
    pub fn counted(base: u64, count: u64) -> Result<SeedRange, String> {
        if count == 0 {
            return Err("--seeds needs at least 1".into());
        }
        let end = base.checked_add(count).ok_or_else(|| {
            format!("--seed {base} with --seeds {count} runs past the largest seed {}", u64::MAX)
        })?;
        SeedRange { start: base, end }.checked()
    }

    /// `A..B` (B excluded) or `A..=B` (B included).
    pub fn parse(text: &str) -> Result<SeedRange, String> {
        let bad =
            || format!("--seed-range {text:?}: expected A..B (seeds A to B-1) or A..=B (A to B)");
        let (a, b, inclusive) = if let Some((a, b)) = text.split_once("..=") {
            (a, b, true)
        } else if let Some((a, b)) = text.split_once("..") {
            (a, b, false)
        } else {
            return Err(bad());
        };
        let a: u64 = a.trim().parse().map_err(|_| bad())?;
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        let end = if inclusive {
            b.checked_add(1).ok_or_else(|| format!("--seed-range {text:?}: B is too large"))?
        } else {
            b
        };
        if end <= a {
            return Err(format!("--seed-range {text:?} holds no seed"));
        }
        SeedRange { start: a, end }.checked()
    }

    fn checked(self) -> Result<SeedRange, String> {
        if self.len() > MAX_SWEEP_SEEDS {
            return Err(format!(
                "{} seeds, more than the limit of {MAX_SWEEP_SEEDS} for one sweep",
                self.len()
            ));
        }
        Ok(self)
    }

    /// How many seeds.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it holds no seed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for SeedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// What a sweep emits.
#[derive(Debug, Clone)]
pub enum SweepEvent {
    /// The sweep begins.
    Started {
        /// Facts about the run (`seed` is the first seed of the range).
        info: RunInfo,
        /// The scenarios, in id order.
        ids: Vec<String>,
        /// The seeds.
        seeds: SeedRange,
    },
    /// One scenario ran under one seed.
    Seed {
        /// The run seed (what `wsim run --seed` takes to rerun it).
        run_seed: u64,
        /// Its report.
        report: Box<ScenarioReport>,
    },
    /// The sweep ended.
    Finished {
        /// Wall-clock duration in milliseconds.
        wall_ms: u64,
        /// Ctrl-C stopped it before every run was done (runs cut short are not reported).
        interrupted: bool,
        /// `--fail-fast` stopped it at a failure.
        stopped_at_failure: bool,
    },
}

/// Runs every scenario of `scenarios` under every seed of `seeds` in the simulated
/// world, `options.jobs` runs at once, sending each run's report to `tx` as it ends
/// (the channel's bound holds the workers back when the consumer is slower). Stops
/// starting runs when `stop` is given (runs cut short are dropped, not reported) or,
/// with `options.fail_fast`, after the first failure or error.
pub async fn sweep(
    mut scenarios: Vec<LoadedScenario>,
    options: RunOptions,
    seeds: SeedRange,
    pki: Arc<TestPki>,
    tx: mpsc::Sender<SweepEvent>,
    stop: &StopSignal,
) -> Result<(), String> {
    if options.world != World::Sim {
        return Err("a seed sweep runs in the simulated world only (--world sim)".into());
    }
    if !options.dut.is_host() {
        return Err("a seed sweep runs the host model only (no --dut)".into());
    }
    let wall0 = Instant::now();
    set_global_ca_store(CertSource::Pem(pki.ca.cert_pem.clone().into_bytes()));
    scenarios.sort_by(|a, b| a.id.cmp(&b.id));
    let info = options.run_info(seeds.start);
    let ids = scenarios.iter().map(|s| s.id.clone()).collect();
    let _ = tx.send(SweepEvent::Started { info, ids, seeds }).await;
    let ctx = RunContext {
        pki,
        profile: options.profile,
        seed: seeds.start,
        world: options.world,
        sdkconfig: options.sdkconfig,
        dut: options.dut.clone(),
        site: options.site.clone(),
    };
    let per = seeds.len();
    let total = per.saturating_mul(scenarios.len() as u64);
    let scenarios = Arc::new(scenarios);
    let next = Arc::new(AtomicU64::new(0));
    let halted = Arc::new(AtomicBool::new(false));
    // A run dropped because Ctrl-C cut it short (the seed then has no verdict).
    let cut_short = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.jobs.max(1).min(total.max(1) as usize) {
        let (scenarios, next, halted) = (scenarios.clone(), next.clone(), halted.clone());
        let cut_short = cut_short.clone();
        let (ctx, stop, tx) = (ctx.clone(), stop.clone(), tx.clone());
        let fail_fast = options.fail_fast;
        workers.spawn_blocking(move || {
            loop {
                if stop.is_stopped() || halted.load(Ordering::SeqCst) {
                    return;
                }
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= total {
                    return;
                }
                let s = &scenarios[(k / per) as usize];
                let run_seed = seeds.start + k % per;
                let ctx = RunContext { seed: run_seed, ..ctx.clone() };
                let who = Identity::of(s, run_seed);
                let t0 = Instant::now();
                let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_on_own_runtime(s, &ctx, &who, &stop)
                }))
                .unwrap_or_else(|p| {
                    who.error(
                        format!("internal error in wsim: panicked: {}", panic_message(p.as_ref())),
                        t0.elapsed().as_millis() as u64,
                    )
                });
                // A run cut short by Ctrl-C has no verdict of its own.
                if stop.is_stopped()
                    && report.detail.as_deref().is_some_and(|d| d.starts_with("interrupted"))
                {
                    cut_short.store(true, Ordering::SeqCst);
                    return;
                }
                if fail_fast && matches!(report.verdict, Verdict::Fail | Verdict::Error) {
                    halted.store(true, Ordering::SeqCst);
                }
                let event = SweepEvent::Seed { run_seed, report: Box::new(report) };
                if tx.blocking_send(event).is_err() {
                    return;
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        if let Err(e) = done {
            // The worker's own loop panicked (not a scenario: those are caught above).
            stop.stop();
            return Err(format!("internal error in wsim: a sweep worker failed: {e}"));
        }
    }
    let interrupted = stop.is_stopped()
        && (cut_short.load(Ordering::SeqCst) || next.load(Ordering::SeqCst) < total);
    let stopped_at_failure = halted.load(Ordering::SeqCst) && !interrupted;
    let _ = tx
        .send(SweepEvent::Finished {
            wall_ms: wall0.elapsed().as_millis() as u64,
            interrupted,
            stopped_at_failure,
        })
        .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_parse_and_refuse_nonsense() {
        assert_eq!(SeedRange::parse("5..8").unwrap(), SeedRange { start: 5, end: 8 });
        assert_eq!(SeedRange::parse("5..=8").unwrap(), SeedRange { start: 5, end: 9 });
        assert_eq!(SeedRange::parse("5..8").unwrap().len(), 3);
        assert!(SeedRange::parse("8..8").unwrap_err().contains("no seed"));
        assert!(SeedRange::parse("9..8").unwrap_err().contains("no seed"));
        assert!(SeedRange::parse("x..8").unwrap_err().contains("expected A..B"));
        assert!(SeedRange::parse("8").unwrap_err().contains("expected A..B"));
        assert!(SeedRange::parse("0..=18446744073709551615").unwrap_err().contains("too large"));
        assert_eq!(SeedRange::counted(10, 3).unwrap(), SeedRange { start: 10, end: 13 });
        assert!(SeedRange::counted(10, 0).is_err());
        assert!(SeedRange::counted(u64::MAX, 2).is_err());
        assert!(SeedRange::counted(0, MAX_SWEEP_SEEDS + 1).unwrap_err().contains("limit"));
    }
}
