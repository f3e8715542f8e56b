//! `wsim run`, `check`, `list`, `schema` and `report diff` as users run them: the real
//! binary, real servers on loopback, real report files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn wsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsim")).args(args).output().expect("wsim runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wsim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

#[test]
fn the_shipped_suite_passes_and_writes_every_report() {
    let dir = tmp("suite");
    let out = wsim(&["run", "scenarios/", "--seed", "5", "--report-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(wsim::exit::SUCCESS), "{}", text(&out));
    let summary = json(&dir.join("summary.json"));
    let counts = &summary["counts"];
    let total = counts["total"].as_u64().unwrap();
    assert!(total >= 40, "{total} scenarios");
    assert_eq!(counts["failed"], 0);
    assert_eq!(counts["errors"], 0);
    assert_eq!(counts["passed"].as_u64().unwrap() + counts["skipped"].as_u64().unwrap(), total);
    assert_eq!(summary["seed"], 5);
    assert_eq!(summary["profile"], "idf6");
    for key in ["tool_version", "dut", "wall_ms", "world_ms", "scenarios"] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    let index = json(&dir.join("index.json"));
    let agent = index.as_object().unwrap().keys().next().unwrap().clone();
    let cases = index[&agent].as_object().unwrap();
    let case = &cases["fragmentation/rx-chunking-2000"];
    assert_eq!(case["behavior"], "OK");
    let report = json(&dir.join(case["reportfile"].as_str().unwrap()));
    let trace = report["trace"].as_array().unwrap();
    assert!(
        trace.iter().any(|t| t["type"] == "event" && t["event"] == "data" && t["data_len"] == 976)
    );
    assert!(
        report["servers"]["main"][0]["wire"].as_array().unwrap().len() > 2,
        "the wire log is there"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuite") && junit.contains("fragmentation/rx-chunking-2000"));
    assert!(
        std::fs::read_to_string(dir.join("index.html")).unwrap().contains("agent_case_results")
    );
}

#[test]
fn malformed_scenarios_are_bad_input_with_file_line_and_column() {
    for (file, line, what) in [
        ("bad-toml.toml", 2, "expected"),
        ("unknown-key.toml", 5, "unknown field `buffer_sise`"),
        ("wrong-type.toml", 5, "invalid type: string \"big\", expected i32"),
        ("bad-payload.toml", 13, "`repeat` and `len` go together"),
        ("unknown-toxic.toml", 11, "unknown variant `jitterbug`"),
        ("negative-rate.toml", 13, "invalid value: integer `-5`, expected u64"),
        (
            "bad-direction.toml",
            11,
            "unknown variant `sideways`, expected `downstream` or `upstream`",
        ),
    ] {
        let path = format!("tests/fixtures/bad/{file}");
        for cmd in ["run", "check"] {
            let out = wsim(&[cmd, &path]);
            assert_eq!(
                out.status.code(),
                Some(wsim::exit::BAD_INPUT),
                "{cmd} {file}: {}",
                text(&out)
            );
            let t = text(&out);
            assert!(t.contains(&format!("{path}:{line}:")), "{cmd} {file}: {t}");
            assert!(t.contains(what), "{cmd} {file}: {t}");
            assert!(!t.contains("panicked"), "{t}");
        }
    }
}

#[test]
fn a_wrong_expectation_fails_with_the_step_and_the_events_seen() {
    let dir = tmp("wrong");
    let out = wsim(&[
        "run",
        "tests/fixtures/wrong-expectation.toml",
        "--seed",
        "3",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(wsim::exit::FAILED), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("step 4 (tests/fixtures/wrong-expectation.toml:19)"), "{t}");
    assert!(t.contains("mismatched: data_len: expected 1000, got 1024"), "{t}");
    assert!(t.contains("recent events of a:"), "{t}");
    assert!(t.contains("connected{"), "{t}");
    assert!(t.contains("rerun: wsim run tests/fixtures/wrong-expectation.toml --seed 3"), "{t}");
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["scenarios"][0]["verdict"], "fail");
    assert_eq!(summary["scenarios"][0]["failed_step"], 4);
}

#[test]
fn a_baseline_gates_only_on_regressions() {
    let work = tmp("baseline");
    let suite = work.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    let good = std::fs::read_to_string("tests/fixtures/suite/basic/chunking.toml").unwrap();
    std::fs::write(suite.join("chunking.toml"), &good).unwrap();
    std::fs::copy("tests/fixtures/wrong-expectation.toml", suite.join("known-bad.toml")).unwrap();
    let base_dir = work.join("base");
    let out = wsim(&[
        "run",
        suite.to_str().unwrap(),
        "--seed",
        "1",
        "--report-dir",
        base_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(wsim::exit::FAILED),
        "the known failure fails a run without a baseline"
    );
    let baseline = base_dir.join("summary.json");
    let gated = |dir: &Path| {
        wsim(&[
            "run",
            suite.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
            "--report-dir",
            dir.to_str().unwrap(),
        ])
    };
    // Nothing got worse: the known failure is tolerated.
    let out = gated(&work.join("same"));
    assert_eq!(out.status.code(), Some(wsim::exit::SUCCESS), "{}", text(&out));
    assert!(text(&out).contains("0 changed, 0 regressed"), "{}", text(&out));
    // One scenario regresses.
    std::fs::write(suite.join("chunking.toml"), good.replace("data_len = 976", "data_len = 975"))
        .unwrap();
    let new_dir = work.join("worse");
    let out = gated(&new_dir);
    assert_eq!(out.status.code(), Some(wsim::exit::FAILED), "{}", text(&out));
    assert!(text(&out).contains("REGRESSED  chunking: PASS -> FAIL"), "{}", text(&out));
    // `report diff` of two runs of one DUT: a regression is exit 1, as the gate.
    let out = wsim(&["report", "diff", base_dir.to_str().unwrap(), new_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(wsim::exit::FAILED), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("same DUT"), "{t}");
    assert!(
        t.lines().any(|l| l.starts_with("chunking") && l.ends_with("PASS     FAIL     REGRESSED")),
        "{t}"
    );
    assert!(t.contains("1 of 2 scenarios differ") && t.contains("; 1 regressed"), "{t}");
}

#[test]
fn check_list_and_schema() {
    let out = wsim(&["check", "scenarios/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("scenarios OK"));
    let out = wsim(&["list", "tests/fixtures/suite"]);
    let t = text(&out);
    assert!(
        t.contains("basic/chunking  rx: a 2000-byte text frame")
            && t.contains("[fragmentation, events]"),
        "{t}"
    );
    let out = wsim(&["schema"]);
    let schema: Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    assert_eq!(schema["title"], "Scenario");
    assert!(schema["properties"]["steps"].is_object());
    assert!(schema["$defs"]["ClientSpec"]["properties"]["buffer_size"].is_object());
}

#[test]
fn filters_tags_and_profiles_select_and_skip() {
    let dir = tmp("select");
    let out = wsim(&[
        "run",
        "tests/fixtures/suite",
        "--tag",
        "events",
        "--profile",
        "idf6",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let summary = json(&dir.join("summary.json"));
    let ids: Vec<&str> = summary["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["basic/chunking", "basic/idf55-only"]);
    assert_eq!(summary["scenarios"][1]["verdict"], "skip");
    assert!(summary["scenarios"][1]["detail"].as_str().unwrap().contains("idf5.5 only"));
    let out = wsim(&["run", "tests/fixtures/suite", "--filter", "nothing-matches"]);
    assert_eq!(out.status.code(), Some(wsim::exit::BAD_INPUT));
}

// --- No lost results: report folders, case names, interrupts, partial reports ---

const FIXTURE_SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/suite");
const CHUNKING: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/suite/basic/chunking.toml");

/// A scenario that waits `wait_ms` in the middle (the overall bound is well above it).
fn slow_scenario(wait_ms: u64) -> String {
    format!(
        "name = \"a long wait\"\ntimeout_ms = {}\n\n[servers.main]\nkind = \"echo\"\n\n\
         [clients.a]\nuri = \"ws://{{main}}/echo\"\n\n[[steps]]\nclient.a = \"start\"\n\n\
         [[steps]]\nwait_ms = {wait_ms}\n",
        wait_ms * 2
    )
}

/// A suite of two scenarios: `fast` (passes at once) and `slow` (waits `wait_ms`).
fn fast_and_slow(work: &Path, wait_ms: u64) -> PathBuf {
    let suite = work.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::copy(CHUNKING, suite.join("fast.toml")).unwrap();
    std::fs::write(suite.join("slow.toml"), slow_scenario(wait_ms)).unwrap();
    suite
}

/// Waits for `child` to exit, at most `limit`; kills it and fails past that.
fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wsim did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads `summary.json` until it lists `id` with a verdict, at most `limit`.
fn wait_for_verdict(dir: &Path, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("summary.json mid-run is not JSON: {e}\n{text}"));
            if v["scenarios"].as_array().unwrap().iter().any(|s| s["id"] == id) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "{id} never reached summary.json in {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn_wsim(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wsim starts")
}

fn verdict_of<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {summary}"))
}

#[test]
fn two_runs_at_once_get_their_own_default_folders() {
    let work = tmp("two-runs");
    std::fs::create_dir_all(&work).unwrap();
    let start = |seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_wsim"))
            .args(["run", FIXTURE_SUITE, "--seed", seed])
            .current_dir(&work)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wsim starts")
    };
    // Started together: the same second, often the same millisecond.
    let (a, b) = (start("11"), start("12"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut folders = Vec::new();
    for (out, seed) in [(&a, 11), (&b, 12)] {
        assert_eq!(out.status.code(), Some(wsim::exit::SUCCESS), "{}", text(out));
        let t = text(out);
        let folder = t
            .lines()
            .find_map(|l| l.strip_prefix("reports in "))
            .unwrap_or_else(|| panic!("no report folder named: {t}"))
            .to_string();
        let dir = work.join(&folder);
        let summary = json(&dir.join("summary.json"));
        assert_eq!(summary["seed"], seed, "{folder} holds the other run's summary");
        assert_eq!(summary["complete"], true);
        assert_eq!(summary["counts"]["total"], 4);
        let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        assert!(junit.contains(&format!("\"seed\" value=\"{seed}\"")), "{junit}");
        assert!(
            std::fs::read_to_string(dir.join("index.html"))
                .unwrap()
                .contains(&format!("seed {seed}"))
        );
        json(&dir.join("index.json"));
        folders.push(folder);
    }
    assert_ne!(folders[0], folders[1]);
    let made = std::fs::read_dir(work.join("reports")).unwrap().count();
    assert_eq!(made, 2, "one folder per run");
}

#[test]
fn ids_differing_only_in_punctuation_get_their_own_case_files() {
    let work = tmp("ids");
    let suite = work.join("suite");
    let long = ["d".repeat(120), "e".repeat(120), "f".repeat(120)].join("/");
    for id in ["a/b", "a_b", "A_b", long.as_str()] {
        let file = suite.join(format!("{id}.toml"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::copy(CHUNKING, &file).unwrap();
    }
    let dir = work.join("report");
    let out = wsim(&[
        "run",
        suite.to_str().unwrap(),
        "--seed",
        "1",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(wsim::exit::SUCCESS), "{}", text(&out));
    let index = json(&dir.join("index.json"));
    let cases = index.as_object().unwrap().values().next().unwrap().as_object().unwrap();
    assert_eq!(cases.len(), 4);
    let mut files = std::collections::BTreeSet::new();
    for (id, case) in cases {
        let file = case["reportfile"].as_str().unwrap();
        assert!(file.len() <= 255, "{} bytes", file.len());
        let report = json(&dir.join(file));
        assert_eq!(&report["id"], id, "{file} holds another scenario");
        assert!(dir.join(file.replace(".json", ".html")).is_file());
        files.insert(file.to_string());
    }
    assert_eq!(files.len(), 4, "{files:?}");
    // An ordinary id keeps its readable name.
    assert_eq!(cases["a/b"]["reportfile"], "wsim_model_idf6_case_a_b.json");
    let summary = json(&dir.join("summary.json"));
    for s in summary["scenarios"].as_array().unwrap() {
        assert_eq!(s["case_file"], cases[s["id"].as_str().unwrap()]["reportfile"]);
    }
}

#[test]
fn an_unusable_report_dir_exits_2_before_anything_runs() {
    let work = tmp("bad-dir");
    std::fs::create_dir_all(&work).unwrap();
    let file = work.join("a-file");
    std::fs::write(&file, "mine").unwrap();
    let foreign = work.join("not-a-report");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let mut bad = vec![
        (file.clone(), "not a folder"),
        (file.join("below"), "report folder"),
        (work.join("n".repeat(300)), "report folder"),
        (foreign.clone(), "not a wsim report (notes.txt)"),
    ];
    // A read-only folder, unless this user writes anyway (root).
    let ro = work.join("read-only");
    std::fs::create_dir_all(&ro).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&ro, perm).unwrap();
    if std::fs::write(ro.join("try"), "x").is_err() {
        bad.push((ro.clone(), "cannot write in it"));
    }
    // The scenario would take a minute if it ran.
    let suite = fast_and_slow(&work, 60_000);
    for (dir, why) in &bad {
        let t0 = Instant::now();
        let out = wsim(&[
            "run",
            suite.to_str().unwrap(),
            "--world",
            "real",
            "--report-dir",
            dir.to_str().unwrap(),
        ]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(wsim::exit::BAD_INPUT), "{}: {t}", dir.display());
        assert!(t.contains(why), "{}: {t}", dir.display());
        assert!(!t.contains("PASS") && !t.contains("[1/2]"), "something ran: {t}");
        assert!(t0.elapsed() < Duration::from_secs(30), "not at once: {:?}", t0.elapsed());
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(foreign.join("notes.txt")).unwrap(), "mine");
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    let _ = std::fs::set_permissions(&ro, perm);
}

#[test]
fn a_previous_report_in_the_named_folder_is_replaced_whole() {
    let work = tmp("replace");
    std::fs::create_dir_all(&work).unwrap();
    let suite = work.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::copy(CHUNKING, suite.join("first.toml")).unwrap();
    let dir = work.join("report");
    let run = || {
        wsim(&[
            "run",
            suite.to_str().unwrap(),
            "--seed",
            "1",
            "--report-dir",
            dir.to_str().unwrap(),
        ])
    };
    assert_eq!(run().status.code(), Some(wsim::exit::SUCCESS));
    std::fs::rename(suite.join("first.toml"), suite.join("second.toml")).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(wsim::exit::SUCCESS), "{}", text(&out));
    assert!(text(&out).contains("replacing the previous report"), "{}", text(&out));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.contains("_case_second")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("_case_first")), "a stale case file: {names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

/// `wsim run SUITE --world real --jobs 2 --report-dir DIR`, in the background.
fn spawn_real_run(suite: &Path, dir: &Path) -> std::process::Child {
    spawn_wsim(&[
        "run",
        suite.to_str().unwrap(),
        "--world",
        "real",
        "--jobs",
        "2",
        "--report-dir",
        dir.to_str().unwrap(),
    ])
}

#[test]
fn ctrl_c_stops_a_real_world_run_and_keeps_a_partial_report() {
    let work = tmp("sigint");
    let suite = fast_and_slow(&work, 60_000);
    let dir = work.join("report");
    let mut child = spawn_real_run(&suite, &dir);
    let running = wait_for_verdict(&dir, "fast", Duration::from_secs(60));
    assert_eq!(running["state"], "running");
    assert_eq!(running["complete"], false);
    let t0 = Instant::now();
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    let took = t0.elapsed();
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(wsim::exit::INTERRUPTED), "{stdout}{stderr}");
    assert!(took < Duration::from_secs(20), "stopping took {took:?}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.contains("[1/2] PASS  fast"), "{stdout}");
    assert!(stdout.contains("interrupted: 2 of 2 scenarios have a verdict"), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed, 1 errors"), "{stdout}");
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["state"], "interrupted");
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["planned"], 2);
    assert_eq!(verdict_of(&summary, "fast")["verdict"], "pass");
    let slow = verdict_of(&summary, "slow");
    assert_eq!(slow["verdict"], "error");
    assert!(slow["detail"].as_str().unwrap().starts_with("interrupted"), "{slow}");
    assert!(slow["wall_ms"].as_u64().unwrap() < 60_000);
    let case = json(&dir.join(slow["case_file"].as_str().unwrap()));
    assert_eq!(case["verdict"], "error");
    json(&dir.join("index.json"));
    assert!(std::fs::read_to_string(dir.join("junit.xml")).unwrap().contains("interrupted"));
}

#[test]
fn a_killed_run_leaves_a_valid_partial_report() {
    let work = tmp("kill9");
    let suite = fast_and_slow(&work, 60_000);
    let dir = work.join("report");
    let mut child = spawn_real_run(&suite, &dir);
    wait_for_verdict(&dir, "fast", Duration::from_secs(60));
    child.kill().unwrap();
    let _ = child.wait();
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["state"], "running");
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["planned"], 2);
    assert_eq!(summary["counts"]["total"], 1);
    assert_eq!(verdict_of(&summary, "fast")["verdict"], "pass");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") && !name.starts_with('.') {
            json(&p);
        }
    }
    let fast = verdict_of(&summary, "fast")["case_file"].as_str().unwrap().to_string();
    assert_eq!(json(&dir.join(fast))["verdict"], "pass");
}

#[test]
fn summary_json_parses_at_any_moment_of_a_run() {
    let dir = tmp("any-moment");
    let mut child =
        spawn_wsim(&["run", "scenarios/", "--seed", "2", "--report-dir", dir.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut reads = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the suite did not finish");
        if let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("read {reads}: not JSON: {e}\n{text}"));
            assert!(v["state"] == "running" || v["state"] == "finished", "{}", v["state"]);
            reads += 1;
        }
    }
    let final_summary = json(&dir.join("summary.json"));
    assert_eq!(final_summary["state"], "finished");
    assert_eq!(final_summary["complete"], true);
    assert_eq!(final_summary["planned"], final_summary["counts"]["total"]);
}

#[test]
fn when_reports_cannot_be_written_mid_run_every_verdict_still_reaches_stdout() {
    let work = tmp("lost-dir");
    let suite = fast_and_slow(&work, 8_000);
    let dir = work.join("report");
    let child = spawn_wsim(&[
        "run",
        suite.to_str().unwrap(),
        "--world",
        "real",
        "--jobs",
        "2",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    wait_for_verdict(&dir, "fast", Duration::from_secs(60));
    // The folder goes away under the run (as a full disk would refuse every write);
    // `slow` still has seconds to go.
    std::fs::remove_dir_all(&dir).unwrap();
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(wsim::exit::INTERNAL), "{t}");
    assert!(t.contains("[1/2] PASS  fast") && t.contains("[2/2] PASS  slow"), "{t}");
    assert!(t.contains("2 passed, 0 failed, 0 errors"), "{t}");
    assert!(t.contains("error: cannot write"), "{t}");
    assert!(t.contains("could not be written"), "{t}");
}

/// The rerun line printed for a failure reproduces it alone, also when the run loaded a
/// folder (the scenario's id, which is mixed into its seed, stays the same).
#[test]
fn the_printed_rerun_line_reproduces_a_failure_from_a_folder() {
    let root = tmp("rerun");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::copy("tests/fixtures/sweeps/partly-failing.toml", root.join("sub/drawn.toml"))
        .unwrap();
    let reports = tmp("rerun-reports");
    let failing = (0..64u64).find_map(|seed| {
        let dir = reports.join(seed.to_string());
        let o = wsim(&[
            "run",
            root.to_str().unwrap(),
            "--seed",
            &seed.to_string(),
            "--report-dir",
            dir.to_str().unwrap(),
        ]);
        (o.status.code() == Some(wsim::exit::FAILED)).then(|| text(&o))
    });
    let out = failing.expect("one of 64 seeds draws a latency over the 200 ms bound");
    let line = out.lines().find_map(|l| l.strip_prefix("rerun: ")).expect("a rerun line");
    assert!(line.contains("--filter sub/drawn"), "{line}");
    let detail =
        |o: &str| o.lines().skip_while(|l| !l.starts_with("--- ")).nth(1).map(str::to_owned);
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[..2], ["wsim", "run"], "{line}");
    let again = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(&words[1..])
        .args(["--report-dir", reports.join("again").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(wsim::exit::FAILED), "{}", text(&again));
    assert_eq!(detail(&text(&again)), detail(&out), "the same failure");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&reports);
}
