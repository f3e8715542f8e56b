//! Scenario files a hostile or careless user writes: sizes at the edges of the integer
//! types, zero and endless times, symbolic-link loops, device files and FIFOs, unknown
//! placeholders, frames that are two things at once. Each must give a clear, located
//! error from `wsim check`, or run to a verdict: never an abort, a panic, a hang or
//! unbounded memory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn wsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wsim")).args(args).output().expect("wsim runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wsim-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const HEAD: &str = r#"name = "hostile"
[servers.main]
kind = "script"
[clients.a]
uri = "ws://{main}/"
"#;

/// Writes `body` as a scenario in a folder of its own and runs `wsim check` on it.
fn check(name: &str, file: &str, body: &str) -> (Output, PathBuf) {
    let dir = tmp(name);
    let path = dir.join(file);
    std::fs::write(&path, body).unwrap();
    (wsim(&["check", path.to_str().unwrap()]), path)
}

/// `wsim check` fails with exit 2, naming the file, the line and `what`.
fn rejected(name: &str, body: &str, line: usize, what: &str) {
    let (out, path) = check(name, "s.toml", body);
    let msg = text(&out);
    assert_eq!(out.status.code(), Some(wsim::exit::BAD_INPUT), "{name}: {msg}");
    let at = format!("{}:{line}:", path.display());
    assert!(msg.contains(&at), "{name}: expected the location {at}, got: {msg}");
    assert!(msg.contains(what), "{name}: expected {what:?} in: {msg}");
}

#[test]
fn sizes_beyond_the_limits_are_errors_at_their_line() {
    let big = i64::MAX.to_string();
    let steps = |step: &str| format!("{HEAD}[[steps]]\nclient.a = \"start\"\n[[steps]]\n{step}\n");
    rejected(
        "random",
        &steps(&format!("server.main.send = {{ binary = {{ random = {big} }} }}")),
        9,
        "random = 9223372036854775807 exceeds the payload limit",
    );
    rejected(
        "repeat",
        &steps(&format!("server.main.send = {{ text = {{ repeat = \"x\", len = {big} }} }}")),
        9,
        "exceeds the payload limit",
    );
    rejected(
        "send-bin",
        &steps(&format!("client.a = {{ send_bin = {{ random = {big} }} }}")),
        9,
        "exceeds the payload limit",
    );
    rejected(
        "four-gib",
        &steps("client.a = { send_bin = { random = 4294967296 } }"),
        9,
        "exceeds the payload limit",
    );
    let pad = HEAD.replace(
        "kind = \"script\"\n",
        &format!("kind = \"script\"\nhandshake = {{ pad = {big} }}\n"),
    ) + "[[steps]]\nclient.a = \"start\"\n";
    rejected("pad", &pad, 4, "pad = 9223372036854775807 exceeds the limit");
    // Sixteen payloads of 16 MiB each pass one by one, not together.
    let mut many = format!("{HEAD}[[steps]]\nclient.a = \"start\"\n");
    for _ in 0..17 {
        many.push_str("[[steps]]\nclient.a = { send_bin = { random = 16777216 } }\n");
    }
    rejected("total", &many, 41, "add up to more than the limit");
}

#[test]
fn json_numbers_at_u64_max_are_errors_or_run() {
    let max = u64::MAX.to_string();
    let scenario = |server: &str, step: &str| {
        format!(
            r#"{{"name": "j", "servers": {{"main": {{"kind": "script"{server}}}}},
 "clients": {{"a": {{"uri": "ws://{{main}}/"}}}},
 "steps": [{{"client": {{"a": "start"}}}},
  {step}]}}"#
        )
    };
    let (out, path) = check(
        "frames",
        "s.json",
        &scenario(
            "",
            &format!(
                r#"{{"server": {{"main": {{"send_fragmented": {{"text": "abc", "frames": [1, {max}]}}}}}}}}"#
            ),
        ),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(&format!("{}:4:", path.display())), "{}", text(&out));
    assert!(text(&out).contains("a fragment size"), "{}", text(&out));
    let (out, _) = check(
        "split",
        "s.json",
        &scenario(&format!(r#", "handshake": {{"split": [{max}]}}"#), r#"{"wait_ms": 1}"#),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("a split piece"), "{}", text(&out));
    // A claimed length is only a claim: it runs, and the client sees what it sees.
    let (out, path) = check(
        "length",
        "s.json",
        &scenario(
            "",
            &format!(
                r#"{{"expect": {{"a": [{{"event": "begin"}}, {{"event": "before_connect"}}]}}}},
  {{"server": {{"main": {{"send": {{"binary": "ab", "length": {max}}}}}}}}},
  {{"wait_ms": 3000}}"#
            ),
        ),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let reports = path.parent().unwrap().join("reports");
    let run = wsim(&[
        "run",
        path.to_str().unwrap(),
        "--seed",
        "1",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert!(matches!(run.status.code(), Some(0 | 1)), "{}", text(&run));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("summary.json")).unwrap())
            .unwrap();
    let detail = summary["scenarios"][0]["detail"].as_str().unwrap_or("");
    assert!(!detail.contains("panic") && !detail.contains("internal"), "{detail}");
}

#[test]
fn times_of_zero_or_beyond_the_limits_are_errors() {
    rejected(
        "timeout-zero",
        &format!("timeout_ms = 0\n{HEAD}[[steps]]\nclient.a = \"start\"\n"),
        1,
        "timeout_ms must be at least 1",
    );
    rejected(
        "wait-forever",
        &format!("{HEAD}[[steps]]\nwait_ms = {}\n", i64::MAX),
        7,
        "exceeds the limit of 86400000 ms",
    );
    rejected(
        "wait-beyond-timeout",
        &format!("timeout_ms = 100\n{HEAD}[[steps]]\nwait_ms = 200\n"),
        8,
        "longer than the scenario's timeout_ms",
    );
    rejected(
        "within",
        &format!("{HEAD}[[steps]]\nexpect.a = {{ event = \"begin\", within_ms = {} }}\n", i64::MAX),
        7,
        "within_ms",
    );
    rejected(
        "latency",
        &format!(
            "{HEAD}[[faults]]\nserver = \"main\"\ntoxic = {{ type = \"latency\", latency_ms = {} }}\n[[steps]]\nwait_ms = 1\n",
            i64::MAX
        ),
        8,
        "latency_ms",
    );
    rejected(
        "buffer",
        &(HEAD.replace("uri = ", &format!("buffer_size = {}\nuri = ", i32::MAX))
            + "[[steps]]\nwait_ms = 1\n"),
        5,
        "buffer_size = 2147483647 exceeds the limit",
    );
}

#[test]
fn one_of_tables_and_placeholders_are_checked_at_load() {
    let step = |s: &str| format!("{HEAD}[[steps]]\n{s}\n");
    rejected(
        "two-payloads",
        &step("server.main.send = { text = \"a\", binary = \"b\" }"),
        7,
        "a frame needs exactly one of text, binary, cont, ping, pong, close, opcode (found text, binary)",
    );
    rejected("empty-frame", &step("server.main.send = {}"), 7, "(found none)");
    rejected(
        "fragmented-without-payload",
        &step("server.main.send_fragmented = { frames = [1] }"),
        7,
        "send_fragmented needs exactly one of text, binary",
    );
    rejected(
        "interleave-after-the-end",
        &step(
            "server.main.send_fragmented = { text = \"abc\", frames = [1], interleave = [{ after = 5, frame = { ping = \"\" } }] }",
        ),
        7,
        "after = 5 but the message has 2 fragments",
    );
    rejected(
        "unknown-placeholder",
        &(HEAD.replace("ws://{main}/", "ws://{mian}/") + "[[steps]]\nwait_ms = 1\n"),
        5,
        "placeholder {mian} names an unknown server \"mian\"",
    );
    rejected(
        "unknown-placeholder-in-a-step",
        &step("expect_server.main = { request_line = \"GET {other.port} HTTP/1.1\" }"),
        7,
        "unknown server \"other\"",
    );
    rejected(
        "remove-unknown-fault",
        &step("fault = { remove = [\"lag\"] }"),
        7,
        "no active fault named \"lag\"",
    );
    rejected(
        "opcode-range",
        &step("server.main.send = { opcode = 200 }"),
        7,
        "opcode = 200 but opcodes are 0-15",
    );
    rejected(
        "expected-random-without-key",
        &step("expect.a = { event = \"data\", data = { random = 4 } }"),
        7,
        "needs the `key`",
    );
    rejected(
        "echo-with-script-keys",
        &(HEAD.replace("kind = \"script\"", "kind = \"echo\"\necho = true")
            + "[[steps]]\nwait_ms = 1\n"),
        4,
        "`echo` is for scripted servers",
    );
}

#[test]
fn data_files_stay_inside_the_scenario_folder_and_are_regular() {
    let step =
        |f: &str| format!("{HEAD}[[steps]]\nclient.a = {{ send_bin = {{ file = \"{f}\" }} }}\n");
    rejected("absolute", &step("/dev/zero"), 7, "absolute paths are not allowed");
    rejected("escape", &step("../../etc/passwd"), 7, "`..` is not allowed");
    let dir = tmp("links");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
    std::fs::write(dir.join("s.toml"), step("zero")).unwrap();
    let out = wsim(&["check", dir.join("s.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("leads outside the scenario's folder"), "{}", text(&out));
    // A FIFO must be refused without opening it (opening would block forever).
    let fifo = dir.join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    std::fs::write(dir.join("s.toml"), step("pipe")).unwrap();
    let t0 = Instant::now();
    let out = wsim(&["check", dir.join("s.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not a regular file"), "{}", text(&out));
    // A scenario file that is a FIFO is refused the same way.
    let fifo_scenario = dir.join("fifo.toml");
    assert!(Command::new("mkfifo").arg(&fifo_scenario).status().unwrap().success());
    let out = wsim(&["check", dir.to_str().unwrap()]);
    assert!(text(&out).contains("fifo.toml:1:1: not a regular file"), "{}", text(&out));
    assert!(t0.elapsed() < Duration::from_secs(20));
    // Certificates follow the same rule.
    rejected(
        "cert-file",
        &(HEAD.replace(
            "uri = ",
            "cert_pem = { file = \"/etc/ssl/certs/ca-certificates.crt\" }\nuri = ",
        ) + "[[steps]]\nwait_ms = 1\n"),
        5,
        "absolute paths are not allowed",
    );
}

fn write(p: &Path, body: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

#[test]
fn symlink_loops_are_walked_once() {
    let dir = tmp("loops");
    let ok = format!("{HEAD}[[steps]]\nwait_ms = 1\n");
    write(&dir.join("suite/a.toml"), &ok);
    write(&dir.join("suite/sub/b.toml"), &ok);
    // Two links back to the folder itself: a naive walk grows exponentially.
    std::os::unix::fs::symlink(dir.join("suite"), dir.join("suite/sub/loop1")).unwrap();
    std::os::unix::fs::symlink(dir.join("suite"), dir.join("suite/sub/loop2")).unwrap();
    std::os::unix::fs::symlink(dir.join("suite/a.toml"), dir.join("suite/sub/a-again.toml"))
        .unwrap();
    let t0 = Instant::now();
    let out = wsim(&["list", dir.join("suite").to_str().unwrap()]);
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids, vec!["a", "sub/b"], "each file once, under its first path");
}

#[test]
fn two_random_payloads_differ_and_a_key_repeats_one() {
    let src = format!(
        "{HEAD}[[steps]]\nclient.a = {{ send_bin = {{ random = 32 }} }}\n[[steps]]\nclient.a = {{ send_bin = {{ random = 32 }} }}\n[[steps]]\nclient.a = {{ send_bin = {{ random = 32, key = \"k\" }} }}\n[[steps]]\nexpect.a = {{ event = \"data\", data = {{ random = 32, key = \"k\" }} }}\n"
    );
    let s = wsim::scenario::parse_scenario(Path::new("x.toml"), &src, "x".into()).unwrap();
    let bytes: Vec<Vec<u8>> = s
        .plan
        .steps
        .iter()
        .filter_map(|st| match &st.action {
            wsim::scenario::StepAction::Client(c) => match &c[0].1.call {
                wsim::scenario::Call::Send { data, .. } => Some(data.produce(7)),
                _ => None,
            },
            wsim::scenario::StepAction::Expect(x) => x[0].1[0].data.as_ref().map(|d| d.produce(7)),
            _ => None,
        })
        .collect();
    assert_eq!(bytes.len(), 4);
    assert_ne!(bytes[0], bytes[1], "two random payloads draw their own bytes");
    assert_eq!(bytes[2], bytes[3], "a shared key gives the same bytes");
    assert_ne!(bytes[0], bytes[2]);
}

#[test]
fn reactions_are_checked_at_load() {
    let with = |reaction: &str| {
        format!("{HEAD}[[clients.a.reactions]]\n{reaction}\n[[steps]]\nclient.a = \"start\"\n")
    };
    rejected("reaction-unknown-key", &with("echo = true\nrepeat = 2"), 8, "unknown field `repeat`");
    rejected(
        "reaction-two-things",
        &with("echo = true\nclose_after = { messages = 1, code = 1000 }"),
        6,
        "a reaction needs exactly one of reply, echo, close_after (found echo, close_after)",
    );
    rejected("reaction-nothing", &with("timeout_ms = 5"), 6, "(found none)");
    rejected("reply-without-on", &with("reply = { send_text = \"x\" }"), 6, "a `reply` needs `on`");
    rejected(
        "on-without-event",
        &with("on = { op_code = 1 }\nreply = \"stop\""),
        7,
        "`on` names its `event`",
    );
    rejected(
        "on-unknown-key",
        &with("on = { event = \"data\", within_ms = 5 }\nreply = \"stop\""),
        7,
        "unknown field `within_ms`",
    );
    rejected(
        "reply-start",
        &with("on = { event = \"data\" }\nreply = \"start\""),
        8,
        "a handler can reply with a send",
    );
    rejected(
        "reply-set-uri",
        &with("on = { event = \"data\" }\nreply = { set_uri = \"ws://x/\" }"),
        8,
        "a handler can reply with a send",
    );
    rejected(
        "reply-background",
        &with("on = { event = \"data\" }\nreply = { call = \"stop\", background = true }"),
        8,
        "`background` does not apply",
    );
    rejected(
        "echo-with-on",
        &with("on = { event = \"data\" }\necho = true"),
        7,
        "`on` goes with `reply`",
    );
    rejected(
        "close-after-zero",
        &with("close_after = { messages = 0, code = 1000 }"),
        7,
        "messages counts from 1",
    );
    rejected(
        "reply-payload-limit",
        &with("on = { event = \"data\" }\nreply = { send_bin = { random = 99999999999 } }"),
        8,
        "exceeds the payload limit",
    );
    rejected(
        "echo-timeout-limit",
        &with("echo = true\ntimeout_ms = 999999999999"),
        8,
        "exceeds the limit",
    );
}

/// A handler that answers every echo with a new message loops with the echo server at no
/// virtual cost: the clock stands still, so only the event limit ends it (an `error`
/// verdict naming the loop), in bounded time and memory.
#[test]
fn a_zero_cost_loop_between_a_handler_and_a_server_ends_with_an_error() {
    let dir = tmp("loop");
    let body = r#"name = "echo loop"
timeout_ms = 2000
ignore = ["header_received"]
[servers.main]
[clients.a]
uri = "ws://{main}/"
[[clients.a.reactions]]
on = { event = "data", op_code = 1 }
reply = { send_text = "again" }
[[steps]]
client.a = "start"
[[steps]]
expect.a = [{ event = "begin" }, { event = "before_connect" }, { event = "connected" }]
[[steps]]
client.a = { send_text = "go" }
[[steps]]
wait_ms = 1000
"#;
    std::fs::write(dir.join("loop.toml"), body).unwrap();
    let reports = dir.join("reports");
    let t0 = Instant::now();
    let out = wsim(&[
        "run",
        dir.join("loop.toml").to_str().unwrap(),
        "--seed",
        "1",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert!(t0.elapsed() < Duration::from_secs(100), "took {:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(wsim::exit::FAILED), "{}", text(&out));
    assert!(text(&out).contains("raised more than 200000 events"), "{}", text(&out));
    // The case report holds the 200,000 events (about 200 MB): not left in /tmp.
    let _ = std::fs::remove_dir_all(&dir);
}

/// A 1-byte RX buffer holds only the last byte of a CLOSE code (0xE8 of 1000): the model
/// reads what is there, 0 for the byte past it (the C code reads past its buffer), and
/// does not panic.
#[test]
fn a_one_byte_buffer_and_a_close_code_do_not_panic() {
    let dir = tmp("bs1");
    let body = r#"name = "bs1"
ignore = ["header_received"]
[servers.main]
kind = "script"
[clients.a]
uri = "ws://{main}/"
buffer_size = 1
[[steps]]
client.a = "start"
[[steps]]
expect.a = [{ event = "begin" }, { event = "before_connect" }, { event = "connected" }]
[[steps]]
server.main.send = { close = { code = 1000 } }
[[steps]]
expect.a = [{ event = "data", op_code = 8, data_len = 1 }, { event = "data", op_code = 8, data_len = 1 }, { event = "closed", close_status_code = 59392 }]
"#;
    std::fs::write(dir.join("bs1.toml"), body).unwrap();
    let reports = dir.join("reports");
    let out = wsim(&[
        "run",
        dir.join("bs1.toml").to_str().unwrap(),
        "--profile",
        "idf5.5",
        "--seed",
        "1",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(wsim::exit::SUCCESS), "{}", text(&out));
}
