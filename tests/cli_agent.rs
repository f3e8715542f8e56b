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
    let o = wsim(&["run", "scenarios/", "--dut", "serial:/dev/x"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("runs in the real world only"), "{}", text(&o));
    // A serial port that does not exist: unreachable, naming it.
    let o = wsim(&["run", "scenarios/", "--world", "real", "--dut", "serial:/dev/wsim-none"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("cannot open /dev/wsim-none at 115200 baud"), "{}", text(&o));
    // An unknown DUT kind is bad input.
    let o = wsim(&["run", "scenarios/", "--world", "real", "--dut", "usb:/dev/x"]);
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

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[test]
fn an_exec_duts_whole_process_group_is_killed_when_it_is_done() {
    // `sh -c` starts a long sleep in the background (as a firmware ELF would be) and
    // then becomes the agent; each DUT session appends the sleep's pid.
    let dir = tmp("pgroup");
    std::fs::create_dir_all(&dir).unwrap();
    let pids = dir.join("pids");
    let dut = format!(
        "exec:sleep 300 </dev/null >/dev/null 2>&1 & echo $! >> {}; exec {WSIM} agent",
        pids.display()
    );
    let (out, s) = run_real("pgroup-run", &dut, &["--filter", "close/close-when-not-started"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["counts"]["passed"], 1, "{s}");
    let pids: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    // The run's first contact and the scenario: two sessions, two sleeps.
    assert_eq!(pids.len(), 2, "{pids:?}");
    let t0 = std::time::Instant::now();
    while !pids.iter().all(|p| gone(*p)) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in &pids {
        assert!(gone(*p), "the background process {p} of the exec: DUT outlived the run");
    }
}

#[test]
fn servers_bind_the_named_address_and_placeholders_name_the_advertised_host() {
    // Bound on 127.0.0.2: the certificates name it, so TLS verifies as on 127.0.0.1.
    let (out, s) = run_real("bind2", "host", &["--bind", "127.0.0.2", "--filter", "tls/"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = verdicts(&s);
    assert!(v.len() > 5, "{v:?}");
    for (id, verdict) in &v {
        assert_eq!(verdict, &host_verdicts()[id], "{id}");
    }
    let dir = std::env::temp_dir().join(format!("wsim-agent-test-{}-bind2", std::process::id()));
    let case = s["scenarios"].as_array().unwrap().iter().find(|e| e["id"] == "tls/verified");
    let case = case.expect("tls/verified ran");
    let c = std::fs::read_to_string(dir.join(case["case_file"].as_str().unwrap())).unwrap();
    assert!(c.contains("Host: 127.0.0.2:"), "{c}");
    // The whole suite through an agent, servers on 127.0.0.1 advertised as localhost.
    let dut = format!("exec:{WSIM} agent");
    let (out, s) =
        run_real("advertise", &dut, &["--bind", "127.0.0.1", "--advertise-host", "localhost"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(&verdicts(&s), host_verdicts());
    let dir =
        std::env::temp_dir().join(format!("wsim-agent-test-{}-advertise", std::process::id()));
    let case = s["scenarios"].as_array().unwrap().iter().find(|e| e["id"] == "tls/verified");
    let c =
        std::fs::read_to_string(dir.join(case.unwrap()["case_file"].as_str().unwrap())).unwrap();
    assert!(c.contains("Host: localhost:"), "{c}");
}

#[test]
fn bad_bind_and_advertise_options_are_bad_input_before_anything_runs() {
    for (args, want) in [
        (vec!["--bind", "0.0.0.0"], "add --advertise-host"),
        (vec!["--advertise-host", "ws://board:80"], "expected a host name or an IP address"),
        (vec!["--bind", "192.0.2.1"], "--bind 192.0.2.1: cannot listen there"),
    ] {
        let dir = tmp("badbind");
        let mut a = vec!["run", "scenarios/", "--world", "real", "--report-dir"];
        a.push(dir.to_str().unwrap());
        a.extend_from_slice(&args);
        let o = wsim(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
        assert!(!dir.exists(), "{args:?}: a report folder was made");
    }
}

#[test]
fn a_scenario_marked_for_external_duts_is_skipped_there_with_its_reason() {
    let dir = tmp("skip-suite");
    std::fs::create_dir_all(&dir).unwrap();
    let marked = r#"name = "close on a client that never started returns ESP_FAIL"

[dut]
skip = { external = "needs the host's own loopback", linux = "differs on linux" }

[clients.a]
uri = "ws://127.0.0.1:9/"

[[steps]]
client.a = { call = "close", timeout_ms = 100, returns = -1 }
"#;
    std::fs::write(dir.join("marked.toml"), marked).unwrap();
    let run = |dut: &str, name: &str| {
        let rd = tmp(name);
        let o = wsim(&[
            "run",
            dir.to_str().unwrap(),
            "--world",
            "real",
            "--dut",
            dut,
            "--report-dir",
            rd.to_str().unwrap(),
        ]);
        (o, summary(&rd))
    };
    let (o, s) = run("host", "skip-host");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(s["scenarios"][0]["verdict"], "pass", "{s}");
    let (o, s) = run(&format!("exec:{WSIM} agent"), "skip-agent");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(s["scenarios"][0]["verdict"], "skip", "{s}");
    assert_eq!(
        s["scenarios"][0]["detail"],
        "not run on external DUTs: needs the host's own loopback"
    );
    // A bad kind or an empty reason: a located error at load.
    std::fs::write(dir.join("marked.toml"), marked.replace("linux =", "board =")).unwrap();
    let o = wsim(&["check", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("marked.toml:") && text(&o).contains("board"), "{}", text(&o));
    std::fs::write(dir.join("marked.toml"), marked.replace("\"differs on linux\"", "\"\""))
        .unwrap();
    let o = wsim(&["check", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("needs its reason"), "{}", text(&o));
}

#[test]
fn certificates_go_by_name_to_an_agent_with_the_runs_pki_and_inline_otherwise() {
    let dir = tmp("pki");
    let certs = dir.join("certs");
    let o = wsim(&["certs", "--out", certs.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ca_pem = std::fs::read_to_string(certs.join("ca.pem")).unwrap();
    // The CA's base64 as an inline certificate would carry it (its first 40 chars).
    let ca_b64_start = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes())[..40].to_string()
    };
    let wire = |name: &str| dir.join(format!("{name}.wire"));
    let run = |name: &str, agent_pki: bool, run_pki: bool| {
        let mut dut = format!("exec:tee -a {} | {WSIM} agent", wire(name).display());
        if agent_pki {
            dut.push_str(&format!(" --pki {}", certs.display()));
        }
        let mut extra = vec!["--filter", "tls/"];
        if run_pki {
            extra.extend_from_slice(&["--pki", certs.to_str().unwrap()]);
        }
        let (o, s) = run_real(&format!("pki-{name}"), &dut, &extra);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        for (id, v) in verdicts(&s) {
            assert_eq!(v, host_verdicts()[&id], "{name}: {id}");
        }
        std::fs::read_to_string(wire(name)).unwrap()
    };
    // The agent has the run's PKI: the CA, the client certificate and key by name.
    let w = run("named", true, true);
    assert!(w.contains(r#""cert_pem":{"pki":"ca"}"#), "{w}");
    assert!(w.contains(r#""global_ca":{"pki":"ca"}"#), "{w}");
    assert!(w.contains(r#"{"pki":"client-key"}"#), "{w}");
    assert!(!w.contains(&ca_b64_start), "the CA went inline");
    // The DER CA stays inline: the agent's "ca" is PEM.
    assert!(w.contains(r#""cert_pem":{"b64":"#), "{w}");
    // An agent without the ability, or a run with a fresh PKI: everything inline.
    let w = run("no-ability", false, true);
    assert!(!w.contains(r#"{"pki":"#) && w.contains(&ca_b64_start), "{w}");
    let w = run("fresh", true, false);
    assert!(!w.contains(r#"{"pki":"#), "{w}");
    // A PKI folder that is incomplete is bad input, for the run and for the agent.
    std::fs::remove_file(certs.join("client.key")).unwrap();
    let o = wsim(&["run", "scenarios/", "--world", "real", "--pki", certs.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("client.key"), "{}", text(&o));
    let o = wsim(&["agent", "--pki", certs.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("client.key"), "{}", text(&o));
}
