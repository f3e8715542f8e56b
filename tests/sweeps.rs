//! Seed sweeps: a scenario built to fail for part of its drawn range is found; the
//! smallest failing seed, rerun alone, fails the same way; a passing seed passes; two
//! sweeps over the same seeds agree; `--fail-fast`, Ctrl-C (the stop signal) and the
//! baseline gate; randomised numbers' load errors; snapshots of the sweep's terminal
//! output and summary section.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use wsim::certs::TestPki;
use wsim::dut::agent::DutSpec;
use wsim::esp::Profile;
use wsim::report::{SweepReport, diff, signature};
use wsim::run::{
    RunOptions, ScenarioReport, SeedRange, StopSignal, SweepEvent, Verdict, run, sweep,
};
use wsim::scenario::{World, load_all, parse_scenario};

const FIXTURE: &str = "tests/fixtures/sweeps/partly-failing.toml";

fn options(fail_fast: bool) -> RunOptions {
    RunOptions {
        profile: Profile::Idf6,
        seed: 0,
        jobs: 2,
        fail_fast,
        world: World::Sim,
        sdkconfig: Default::default(),
        dut: DutSpec::Host,
        site: Default::default(),
        dut_record: None,
    }
}

fn pki() -> Arc<TestPki> {
    static PKI: std::sync::OnceLock<Arc<TestPki>> = std::sync::OnceLock::new();
    PKI.get_or_init(|| Arc::new(TestPki::generate().unwrap())).clone()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wsim-sweeps-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Sweeps `path` over `seeds`; `stop_after` gives the stop signal after that many runs.
async fn sweep_of(
    path: &str,
    seeds: SeedRange,
    fail_fast: bool,
    stop_after: Option<usize>,
    dir: &Path,
) -> SweepReport {
    let scenarios = load_all(&[PathBuf::from(path)]).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let stop = StopSignal::new();
    let stop2 = stop.clone();
    let task = tokio::spawn(async move {
        sweep(scenarios, options(fail_fast), seeds, pki(), tx, &stop2).await
    });
    let mut report = SweepReport::new(dir, Vec::new());
    let mut runs = 0;
    while let Some(e) = rx.recv().await {
        if matches!(e, SweepEvent::Seed { .. }) {
            runs += 1;
            if stop_after == Some(runs) {
                stop.stop();
            }
        }
        report.on_event(&e);
    }
    task.await.unwrap().unwrap();
    report
}

/// One scenario under one run seed, as `wsim run <file> --seed N` runs it.
async fn run_alone(path: &str, seed: u64) -> ScenarioReport {
    let scenarios = load_all(&[PathBuf::from(path)]).unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut o = options(false);
    o.seed = seed;
    let mut reports = run(scenarios, o, pki(), tx).await;
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

/// The summary without wall-clock times.
fn stable(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("wall_ms");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_finds_the_failing_part_of_the_range_and_its_seeds_reproduce() {
    let dir = temp("find");
    let seeds = SeedRange { start: 0, end: 200 };
    let report = sweep_of(FIXTURE, seeds, false, None, &dir).await;
    let section = report.section();
    let s = &section.scenarios[0];
    assert_eq!(s.seeds_run, 200);
    assert!(s.failed > 0 && s.passed > 0, "part of the range fails: {s:?}");
    assert_eq!(s.failed + s.passed, 200);
    assert_eq!(s.failures.len(), 1, "one way of failing: {:?}", s.failures);
    let g = &s.failures[0];
    assert_eq!(g.count, s.failed);
    // The drawn latency is what makes it fail.
    assert!(g.drawn["faults[0].toxic.latency_ms"] > 150, "{:?}", g.drawn);
    assert!(g.rerun.contains(&format!("--seed {}", g.smallest_seed)), "{}", g.rerun);
    // The smallest failing seed, alone, fails with the same signature and draws.
    let alone = run_alone(FIXTURE, g.smallest_seed).await;
    assert_eq!(alone.verdict, Verdict::Fail);
    assert_eq!(signature(&alone), g.signature);
    assert_eq!(alone.drawn, g.drawn);
    // A seed reported passing passes alone.
    let p = &s.passing_sample[0];
    let alone = run_alone(FIXTURE, p.seed).await;
    assert_eq!(alone.verdict, Verdict::Pass, "{:?}", alone.detail);
    assert_eq!(alone.drawn, p.drawn);
    // Every seed below the smallest failing one passed.
    assert!(s.passing_sample.iter().all(|x| x.seed != g.smallest_seed));
    // Case files: the kept failing seeds and the passing sample, nothing else.
    let cases = g.case_files.len() + s.passing_sample.len();
    finish_check(report, &dir, cases);
}

/// Finishing writes `summary.json` and exactly the kept seeds' case files.
fn finish_check(mut report: SweepReport, dir: &Path, cases: usize) {
    {
        assert!(report.finish().is_empty());
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.contains(&"summary.json".to_string()), "{names:?}");
        assert_eq!(
            names.iter().filter(|n| n.ends_with(".json") && n.contains("_case_")).count(),
            cases,
            "{names:?}"
        );
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(v["state"], "finished");
        assert_eq!(v["scenarios"][0]["verdict"], "fail");
        let case = &v["sweep"]["scenarios"][0]["failures"][0]["case_files"][0];
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(case.as_str().unwrap())).unwrap(),
        )
        .unwrap();
        assert!(case["drawn"]["faults[0].toxic.latency_ms"].is_i64(), "{case}");
        assert_eq!(case["verdict"], "fail");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sweeps_over_the_same_seeds_agree() {
    let seeds = SeedRange { start: 1000, end: 1150 };
    let a = sweep_of(FIXTURE, seeds, false, None, &temp("same-a")).await;
    let b = sweep_of(FIXTURE, seeds, false, None, &temp("same-b")).await;
    assert_eq!(a.section(), b.section());
    assert_eq!(stable(a.summary_json()), stable(b.summary_json()));
    // Another range explores other draws.
    let c = sweep_of(FIXTURE, SeedRange { start: 0, end: 150 }, false, None, &temp("same-c")).await;
    assert_ne!(a.section(), c.section());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_stops_at_a_failure_and_a_stop_keeps_what_was_found() {
    let seeds = SeedRange { start: 0, end: 100_000 };
    let r = sweep_of(FIXTURE, seeds, true, None, &temp("ff")).await;
    let s = r.section();
    assert!(s.stopped_at_failure);
    assert!(s.runs < 1000, "{} runs", s.runs);
    assert!(s.scenarios[0].failed >= 1);
    assert!(!r.interrupted());
    let r = sweep_of(FIXTURE, seeds, false, Some(20), &temp("stop")).await;
    assert!(r.interrupted());
    let s = r.section();
    assert!(s.runs >= 20 && s.runs < 100_000, "{} runs", s.runs);
    let v = r.summary_json();
    assert_eq!(v["state"], "interrupted");
    assert_eq!(v["complete"], false);
    let mut out = Vec::new();
    r.print(&mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("interrupted:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_gate_flags_a_scenario_that_passed_every_seed_and_now_fails_some() {
    let now = sweep_of(FIXTURE, SeedRange { start: 0, end: 100 }, false, None, &temp("now")).await;
    let pass_seed = now.section().scenarios[0].passing_sample[0].seed;
    let one = SeedRange { start: pass_seed, end: pass_seed + 1 };
    let clean = sweep_of(FIXTURE, one, false, None, &temp("clean")).await;
    assert_eq!(clean.summary().scenarios[0].verdict, Verdict::Pass);
    let changes = diff(&clean.summary(), &now.summary());
    assert_eq!(changes.len(), 1);
    assert!(changes[0].is_regression(), "{}", changes[0]);
    // Improving, or failing as before, is not a regression.
    assert!(diff(&now.summary(), &clean.summary()).iter().all(|c| !c.is_regression()));
    assert!(diff(&now.summary(), &now.summary()).is_empty());
    assert!(diff(&clean.summary(), &clean.summary()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_sweeps_pass_a_few_hundred_seeds() {
    let r = sweep_of(
        "scenarios/sweeps",
        SeedRange { start: 0, end: 200 },
        false,
        None,
        &temp("shipped"),
    )
    .await;
    for s in r.section().scenarios {
        assert_eq!((s.id.as_str(), s.passed), (s.id.as_str(), 200), "{:?}", s.failures);
    }
}

#[test]
fn randomised_numbers_are_checked_at_load_with_locations() {
    let src = std::fs::read_to_string(FIXTURE).unwrap();
    let load = |s: &str| parse_scenario(Path::new("f.toml"), s, "f".into());
    let ok = load(&src).unwrap();
    assert_eq!(ok.draws.as_ref().unwrap().sites.len(), 2);
    let e = load(&src.replace("[0, 300]", "[300, 0]")).unwrap_err();
    assert_eq!(e.line, 16, "{e}");
    assert!(e.message.contains("greater than the second"), "{e}");
    let e = load(&src.replace("[0, 300]", "[0, 90000000]")).unwrap_err();
    assert!(e.message.contains("with 90000000") && e.message.contains("exceeds the limit"), "{e}");
    assert_eq!(e.line, 16, "{e}");
    let e = load(&src.replace("one_of = [1, 2, 5]", "one_of = []")).unwrap_err();
    assert!(e.message.contains("at least one value"), "{e}");
    assert_eq!(e.line, 25, "{e}");
    let e = load(&src.replace("one_of = [1, 2, 5]", "one_of = [1, 99999]")).unwrap_err();
    assert!(e.message.contains("longer than the scenario's timeout_ms"), "{e}");
    let e = load(&src.replace("[0, 300]", "[0, 3.5]")).unwrap_err();
    assert!(e.message.contains("not an integer"), "{e}");
    // A range where a text goes is a type error at that line.
    let e = load(&src.replace("uri = \"ws://{main}/\"", "uri = { between = [1, 2] }")).unwrap_err();
    assert_eq!(e.line, 12, "{e}");
    // JSON too.
    let json = r#"{
  "name": "j", "worlds": ["sim"],
  "clients": { "a": { "uri": "ws://x/" } },
  "steps": [ { "wait_ms": { "between": [9, 1] } } ]
}"#;
    let e = parse_scenario(Path::new("j.json"), json, "j".into()).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
}

fn wsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wsim")).args(args).output().expect("wsim runs")
}

#[test]
fn the_command_line_sweeps_refuses_the_real_world_and_snapshots() {
    let out = wsim(&["run", FIXTURE, "--seeds", "10", "--world", "real"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("simulated world only"));
    let out = wsim(&["run", FIXTURE, "--seed-range", "5..5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no seed"));
    let dir = temp("cli");
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["run", FIXTURE, "--seed-range", "0..60", "--jobs", "2", "--report-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"in \d+\.\d+ s", "in [s] s");
    s.add_filter(r"wsim \d+\.\d+\.\d+", "wsim [version]");
    s.add_filter(r"reports in .*", "reports in [dir]");
    s.bind(|| insta::assert_snapshot!("sweep-terminal", text));
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    insta::assert_json_snapshot!("sweep-summary", v, {
        ".wall_ms" => "[ms]",
        ".world_ms" => "[ms]",
        ".tool_version" => "[version]",
        ".scenarios[].wall_ms" => "[ms]",
        ".scenarios[].virtual_ms" => "[ms]",
        ".sweep.scenarios[].failures[].detail" => "[detail]",
    });
    // The printed rerun command reruns that seed, failing.
    let rerun = text.lines().find_map(|l| l.trim().strip_prefix("rerun: wsim ")).unwrap();
    let args: Vec<&str> = rerun.split_whitespace().collect();
    let again = temp("rerun");
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(&args)
        .arg("--report-dir")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_rerun_from_a_folder_sweep_keeps_the_scenario_id_and_so_its_draws() {
    let root = temp("folder");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::copy(FIXTURE, root.join("sub/partly-failing.toml")).unwrap();
    let dir = temp("folder-report");
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .arg("run")
        .arg(&root)
        .args(["--seed-range", "0..40", "--report-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rerun = text.lines().find_map(|l| l.trim().strip_prefix("rerun: wsim ")).unwrap();
    assert!(rerun.contains("--filter sub/partly-failing"), "{rerun}");
    let drew = text.lines().find(|l| l.contains(" drew ")).unwrap().split(" drew ").nth(1).unwrap();
    let again = temp("folder-rerun");
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(rerun.split_whitespace())
        .arg("--report-dir")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(again.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(v["scenarios"][0]["id"], "sub/partly-failing");
    let case = v["scenarios"][0]["case_file"].as_str().unwrap();
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(again.join(case)).unwrap()).unwrap();
    let latency = case["drawn"]["faults[0].toxic.latency_ms"].as_i64().unwrap();
    assert!(drew.contains(&format!("faults[0].toxic.latency_ms={latency}")), "{drew} vs {latency}");
    // The summary of a single run records the draws too.
    assert_eq!(v["scenarios"][0]["drawn"]["faults[0].toxic.latency_ms"], latency);
}
