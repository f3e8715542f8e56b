//! The agent firmware built for ESP-IDF's `linux` target — the real esp_websocket_client
//! — driven through `wsim run --dut exec:` on a handful of scenarios (close, reactions,
//! large payloads staged and digested, TLS with inline and global CAs, mTLS, background
//! calls). Needs the prepared ESP-IDF (`WSIM_IDF_LINUX=/tmp/idf-linux`, or
//! /tmp/idf-linux/env.sh present; see /work/shared/tools/idf-linux/README.md); skips,
//! saying why, otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

const WSIM: &str = env!("CARGO_BIN_EXE_wsim");

/// The prepared ESP-IDF, or why there is none.
fn idf() -> Result<PathBuf, String> {
    let dir = std::env::var("WSIM_IDF_LINUX").unwrap_or_else(|_| "/tmp/idf-linux".into());
    let dir = PathBuf::from(dir);
    if dir.join("env.sh").is_file() && dir.join("build.sh").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "no prepared ESP-IDF for the linux target at {} (set WSIM_IDF_LINUX)",
            dir.display()
        ))
    }
}

/// Builds the firmware once per test run (incrementally, under target/).
fn build(idf: &Path) -> PathBuf {
    static ELF: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ELF.get_or_init(|| build_now(idf)).clone()
}

fn build_now(idf: &Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let name = idf.file_name().and_then(|n| n.to_str()).unwrap_or("idf");
    let out = root.join("target").join(format!("firmware-{name}"));
    let status = Command::new("bash")
        .arg(idf.join("build.sh"))
        .arg(root.join("firmware"))
        .arg(&out)
        .arg(root.join("firmware/sdkconfig.defaults"))
        .status()
        .expect("bash runs");
    assert!(status.success(), "the firmware build failed ({status})");
    let elf = out.join("wsim-agent.elf");
    assert!(elf.is_file(), "no {}", elf.display());
    elf
}

#[test]
fn the_real_client_passes_scenarios_through_exec() {
    let idf = match idf() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIP firmware_linux: {why}");
            return;
        }
    };
    let elf = build(&idf);
    // The hello names the real client.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scenarios = [
        "close/client-close.toml",
        "close/client-close-with-code.toml",
        "reactions/echo-text.toml",
        "reactions/echo-binary.toml",
        "reactions/close-from-handler.toml",
        "fragmentation/echo-large-message.toml",
        "fragmentation/tx-send-text-2000.toml",
        "tls/verified.toml",
        "tls/der-ca.toml",
        "tls/global-ca-store.toml",
        "tls/mtls.toml",
        "tls/wrong-host.toml",
        // errno=119 in the scenario, 115 from glibc: the host rewrites it for linux DUTs.
        "handshake/http-404.toml",
        "events/error-contents-on-fin.toml",
    ];
    let report = std::env::temp_dir().join(format!("wsim-fw-linux-{}", std::process::id()));
    let out = Command::new(WSIM)
        .arg("run")
        .args(scenarios.iter().map(|s| root.join("scenarios").join(s)))
        .args(["--world", "real", "--seed", "1", "-j", "2", "--report-dir"])
        .arg(&report)
        .arg("--dut")
        .arg(format!("exec:{}", elf.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("DUT linux · IDF v") && stdout.contains(" client 1."),
        "the DUT is the real client on the linux target:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} passed, 0 failed, 0 errors", scenarios.len())),
        "every scenario passes against the real client:\n{stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let _ = std::fs::remove_dir_all(&report);
}

/// Talks to the agent directly: garbage and bad requests get the protocol's answers.
#[test]
fn the_agent_ignores_garbage_and_refuses_bad_requests() {
    use std::io::{BufRead, BufReader, Write};
    use wsim::dut::agent::{
        AgentMsg, HostMsg, Op, Payload, Received, Request, Resp, WireCall, decode, encode,
        encode_line,
    };

    let idf = match idf() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIP firmware_linux: {why}");
            return;
        }
    };
    let elf = build(&idf);
    let mut child = Command::new(&elf)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The next protocol message (log lines are skipped), bounded.
    let next = || -> (u32, AgentMsg) {
        loop {
            let line = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("a line in time");
            match decode::<AgentMsg>(line.as_bytes(), 1 << 20) {
                Received::Msg { seq, msg } => return (seq, msg),
                Received::Log(_) => continue,
                Received::Garbled(g, l) => panic!("the agent wrote a garbled line ({g}): {l}"),
            }
        }
    };
    let resp = || match next().1 {
        AgentMsg::Resp(r) => r,
        other => panic!("{other:?}"),
    };
    let (seq, AgentMsg::Hello(h)) = next() else { panic!("no boot hello") };
    assert_eq!((seq, h.proto, h.chip.as_str()), (0, 1, "linux"));
    assert!(h.idf.starts_with('v') && h.client.starts_with("1."), "{h:?}");
    assert!(h.can("background") && h.can("global_ca") && !h.can("sdkconfig") && !h.can("pki"));
    let mut seq = 0u32;
    let mut send = |stdin: &mut std::process::ChildStdin, id: u64, op: Op| {
        stdin.write_all(encode(seq, &HostMsg::Req(Request { id, op })).as_bytes()).unwrap();
        seq += 1;
    };
    // Garbage, bad checksums, another version, an over-long line, an unknown op: no
    // answer; the next good request is answered.
    stdin.write_all(b"hello there\n@W1 0 00000000 {}\n@W1 \xff\xfe\n@W2 1 2 3\n").unwrap();
    stdin.write_all(&vec![b'@'; 200_000]).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.write_all(encode_line(5, r#"{"t":"req","id":1,"op":"nope"}"#).as_bytes()).unwrap();
    send(&mut stdin, 2, Op::Hello);
    assert_eq!(resp(), Resp::ok(2, 0));
    assert!(matches!(next(), (_, AgentMsg::Hello(_))));
    let call = |c: &str| WireCall { call: c.into(), ..WireCall::default() };
    send(&mut stdin, 3, Op::Call { client: "x".into(), call: call("start"), background: false });
    assert!(resp().err.unwrap().contains("no client named"));
    send(&mut stdin, 4, Op::Call { client: "x".into(), call: call("warp"), background: false });
    assert!(resp().err.unwrap().contains("unknown call"));
    send(&mut stdin, 5, Op::Data { buf: 1, offset: 3, b64: "AAAA".into() });
    assert!(resp().err.unwrap().contains("chunk at 3"));
    send(&mut stdin, 6, Op::Data { buf: 1, offset: 0, b64: "!!".into() });
    assert!(resp().err.unwrap().contains("base64"));
    send(&mut stdin, 7, Op::Data { buf: 1, offset: 0, b64: "AAAA".into() });
    assert_eq!(resp(), Resp::ok(7, 3));
    send(&mut stdin, 8, Op::Data { buf: 1, offset: 3, b64: "AAAA".into() });
    assert_eq!(resp(), Resp::ok(8, 6));
    let mut bin = call("send_bin");
    bin.timeout = Some(1);
    bin.data = Some(Payload { b64: None, buf: Some(2) });
    send(&mut stdin, 9, Op::Call { client: "x".into(), call: bin.clone(), background: false });
    assert!(resp().err.unwrap().contains("no client named"));
    // Options the build does not have are refused, naming the option.
    send(
        &mut stdin,
        10,
        Op::Reset {
            sdkconfig: vec!["CONFIG_ESP_TLS_INSECURE=y".into()],
            global_ca: None,
            seed: None,
        },
    );
    assert!(resp().err.unwrap().contains("CONFIG_ESP_TLS_INSECURE"));
    // A NULL client (init refuses a common name with the skip) answers as the C API does.
    let cfg = serde_json::json!({"uri": "wss://h/", "cert_common_name": "h", "skip_cert_common_name_check": true});
    send(&mut stdin, 11, Op::Init { client: "n".into(), config: cfg, reactions: vec![] });
    assert_eq!(resp(), Resp::ok(11, 0));
    bin.data = Some(Payload { b64: None, buf: Some(1) });
    send(&mut stdin, 12, Op::Call { client: "n".into(), call: bin.clone(), background: false });
    assert_eq!(resp(), Resp::ok(12, -1));
    // The staged buffer was consumed.
    send(&mut stdin, 13, Op::Call { client: "n".into(), call: bin, background: false });
    assert!(resp().err.unwrap().contains("no staged buffer 1"));
    // A background call answers pending, then completes.
    send(
        &mut stdin,
        14,
        Op::Call { client: "n".into(), call: call("is_connected"), background: true },
    );
    assert_eq!(resp(), Resp { id: 14, ret: Some(0), err: None, pending: true });
    assert!(matches!(next().1, AgentMsg::Done(Resp { id: 14, ret: Some(0), .. })));
    send(&mut stdin, 15, Op::DestroyAll);
    assert_eq!(resp(), Resp::ok(15, 0));
    // End of input ends the agent.
    drop(stdin);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "{st}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent did not exit after its input ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
