//! Same scenario + same seed ⇒ the same trace, byte for byte: the whole shipped suite
//! runs twice in the simulated world with one seed and every case file (trace, wire
//! log, verdict) matches, wall times aside; with another seed it still passes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run(dir: &Path, seed: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["run", "scenarios/", "--seed", seed, "--report-dir"])
        .arg(dir)
        .output()
        .expect("wsim runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Every case file, with the wall-clock field removed, by file name.
fn cases(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.contains("_case_") && name.ends_with(".json") {
            let mut v: Value =
                serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            v.as_object_mut().unwrap().remove("duration");
            out.push((name, serde_json::to_string_pretty(&v).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn one_seed_gives_identical_traces_and_another_seed_still_passes() {
    let base = std::env::temp_dir().join(format!("wsim-determinism-{}", std::process::id()));
    let (a, b, c) = (base.join("a"), base.join("b"), base.join("c"));
    run(&a, "1234");
    run(&b, "1234");
    let (ca, cb) = (cases(&a), cases(&b));
    assert!(ca.len() >= 60, "{} cases", ca.len());
    assert_eq!(ca.len(), cb.len());
    for ((na, ta), (nb, tb)) in ca.iter().zip(&cb) {
        assert_eq!(na, nb);
        assert!(ta == tb, "{na} differs between two runs with the same seed");
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["world"], "sim");
    // Another seed: different masks and keys, same verdicts.
    run(&c, "98765");
    let cc = cases(&c);
    assert_ne!(ca, cc, "a different seed changes the random bytes on the wire");
}

/// The first PING's time (seen as the PONG's DATA event) does not depend on the seed:
/// over 1,000 seeds in the simulated world it is the same millisecond (issue 11).
#[test]
fn the_first_ping_leaves_at_the_same_time_on_every_seed() {
    use std::sync::Arc;
    use wsim::run::{RunContext, TraceEntry, Verdict, run_scenario};
    let loaded = wsim::scenario::load_all(&["scenarios/pingpong/first-ping-on-time.toml".into()])
        .expect("the scenario loads")
        .remove(0);
    let pki = Arc::new(wsim::certs::TestPki::generate().expect("a PKI"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let mut times = std::collections::BTreeSet::new();
    for seed in 0..1000u64 {
        let ctx = RunContext {
            pki: pki.clone(),
            profile: wsim::esp::Profile::Idf6,
            seed,
            world: wsim::scenario::World::Sim,
            sdkconfig: Default::default(),
            dut: wsim::dut::agent::DutSpec::Host,
            site: Default::default(),
        };
        let report = rt.block_on(run_scenario(&loaded, &ctx));
        assert_eq!(report.verdict, Verdict::Pass, "seed {seed}: {:?}", report.detail);
        let first_pong = report.trace.iter().find_map(|e| match e {
            TraceEntry::Event { t_ms, event, .. } if event.event.op_code == 10 => Some(*t_ms),
            _ => None,
        });
        times.insert(first_pong.expect("a PONG"));
    }
    assert_eq!(times.into_iter().collect::<Vec<_>>(), vec![10_000]);
}
