//! `wsim run`, `check`, `list`, `schema` and `report diff` as users run them: the real
//! binary, real servers on loopback, real report files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    let out = wsim(&["report", "diff", base_dir.to_str().unwrap(), new_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("REGRESSED  chunking: PASS -> FAIL"), "{}", text(&out));
    assert!(text(&out).contains("1 changed, 1 regressed"), "{}", text(&out));
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
