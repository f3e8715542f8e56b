//! A seed sweep at scale: one fault scenario (`scenarios/sweeps/reset-during-fragmented-send`,
//! a drawn reset time and link rate) under 10,000 seeds, 2 jobs (target ≤ 10 s wall on
//! 2 cores), aggregated as `wsim run --seeds` aggregates them, with the process's
//! resident memory sampled through the sweep (it must stay flat: nothing is kept per
//! seed). Baseline, measured in the same run: the same scenario run once, so the sweep's
//! cost per seed is a ratio against one run.
//!
//! Run with `cargo bench --bench sweep` (`SWEEP_SEEDS=N` for another count).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use wsim::certs::TestPki;
use wsim::esp::Profile;
use wsim::report::SweepReport;
use wsim::run::{RunOptions, SeedRange, StopSignal, SweepEvent, Verdict, run, sweep};
use wsim::scenario::{LoadedScenario, World, load_all};

const SCENARIO: &str = "scenarios/sweeps/reset-during-fragmented-send.toml";

fn load() -> Vec<LoadedScenario> {
    load_all(&[PathBuf::from(SCENARIO)]).expect("the scenario loads")
}

fn options(seed: u64) -> RunOptions {
    RunOptions {
        profile: Profile::Idf6,
        seed,
        jobs: 2,
        fail_fast: false,
        world: World::Sim,
        sdkconfig: Default::default(),
        dut: wsim::dut::agent::DutSpec::Host,
        site: Default::default(),
        dut_record: None,
    }
}

/// Resident memory of this process in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4)
}

fn main() {
    let seeds: u64 =
        std::env::var("SWEEP_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pki = Arc::new(TestPki::generate().unwrap());

    // Baseline: the scenario once (after one warm-up run).
    let once = |seed: u64| {
        let (tx, _rx) = mpsc::unbounded_channel();
        let t0 = Instant::now();
        let r = rt.block_on(run(load(), options(seed), pki.clone(), tx));
        assert_eq!(r[0].verdict, Verdict::Pass, "{:?}", r[0].detail);
        t0.elapsed().as_secs_f64()
    };
    once(0);
    let single: f64 = (1..=5).map(once).sum::<f64>() / 5.0;

    // The sweep, with RSS sampled every 50 ms.
    let done = Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !done2.load(Ordering::SeqCst) {
            samples.push(rss_kib());
            std::thread::sleep(Duration::from_millis(50));
        }
        samples
    });
    let dir = std::env::temp_dir().join(format!("wsim-bench-sweep-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let t0 = Instant::now();
    let report = rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(256);
        let stop = StopSignal::new();
        let range = SeedRange { start: 0, end: seeds };
        let pki = pki.clone();
        let task =
            tokio::spawn(async move { sweep(load(), options(0), range, pki, tx, &stop).await });
        let mut report = SweepReport::new(&dir, Vec::new());
        while let Some(e) = rx.recv().await {
            report.on_event(&e);
            if let SweepEvent::Finished { .. } = e {
                break;
            }
        }
        task.await.unwrap().unwrap();
        report
    });
    let wall = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();
    let section = report.section();
    let s = &section.scenarios[0];
    assert_eq!(s.seeds_run, seeds);
    assert_eq!(s.passed, seeds, "{:?}", s.failures);
    let _ = std::fs::remove_dir_all(&dir);

    let per_seed = wall / seeds as f64;
    println!("one fault scenario ({SCENARIO}) × {seeds} seeds, 2 jobs:");
    println!(
        "  sweep {wall:.2} s wall (target ≤ 10 s); {:.0} seeds/s; {:.3} ms per seed",
        seeds as f64 / wall,
        per_seed * 1000.0
    );
    println!(
        "  baseline: one run {:.3} ms wall; a seed in the sweep costs {:.2}× one run",
        single * 1000.0,
        per_seed / single
    );
    let n = samples.len().max(1);
    let quarter = (n / 4).max(1);
    let early = samples.iter().take(quarter).copied().max().unwrap_or(0);
    let late = samples.iter().rev().take(quarter).copied().max().unwrap_or(0);
    let peak = samples.iter().copied().max().unwrap_or(0);
    println!(
        "  RSS over {n} samples: first quarter max {} KiB, last quarter max {} KiB (ratio {:.2}), peak {} KiB",
        early,
        late,
        late as f64 / early.max(1) as f64,
        peak
    );
}
