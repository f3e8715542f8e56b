//! Speed of the simulated world, each figure against a baseline from the same run:
//!
//! 1. a scenario whose virtual duration is at least 120 s (the default pong timeout):
//!    its wall time (target < 0.1 s) and the ratio of virtual to wall time;
//! 2. the whole shipped suite in the simulated world (target < 5 s wall on 2 cores),
//!    with its virtual/wall ratio, and against the same suite in the real world.
//!
//! Run with `cargo bench --bench suite`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use wsim::certs::TestPki;
use wsim::esp::Profile;
use wsim::run::{RunOptions, ScenarioReport, Verdict, run};
use wsim::scenario::{LoadedScenario, World, load_all};

fn load(path: &str) -> Vec<LoadedScenario> {
    load_all(&[PathBuf::from(path)]).expect("the suite loads")
}

fn run_suite(
    rt: &tokio::runtime::Runtime,
    scenarios: Vec<LoadedScenario>,
    world: World,
    pki: &Arc<TestPki>,
) -> (f64, Vec<ScenarioReport>) {
    let options = RunOptions {
        profile: Profile::Idf6,
        seed: 1,
        jobs: 4,
        fail_fast: false,
        world,
        sdkconfig: Default::default(),
        dut: wsim::dut::agent::DutSpec::Host,
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
    (t0.elapsed().as_secs_f64(), reports)
}

fn main() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let pki = Arc::new(TestPki::generate().unwrap());

    let long = load("scenarios/faults/blackhole-pong-timeout.toml");
    let (wall, reports) = run_suite(&rt, long, World::Sim, &pki);
    let r = &reports[0];
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.detail);
    let virt = r.virtual_ms as f64 / 1000.0;
    println!("one long scenario ({}):", r.id);
    println!(
        "  virtual {virt:.1} s in {:.4} s wall (the scenario itself: {} ms wall); virtual/wall ratio {:.0}",
        wall,
        r.wall_ms,
        virt / wall
    );

    let (sim_wall, sim) = run_suite(&rt, load("scenarios"), World::Sim, &pki);
    let sim_virtual: f64 = sim.iter().map(|r| r.virtual_ms as f64 / 1000.0).sum();
    let ran = sim.iter().filter(|r| r.verdict != Verdict::Skip).count();
    assert!(sim.iter().all(|r| r.verdict != Verdict::Fail && r.verdict != Verdict::Error));
    println!("the shipped suite, simulated world ({} scenarios, {ran} run):", sim.len());
    println!(
        "  {sim_wall:.3} s wall for {sim_virtual:.1} s virtual; virtual/wall ratio {:.0}",
        sim_virtual / sim_wall
    );

    let (real_wall, real) = run_suite(&rt, load("scenarios"), World::Real, &pki);
    let real_ran = real.iter().filter(|r| r.verdict != Verdict::Skip).count();
    println!("the same suite, real world (baseline, {real_ran} run, sim-only ones skipped):");
    println!("  {real_wall:.3} s wall; the simulated world is {:.0}x faster", real_wall / sim_wall);
}
