//! Snapshots of the traces of a representative set of scenarios and of every report
//! format, with volatile fields (times, durations, ports) redacted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Runs the fixture suite once, with a fixed seed; returns the report folder and what
/// the terminal showed.
fn run_once() -> &'static (PathBuf, String) {
    static RUN: OnceLock<(PathBuf, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wsim-snapshots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
            .args(["run", "tests/fixtures/suite", "--seed", "42", "--jobs", "1", "--report-dir"])
            .arg(&dir)
            .output()
            .expect("wsim runs");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        (dir, String::from_utf8_lossy(&out.stdout).into_owned())
    })
}

fn report_dir() -> &'static Path {
    &run_once().0
}

#[test]
fn terminal_summary() {
    let mut s = settings();
    s.add_filter(r"(?m)^(\S+\s+(PASS|FAIL|SKIP|ERROR)\s+\d+)\s+\d+$", "$1 [wall]");
    s.add_filter(r"wall time \d+\.\d+ s", "wall time [s] s");
    s.add_filter(r"in \d+\.\d+ s", "in [s] s");
    s.add_filter(r"wsim \d+\.\d+\.\d+", "wsim [version]");
    s.add_filter(r"/tmp/|/var/tmp/", "[tmp]/");
    s.bind(|| insta::assert_snapshot!("terminal", run_once().1.clone()));
}

fn read(name: &str) -> String {
    std::fs::read_to_string(report_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn case_file(id: &str) -> String {
    let index: Value = serde_json::from_str(&read("index.json")).unwrap();
    let agent = index.as_object().unwrap().values().next().unwrap();
    agent[id]["reportfile"].as_str().unwrap().to_string()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    s.add_filter(r"wsim-snapshots-\d+", "wsim-snapshots-[pid]");
    s.add_filter(r"wsim \d+\.\d+\.\d+ \(the client model\)", "wsim [version] (the client model)");
    s
}

#[test]
fn traces_of_representative_scenarios() {
    settings().bind(|| {
        for id in ["basic/chunking", "basic/client-close", "basic/http-404"] {
            let case: Value = serde_json::from_str(&read(&case_file(id))).unwrap();
            insta::assert_json_snapshot!(
                format!("trace-{}", id.replace('/', "-")),
                case["trace"],
                { "[].t_ms" => "[t]" }
            );
        }
    });
}

#[test]
fn summary_json() {
    let v: Value = serde_json::from_str(&read("summary.json")).unwrap();
    settings().bind(|| {
        insta::assert_json_snapshot!("summary", v, {
            ".wall_ms" => "[ms]",
            ".world_ms" => "[ms]",
            ".tool_version" => "[version]",
            ".scenarios[].wall_ms" => "[ms]",
        });
    });
}

#[test]
fn index_json() {
    let v: Value = serde_json::from_str(&read("index.json")).unwrap();
    settings().bind(|| {
        insta::assert_json_snapshot!("index", v, { ".*.*.duration" => "[ms]" });
    });
}

#[test]
fn case_json() {
    let v: Value = serde_json::from_str(&read(&case_file("basic/client-close"))).unwrap();
    let mut s = settings();
    s.add_filter(r#""hex": "[0-9a-f…]+""#, r#""hex": "[bytes]""#);
    s.add_filter(r"Sec-WebSocket-(Key|Accept): [A-Za-z0-9+/=]+", "Sec-WebSocket-$1: [key]");
    s.bind(|| {
        insta::assert_json_snapshot!("case-client-close", v, {
            ".duration" => "[ms]",
            ".trace[].t_ms" => "[t]",
            ".servers.*[].wire" => "[wire log]",
        });
    });
}

#[test]
fn junit_xml() {
    let mut s = settings();
    s.add_filter(r#"time="[0-9.]+""#, r#"time="[s]""#);
    s.add_filter(r#"timestamp="[^"]+""#, r#"timestamp="[when]""#);
    s.bind(|| insta::assert_snapshot!("junit", read("junit.xml")));
}

#[test]
fn index_html() {
    let mut s = settings();
    s.add_filter(r"<br>\d+ ms", "<br>[ms] ms");
    s.add_filter(r"wsim \d+\.\d+\.\d+", "wsim [version]");
    s.bind(|| insta::assert_snapshot!("index-html", read("index.html")));
}

#[test]
fn case_html() {
    let html = read(&case_file("basic/http-404").replace(".json", ".html"));
    // The wire log's segmentation depends on the kernel; the rest is stable.
    let stable = html.split("<h2>Server").next().unwrap().to_string();
    let mut s = settings();
    s.add_filter(r"<tr><td>\d+</td>", "<tr><td>[t]</td>");
    s.add_filter(r"<td>\d+ ms</td>", "<td>[ms] ms</td>");
    s.bind(|| insta::assert_snapshot!("case-html-http-404", stable));
}

/// A run stopped by SIGINT in the real world: the partial `summary.json` and what the
/// terminal showed.
#[test]
fn interrupted_run() {
    use std::time::{Duration, Instant};
    let work = std::env::temp_dir().join(format!("wsim-snapshots-int-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let suite = work.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    std::fs::copy("tests/fixtures/suite/basic/chunking.toml", suite.join("fast.toml")).unwrap();
    std::fs::write(
        suite.join("slow.toml"),
        "name = \"a long wait\"\ntimeout_ms = 120000\n\n[servers.main]\nkind = \"echo\"\n\n\
         [clients.a]\nuri = \"ws://{main}/echo\"\n\n[[steps]]\nclient.a = \"start\"\n\n\
         [[steps]]\nwait_ms = 60000\n",
    )
    .unwrap();
    let dir = work.join("report");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["run", "--world", "real", "--seed", "42", "--jobs", "2", "--report-dir"])
        .arg(&dir)
        .arg(&suite)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(dir.join("summary.json")).is_ok_and(|t| t.contains("\"fast\"")) {
        assert!(Instant::now() < deadline, "fast never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wsim did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(wsim::exit::INTERRUPTED),
        "stdout:\n{}\nsummary.json:\n{}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(dir.join("summary.json")).unwrap_or_default()
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let mut s = settings();
    s.add_filter(r"after \d+ ms", "after [ms] ms");
    s.add_filter(r"wsim-snapshots-int-\d+", "wsim-snapshots-int-[pid]");
    s.add_filter(r"/tmp/|/var/tmp/", "[tmp]/");
    s.bind(|| {
        insta::assert_json_snapshot!("summary-interrupted", summary, {
            ".wall_ms" => "[ms]",
            ".world_ms" => "[ms]",
            ".tool_version" => "[version]",
            ".scenarios[].wall_ms" => "[ms]",
            ".scenarios[].virtual_ms" => "[ms]",
        });
    });
    s.add_filter(r"(?m)^(\S+\s+(PASS|FAIL|SKIP|ERROR))\s+\d+\s+\d+$", "$1 [ms] [ms]");
    s.add_filter(r"time \d+\.\d+ s", "time [s] s");
    s.add_filter(r"in \d+\.\d+ s", "in [s] s");
    s.add_filter(r"wsim \d+\.\d+\.\d+", "wsim [version]");
    s.bind(|| {
        insta::assert_snapshot!("terminal-interrupted", String::from_utf8_lossy(&out.stdout))
    });
}
