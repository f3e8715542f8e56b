//! `wsim agent` and `wsim run --dut exec:…|tcp:…`: the shipped suite gives the same
//! verdicts through the agent protocol as on the host model (both in the real world),
//! and a DUT that dies, garbles, speaks another version or stays silent gives clear
//! errors while the run goes on and loses nothing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

const WSIM: &str = env!("CARGO_BIN_EXE_wsim");

fn wsim(args: &[&str]) -> Output {
    Command::new(WSIM).args(args).output().expect("wsim runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wsim-agent-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn summary(dir: &Path) -> Value {
    let p = dir.join("summary.json");
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

fn verdicts(s: &Value) -> BTreeMap<String, String> {
    s["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["id"].as_str().unwrap().to_string(), e["verdict"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Runs the suite (or a filtered part) in the real world on `dut`.
fn run_real(name: &str, dut: &str, extra: &[&str]) -> (Output, Value) {
    let dir = tmp(name);
    let mut args = vec!["run", "scenarios/", "--world", "real", "--seed", "1", "--dut", dut];
    args.extend_from_slice(&["--report-dir", dir.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = wsim(&args);
    let s = summary(&dir);
    (out, s)
}

/// The host model's verdicts in the real world, computed once.
fn host_verdicts() -> &'static BTreeMap<String, String> {
    static HOST: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let (out, s) = run_real("host", "host", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        verdicts(&s)
    })
}

fn python() -> bool {
    let ok = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: python3 is not installed (the fake agents are Python scripts)");
    }
    ok
}

#[test]
fn the_suite_through_exec_wsim_agent_gives_the_host_models_verdicts() {
    let dut = format!("exec:{WSIM} agent");
    let (out, s) = run_real("exec", &dut, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["dut"]["agent"], "host-v6.0-ewc1.8.0");
    assert_eq!(s["complete"], true);
    assert_eq!(&verdicts(&s), host_verdicts());
}

#[test]
fn the_suite_through_tcp_gives_the_host_models_verdicts() {
    let mut agent = Command::new(WSIM)
        .args(["agent", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(agent.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");
    let (out, s) = run_real("tcp", &format!("tcp:{addr}"), &[]);
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["dut"]["agent"], "host-v6.0-ewc1.8.0");
    assert_eq!(&verdicts(&s), host_verdicts());
}

#[test]
fn an_idf55_agent_picks_the_idf55_profile_unless_told() {
    let dut = format!("exec:{WSIM} agent --profile idf5.5");
    let (out, s) = run_real("idf55", &dut, &["--filter", "idf55/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["profile"], "idf5.5");
    assert!(s["counts"]["passed"].as_u64().unwrap() > 0, "{s}");
    let (_, s) = run_real("idf55-forced", &dut, &["--filter", "idf55/", "--profile", "idf6"]);
    assert_eq!(s["profile"], "idf6");
}

#[test]
fn an_external_dut_in_the_simulated_world_is_bad_input() {
    let o = wsim(&["run", "scenarios/", "--dut", &format!("exec:{WSIM} agent")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("runs in the real world only"), "{}", text(&o));
    let o = wsim(&["run", "scenarios/", "--world", "real", "--dut", "serial:/dev/x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_silent_or_missing_dut_is_unreachable() {
    let dir = tmp("silent");
    let o = wsim(&[
        "run",
        "scenarios/",
        "--world",
        "real",
        "--dut",
        "exec:sleep 30",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no hello within 10 s"), "{}", text(&o));
    let o = wsim(&["run", "scenarios/", "--world", "real", "--dut", "tcp:127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("tcp:127.0.0.1:9"), "{}", text(&o));
    let o = wsim(&["run", "scenarios/", "--world", "real", "--dut", "exec:exit 7"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("exit status: 7"), "{}", text(&o));
}

/// A fake agent in Python: prints `lines` (protocol bodies get framed), then does
/// `then` (`exit` or `hang`).
fn fake_agent(name: &str, bodies: &[&str], raw: &[&str], then: &str) -> PathBuf {
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("agent.py");
    let src = format!(
        r#"import json, sys, time, zlib
out = sys.stdout.buffer
seq = 0
for body in {bodies:?}:
    b = body.encode()
    out.write(b"@W1 %d %08x " % (seq, zlib.crc32(b)) + b + b"\n")
    seq += 1
for line in {raw:?}:
    out.write(line.encode() + b"\n")
out.flush()
if "{then}" == "hang":
    time.sleep(60)
"#
    );
    std::fs::write(&script, src).unwrap();
    script
}

const HELLO: &str = r#"{"t":"hello","proto":1,"chip":"esp32","idf":"v5.5.1","client":"1.6.0","sdkconfig":{},"max_line":4096,"inline_max":256,"abilities":[]}"#;

#[test]
fn a_hello_of_another_protocol_version_is_refused() {
    if !python() {
        return;
    }
    let v2 = HELLO.replace(r#""proto":1"#, r#""proto":2"#);
    let script = fake_agent("v2", &[&v2], &[], "hang");
    let o = wsim(&[
        "run",
        "scenarios/",
        "--world",
        "real",
        "--dut",
        &format!("exec:python3 {}", script.display()),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("the DUT speaks agent protocol 2, this wsim speaks 1"),
        "{}",
        text(&o)
    );
    let script = fake_agent("marker2", &[], &["@W2 0 00000000 {}"], "hang");
    let o = wsim(&[
        "run",
        "scenarios/",
        "--world",
        "real",
        "--dut",
        &format!("exec:python3 {}", script.display()),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("speaks agent protocol 2"), "{}", text(&o));
}

#[test]
fn an_agent_that_exits_after_its_hello_errors_every_scenario_and_the_run_goes_on() {
    if !python() {
        return;
    }
    let script = fake_agent("exits", &[HELLO], &["I (5) agent: bye"], "exit");
    let dut = format!("exec:python3 {}", script.display());
    let (o, s) = run_real("exits-run", &dut, &["--filter", "close/"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(s["complete"], true, "{s}");
    let list = s["scenarios"].as_array().unwrap();
    assert!(list.len() > 3);
    for e in list {
        let d = e["detail"].as_str().unwrap_or_default();
        assert_eq!(e["verdict"], "error", "{e}");
        assert!(d.contains("the DUT is unreachable") && d.contains("end of stream"), "{d}");
        assert!(d.contains("exit status: 0"), "{d}");
    }
    assert_eq!(s["dut"]["agent"], "esp32-v5.5.1-ewc1.6.0");
    assert_eq!(s["profile"], "idf5.5");
}

#[test]
fn an_agent_killed_mid_scenario_errors_that_scenario_and_the_next_one_runs() {
    // The agent is killed 1.5 s after each start: the short scenarios pass, the long
    // ones (2 to 7 s) end in an error that names the lost DUT; nothing is lost.
    // (An asynchronous command's input is /dev/null unless redirected from elsewhere.)
    let dut = format!("exec:exec 3<&0; {WSIM} agent <&3 3<&- & sleep 1.5; kill $!; wait");
    let filters = [
        "close/close-when-not-started",
        "faults/frames-stall-mid-frame",
        "pingpong/disable-pingpong-discon",
        "events/lifecycle-order",
    ];
    let mut extra = Vec::new();
    for f in &filters {
        extra.extend_from_slice(&["--filter", f]);
    }
    let (o, s) = run_real("killed", &dut, &extra);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(s["complete"], true);
    let v = verdicts(&s);
    assert_eq!(v.len(), 4, "{v:?}");
    assert_eq!(v["close/close-when-not-started"], "pass");
    assert_eq!(v["events/lifecycle-order"], "pass");
    for id in ["faults/frames-stall-mid-frame", "pingpong/disable-pingpong-discon"] {
        assert_eq!(v[id], "error", "{id}");
        let e = s["scenarios"].as_array().unwrap().iter().find(|e| e["id"] == id).unwrap();
        let d = e["detail"].as_str().unwrap();
        assert!(d.contains("DUT") && (d.contains("end of stream") || d.contains("lost")), "{d}");
    }
}

/// A filter between the agent and wsim: passes every line, adds log lines, and (with
/// `garble`) a line with a bad checksum and a truncated one after the fifth line.
fn filter(name: &str, garble: bool) -> PathBuf {
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("filter.py");
    let src = format!(
        r#"import sys
out = sys.stdout.buffer
n = 0
for line in iter(sys.stdin.buffer.readline, b""):
    out.write(line)
    out.write(b"I (%d) wifi: some log output\r\n" % n)
    n += 1
    if {garble} and n == 5:
        out.write(b'@W1 77 deadbeef {{"t":"resp","id":1,"ret":0}}\n')
        out.write(b"@W1 78 0badf00d {{\"t\":\n")
    out.flush()
"#,
        garble = if garble { "True" } else { "False" }
    );
    std::fs::write(&script, src).unwrap();
    script
}

#[test]
fn log_lines_pass_and_garbled_lines_are_reported() {
    if !python() {
        return;
    }
    let logs = filter("logs", false);
    let dut = format!("exec:{WSIM} agent | python3 -u {}", logs.display());
    let (o, s) = run_real("logs-run", &dut, &["--filter", "events/"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(verdicts(&s).values().all(|v| v == "pass" || v == "skip"));
    // The log lines are the DUT log of each case report.
    let case = s["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "events/lifecycle-order")
        .unwrap();
    let dir = std::env::temp_dir().join(format!("wsim-agent-test-{}-logs-run", std::process::id()));
    let file = dir.join(case["case_file"].as_str().unwrap_or_default());
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
    )
    .unwrap();
    let log = case["dut_log"].as_array().unwrap();
    assert!(
        log.len() > 5 && log.iter().all(|l| l.as_str().unwrap().contains("wifi: some log output")),
        "{log:?}"
    );
    let garbled = filter("garbled", true);
    let dut = format!("exec:{WSIM} agent | python3 -u {}", garbled.display());
    let (o, s) = run_real("garbled-run", &dut, &["--filter", "events/"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(s["complete"], true);
    for e in s["scenarios"].as_array().unwrap() {
        if e["verdict"] == "skip" {
            continue;
        }
        assert_eq!(e["verdict"], "error", "{e}");
        let d = e["detail"].as_str().unwrap();
        assert!(d.contains("2 garbled line(s)") && d.contains("checksum mismatch"), "{d}");
    }
}

#[test]
fn an_agent_that_goes_silent_mid_scenario_is_a_bounded_error() {
    if !python() {
        return;
    }
    // Answers its hello and the reset, then never answers again.
    let dir = tmp("mute");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("agent.py");
    let src = format!(
        r#"import json, sys, zlib
out = sys.stdout.buffer
seq = 0
def send(body):
    global seq
    b = body.encode()
    out.write(b"@W1 %d %08x " % (seq, zlib.crc32(b)) + b + b"\n")
    out.flush()
    seq += 1
send({HELLO:?})
for line in iter(sys.stdin.buffer.readline, b""):
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 4:
        continue
    req = json.loads(parts[3])
    if req.get("op") == "reset":
        send(json.dumps({{"t": "resp", "id": req["id"], "ret": 0}}))
"#
    );
    std::fs::write(&script, src).unwrap();
    let dut = format!("exec:python3 -u {}", script.display());
    let t0 = std::time::Instant::now();
    let (o, s) = run_real("mute-run", &dut, &["--filter", "close/client-close-with-code"]);
    assert!(t0.elapsed() < Duration::from_secs(25), "{:?}", t0.elapsed());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let e = &s["scenarios"][0];
    assert_eq!(e["verdict"], "error", "{e}");
    let d = e["detail"].as_str().unwrap();
    assert!(d.contains("the DUT did not answer init within 10000 ms"), "{d}");
}
