//! Reports per DUT, as users make them: the same suite run on the host model and on
//! another DUT (`wsim agent --profile idf5.5` behind `--dut exec:`, which disagrees
//! with the idf6 model on two scenarios), then `wsim report diff` in its three formats,
//! the DUT record in `summary.json` and the case files, and the per-DUT baseline gate.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const WSIM: &str = env!("CARGO_BIN_EXE_wsim");
const SUITE: [&str; 2] = ["tests/fixtures/suite", "tests/fixtures/dut-diff"];

fn wsim(args: &[&str]) -> Output {
    Command::new(WSIM).args(args).output().expect("wsim runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn work() -> PathBuf {
    std::env::temp_dir().join(format!("wsim-report-dut-{}", std::process::id()))
}

fn board_dut() -> String {
    format!("exec:{WSIM} agent --profile idf5.5")
}

/// Runs the suite in the real world on `dut` into `work()/name`; returns the folder.
fn run_on(name: &str, dut: &str, expect: i32) -> PathBuf {
    let dir = work().join(name);
    let mut args = vec!["run"];
    args.extend(SUITE);
    args.extend(["--world", "real", "--seed", "7", "--jobs", "1", "--dut", dut, "--report-dir"]);
    args.push(dir.to_str().unwrap());
    let o = wsim(&args);
    assert_eq!(o.status.code(), Some(expect), "{}", text(&o));
    dir
}

/// The two runs, made once: the host model (idf6) and the idf5.5 agent.
fn runs() -> &'static (PathBuf, PathBuf) {
    static RUNS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    RUNS.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work());
        // The model passes everything (the idf5.5-only scenario is skipped).
        let host = run_on("host", "host", 0);
        // The idf5.5 agent raises no HEADER_RECEIVED: header-received fails.
        let board = run_on("board", &board_dut(), 1);
        (host, board)
    })
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    let work = work().display().to_string();
    s.add_filter(&regex_escape(&work), "[work]");
    s.add_filter(&regex_escape(WSIM), "[wsim]");
    s.add_filter(r"wsim \d+\.\d+\.\d+ \(the client model\)", "wsim [version] (the client model)");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(
            |c| {
                if c.is_ascii_alphanumeric() || c == '/' { c.to_string() } else { format!("\\{c}") }
            },
        )
        .collect()
}

fn diff(format: &str) -> Output {
    let (host, board) = runs();
    wsim(&["report", "diff", host.to_str().unwrap(), board.to_str().unwrap(), "--format", format])
}

#[test]
fn diff_of_two_duts_in_the_terminal() {
    let o = diff("terminal");
    assert_eq!(o.status.code(), Some(wsim::exit::FAILED), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("DIFFERENT DUTs"), "{out}");
    // The failing step and expectation of the side that failed, the skip's reason.
    assert!(out.contains("expected header_received"), "{out}");
    assert!(out.contains("applies to idf5.5 only"), "{out}");
    settings().bind(|| insta::assert_snapshot!("diff-terminal", out));
}

#[test]
fn diff_of_two_duts_as_json() {
    let o = diff("json");
    assert_eq!(o.status.code(), Some(wsim::exit::FAILED), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["format"], 1);
    assert_eq!(v["same_dut"], false);
    assert_eq!(v["left"]["dut"]["agent"], "wsim-model-idf6");
    assert_eq!(v["right"]["dut"]["agent"], "host-v5.5-ewc1.8.0");
    let rows: Vec<(&str, &str)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("basic/idf55-only", "skipped_left"), ("header-received", "verdicts")]);
    // It reads back as the typed report.
    let typed: wsim::report::DiffReport = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(typed.rows.len(), 2);
    settings().bind(|| {
        insta::assert_json_snapshot!("diff-json", v, {
            ".left.dut.sdkconfig" => "[build options]",
            ".right.dut.sdkconfig" => "[build options]",
        })
    });
}

#[test]
fn diff_of_two_duts_as_markdown() {
    let o = diff("markdown");
    assert_eq!(o.status.code(), Some(wsim::exit::FAILED), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(md.contains("**Different DUTs**"), "{md}");
    // Every table row has the same number of cells as its header: nothing in a
    // detail breaks the table.
    for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        let header = cells(table.lines().next().unwrap());
        assert!(table.lines().all(|l| cells(l) == header), "{table}");
    }
    settings().bind(|| insta::assert_snapshot!("diff-markdown", md));
}

#[test]
fn the_same_dut_twice_exits_0_and_says_so() {
    let (host, _) = runs();
    let o = wsim(&["report", "diff", host.to_str().unwrap(), host.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("same DUT") && out.contains("no outcome differs (5 scenarios compared)"),
        "{out}"
    );
}

#[test]
fn a_summary_that_cannot_be_read_is_exit_2_naming_it() {
    let (host, _) = runs();
    let bad = work().join("bad.json");
    std::fs::write(&bad, "{\"tool_version\": 1}").unwrap();
    for other in [bad.clone(), work().join("missing.json")] {
        let o = wsim(&["report", "diff", host.to_str().unwrap(), other.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(wsim::exit::BAD_INPUT), "{}", text(&o));
        assert!(text(&o).contains(other.file_name().unwrap().to_str().unwrap()), "{}", text(&o));
    }
    let o = wsim(&["report", "diff", "a", "b", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(wsim::exit::BAD_INPUT), "{}", text(&o));
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn summary_and_case_files_carry_the_dut_record() {
    let (host, board) = runs();
    let s = read_json(&board.join("summary.json"));
    let dut = &s["dut"];
    assert_eq!(dut["kind"], "exec");
    assert_eq!(dut["protocol"], 1);
    assert_eq!((dut["chip"].as_str(), dut["idf"].as_str()), (Some("host"), Some("v5.5")));
    assert!(dut["abilities"].as_array().unwrap().iter().any(|a| a == "sdkconfig"));
    assert!(dut["sdkconfig"].as_object().unwrap().contains_key("CONFIG_FREERTOS_HZ"));
    // Every case file names the DUT the same way, and is named after it.
    let index = read_json(&board.join("index.json"));
    let agent = index.as_object().unwrap().keys().next().unwrap().clone();
    assert_eq!(agent, "host-v5.5-ewc1.8.0");
    for entry in s["scenarios"].as_array().unwrap() {
        let file = entry["case_file"].as_str().unwrap();
        assert!(file.starts_with("host_v5_5_ewc1_8_0_case_"), "{file}");
        let case = read_json(&board.join(file));
        assert_eq!(case["agent"], agent.as_str());
        assert_eq!(&case["dut"], dut);
    }
    // The index page's column is the DUT: chip, IDF, client.
    let html = std::fs::read_to_string(board.join("index.html")).unwrap();
    assert!(html.contains("host · IDF v5.5 · client 1.8.0"), "{html}");
    let host_summary = read_json(&host.join("summary.json"));
    settings().bind(|| {
        insta::assert_json_snapshot!("summary-dut-host", host_summary["dut"]);
        insta::assert_json_snapshot!("summary-dut-exec", s["dut"]);
    });
}

#[test]
fn a_baseline_of_another_dut_is_refused_unless_asked() {
    let (host, board) = runs();
    let mut args = vec!["run"];
    args.extend(SUITE);
    let dut = board_dut();
    args.extend(["--world", "real", "--seed", "7", "--jobs", "1", "--dut", dut.as_str()]);
    let run = |extra: &[&str], report: &str| {
        let dir = work().join(report);
        let mut a = args.clone();
        a.extend(extra);
        a.extend(["--report-dir", dir.to_str().unwrap()]);
        (wsim(&a), dir)
    };
    // The host model's baseline for the idf5.5 agent: refused before anything runs.
    let host_base = host.join("summary.json");
    let (o, dir) = run(&["--baseline", host_base.to_str().unwrap()], "refused");
    assert_eq!(o.status.code(), Some(wsim::exit::BAD_INPUT), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("recorded on another DUT"), "{t}");
    assert!(t.contains("wsim-model-idf6") && t.contains("host-v5.5-ewc1.8.0"), "{t}");
    assert!(t.contains("idf v6.0 (baseline) vs v5.5 (this run)"), "{t}");
    assert!(t.contains("--baseline-any-dut"), "{t}");
    assert!(!dir.exists(), "nothing ran, no report folder");
    // Asked for: compared, with a warning; header-received passed there and fails here.
    let (o, _) = run(&["--baseline", host_base.to_str().unwrap(), "--baseline-any-dut"], "any-dut");
    assert_eq!(o.status.code(), Some(wsim::exit::FAILED), "{}", text(&o));
    assert!(text(&o).contains("warning: the baseline was recorded on another DUT"), "{}", text(&o));
    assert!(text(&o).contains("REGRESSED  header-received"), "{}", text(&o));
    // The board's own baseline: its known failure is tolerated.
    let board_base = board.join("summary.json");
    let (o, _) = run(&["--baseline", board_base.to_str().unwrap()], "same-dut");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn an_older_summary_with_a_one_line_dut_is_still_a_host_baseline() {
    let (host, _) = runs();
    let mut s = read_json(&host.join("summary.json"));
    s["dut"] = Value::String("host model (idf6)".into());
    let old = work().join("old-summary.json");
    std::fs::write(&old, serde_json::to_string(&s).unwrap()).unwrap();
    let dir = work().join("old-baseline");
    let mut args = vec!["run"];
    args.extend(SUITE);
    args.extend(["--world", "real", "--seed", "7", "--baseline", old.to_str().unwrap()]);
    args.extend(["--report-dir", dir.to_str().unwrap()]);
    let o = wsim(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // And against the idf5.5 agent it is another DUT.
    let o = wsim(&["report", "diff", old.to_str().unwrap(), runs().1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(wsim::exit::FAILED), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("DIFFERENT DUTs"));
}

#[test]
fn diff_of_one_dut_against_its_baseline() {
    let (host, _) = runs();
    // The same DUT later: header-received regressed, basic/chunking is gone, a new
    // scenario errors.
    let mut s = read_json(&host.join("summary.json"));
    let list = s["scenarios"].as_array_mut().unwrap();
    list.retain(|e| e["id"] != "basic/chunking");
    for e in list.iter_mut() {
        if e["id"] == "header-received" {
            e["verdict"] = "fail".into();
            e["failed_step"] = 2.into();
            e["detail"] = "step 2 (header-received.toml:15): expect.a: expected header_received | got connected".into();
        }
    }
    let mut extra = list[0].clone();
    extra["id"] = "new/one".into();
    extra["verdict"] = "error".into();
    extra["detail"] = "the DUT is unreachable: end of stream".into();
    list.push(extra);
    let later = work().join("later.json");
    std::fs::write(&later, serde_json::to_string(&s).unwrap()).unwrap();
    let args = |f: &str| -> Output {
        wsim(&["report", "diff", host.to_str().unwrap(), later.to_str().unwrap(), "--format", f])
    };
    let o = args("terminal");
    assert_eq!(o.status.code(), Some(wsim::exit::FAILED), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("same DUT") && out.contains("2 regressed"), "{out}");
    let md = String::from_utf8_lossy(&args("markdown").stdout).into_owned();
    assert!(md.contains("\\| got connected"), "a | in a detail is escaped: {md}");
    settings().bind(|| {
        insta::assert_snapshot!("diff-same-dut-terminal", out);
        insta::assert_snapshot!("diff-same-dut-markdown", md);
    });
}
