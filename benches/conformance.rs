//! Speed of the Autobahn catalogue, each figure against a baseline from the same run:
//!
//! 1. the whole catalogue (517 cases) against the client model in the simulated world
//!    on 2 threads: wall time (target ≤ 1 s on 2 cores; Autobahn's own run of 463
//!    cases plus category 9 takes over 50 s), and its virtual time against the wall;
//! 2. categories 1–7 and 9 over real loopback sockets against the same cases in the
//!    simulated world (the ratio real / sim).
//!
//! Run with `cargo bench --bench conformance` (`-- sim` for the first part only).

use std::time::Instant;

use wsim::conformance::{RunConfig, World, run_cases, select};
use wsim::dut::agent::DutSpec;
use wsim::esp::Profile;

fn config(world: World) -> RunConfig {
    RunConfig {
        agent: "bench".into(),
        world,
        dut: DutSpec::Host,
        profile: Profile::Idf6,
        buffer_size: 4096,
        jobs: 2,
        seed: 1,
    }
}

/// Wall seconds, the sum of the cases' durations (virtual ms in sim), and the
/// behaviour counts.
fn time(world: World, cases: &[&str]) -> (f64, u64, std::collections::BTreeMap<String, usize>) {
    let pats: Vec<String> = cases.iter().map(|s| s.to_string()).collect();
    let sel = select(&pats, &[]).expect("the selection");
    let mut dur = 0;
    let mut counts = std::collections::BTreeMap::new();
    let t0 = Instant::now();
    run_cases(&config(world), &sel, |o| {
        dur += o.file.duration;
        *counts.entry(o.verdict.behavior.to_string()).or_insert(0) += 1;
    });
    (t0.elapsed().as_secs_f64(), dur, counts)
}

fn main() {
    // Warm-up (page faults of the first 16 MiB buffers, lazy statics).
    let _ = time(World::Sim, &["1.*"]);
    let runs: Vec<_> = (0..3).map(|_| time(World::Sim, &[])).collect();
    let best = runs.iter().map(|r| r.0).fold(f64::MAX, f64::min);
    let (_, virt, counts) = &runs[0];
    println!(
        "conformance/sim: whole catalogue (517 cases), 2 threads: {best:.3} s wall (best of 3; target <= 1 s)"
    );
    println!("  verdicts: {counts:?}");
    println!(
        "  virtual time of the cases: {:.1} s, {:.0}x the wall time",
        *virt as f64 / 1000.0,
        *virt as f64 / 1000.0 / best
    );

    if std::env::args().any(|a| a == "sim") {
        return;
    }
    let cats = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*"];
    let (sim, ..) = time(World::Sim, &cats);
    let (real, real_ms, real_counts) = time(World::Real, &cats);
    println!(
        "conformance/real vs sim: categories 1-7 and 9 (300 cases): real loopback {real:.3} s, sim {sim:.3} s, ratio {:.1}x",
        real / sim
    );
    println!(
        "  real-world verdicts: {real_counts:?}; sum of case durations {:.1} s",
        real_ms as f64 / 1000.0
    );
}
