//! `wsim fuzzingserver` against a small Autobahn client written here with
//! tokio-tungstenite (a strict, echoing client), through Autobahn's URL protocol:
//! getCaseCount, getCaseInfo, runCase for each case, getCaseStatus, updateReports,
//! stopServer; then the reports in `outdir` are checked.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

const AGENT: &str = "Tungstenite Test";

async fn open(addr: &str, path: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    client_async(format!("ws://{addr}{path}"), tcp).await.unwrap().0
}

/// Reads the one text message of a control endpoint, then the close.
async fn text_of(addr: &str, path: &str) -> String {
    let mut ws = open(addr, path).await;
    let mut got = String::new();
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m {
            got = t.to_string();
        }
    }
    got
}

/// The canonical driver's case loop: echo every message, let the library answer
/// pings and closes, stop at the end or on an error.
async fn run_case(addr: &str, n: usize) {
    let mut ws = open(addr, &format!("/runCase?case={n}&agent=Tungstenite%20Test")).await;
    while let Some(m) = ws.next().await {
        match m {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(m).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

#[test]
fn a_tungstenite_client_runs_the_url_protocol_and_the_reports_are_autobahns() {
    let dir = std::env::temp_dir().join(format!("wsim-fuzzingserver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let outdir = dir.join("reports");
    let spec = serde_json::json!({
        "url": "ws://127.0.0.1:0",
        "outdir": outdir,
        "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.1.*", "6.3.*", "6.5.*", "7.1.*", "7.7.*", "7.9.*", "9.7.1", "10.*", "12.1.1"],
        "exclude-cases": ["5.19", "5.20"],
        "exclude-agent-cases": {"Tungstenite*": ["4.2.*"]},
        "options": {"failByDrop": false}
    });
    let spec_path = dir.join("fuzzingserver.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["fuzzingserver", "-s"])
        .arg(&spec_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr =
        line.split("ws://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), async {
            let count: usize = text_of(&addr, "/getCaseCount").await.parse().unwrap();
            // 16 + 11 + 7 + 10 + 18 + 3 + 2 + 5 + 6 + 13 + 9 + 1 + 1 + 1
            assert_eq!(count, 103);
            let info: serde_json::Value =
                serde_json::from_str(&text_of(&addr, "/getCaseInfo?case=1").await).unwrap();
            assert_eq!(info["id"], "1.1.1");
            assert_eq!(info["description"], "Send text message with payload of length 0.");
            for n in 1..=count {
                run_case(&addr, n).await;
            }
            let status: serde_json::Value = serde_json::from_str(
                &text_of(&addr, "/getCaseStatus?case=1&agent=Tungstenite%20Test").await,
            )
            .unwrap();
            assert_eq!(status["behavior"], "OK");
            text_of(&addr, "/updateReports?agent=Tungstenite%20Test").await;
            text_of(&addr, "/stopServer").await;
        })
        .await
        .expect("the protocol run ended in time");
    });
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");

    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(outdir.join("index.json")).unwrap()).unwrap();
    let cases = index[AGENT].as_object().unwrap();
    assert_eq!(cases.len(), 103 - 5, "4.2.x are excluded for this agent");
    assert!(!cases.contains_key("4.2.1"));
    let mut bad = Vec::new();
    for (id, e) in cases {
        let b = e["behavior"].as_str().unwrap();
        let c = e["behaviorClose"].as_str().unwrap();
        if !matches!(b, "OK" | "NON-STRICT" | "INFORMATIONAL" | "UNIMPLEMENTED")
            || !matches!(c, "OK" | "INFORMATIONAL")
        {
            bad.push(format!("{id}: {b} / {c}"));
        }
    }
    assert!(bad.is_empty(), "a strict client passes: {bad:?}");
    assert_eq!(cases["12.1.1"]["behavior"], "UNIMPLEMENTED");
    assert_eq!(cases["7.1.6"]["behavior"], "INFORMATIONAL");
    // tungstenite drops TCP on a protocol error (no close code: passes), and answers
    // the fuzzer's close with its code.
    assert_eq!(cases["3.1"]["remoteCloseCode"], serde_json::Value::Null);
    assert_eq!(cases["1.1.1"]["remoteCloseCode"], 1000);
    assert_eq!(cases["1.1.1"]["reportfile"], "tungstenite_test_case_1_1_1.json");
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(outdir.join("tungstenite_test_case_2_2.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(case.as_object().unwrap().len(), 39);
    assert_eq!(case["received"], serde_json::json!([["pong", "Hello, world!"]]));
    assert_eq!(case["case"], 18, "16 cases of 1.x, then 2.1, 2.2");
    assert!(
        case["httpRequest"]
            .as_str()
            .unwrap()
            .starts_with("GET /runCase?case=18&agent=Tungstenite%20Test HTTP/1.1")
    );
    let html = std::fs::read_to_string(outdir.join("index.html")).unwrap();
    assert!(
        html.contains("agent_case_results")
            && html.contains("case_missing")
            && html.contains("Case 13.7.18")
    );
    assert!(outdir.join("tungstenite_test_case_9_7_1.html").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_spec_file_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("wsim-fuzzingserver-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (spec, want) in [
        (r#"{"url": "wss://127.0.0.1:9001"}"#, "wss (TLS) is not supported"),
        (r#"{"url": "ws://127.0.0.1:9001", "cases": ["1.1.99"]}"#, "no such case"),
        (r#"{"url": "ws://127.0.0.1:9001", "options": {"noSuch": 1}}"#, "unknown key \"noSuch\""),
        ("{\"url\": \n 5}", "line 2"),
    ] {
        let p = dir.join("spec.json");
        std::fs::write(&p, spec).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
            .args(["fuzzingserver", "-s"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{spec}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want) && err.contains("spec.json"), "{spec}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
