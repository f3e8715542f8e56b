//! `wsim connect` as a user runs it: the real binary against a tokio-tungstenite echo
//! server on loopback.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::Value;
use tokio::process::Command;

async fn run_connect(args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        Command::new(env!("CARGO_BIN_EXE_wsim"))
            .arg("connect")
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("wsim connect finished in time")
    .expect("wsim runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines =
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    (out.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn field<'a>(v: &'a Value, k: &str) -> &'a Value {
    &v[k]
}

#[tokio::test]
async fn send_2000_bytes_then_close_prints_the_exact_event_sequence() {
    let addr = echo_server(None).await;
    let text = "a".repeat(2000);
    let uri = format!("ws://127.0.0.1:{}/echo", addr.port());
    let (code, lines, stderr) = run_connect(&[&uri, "--send-text", &text, "--close"]).await;
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = lines
        .iter()
        .map(|l| field(l, "event").as_str().unwrap())
        .filter(|n| *n != "header_received")
        .collect();
    assert_eq!(
        names,
        ["begin", "before_connect", "connected", "data", "data", "data", "closed", "finish"]
    );
    let data: Vec<&Value> = lines.iter().filter(|l| l["event"] == "data").collect();
    let pick = |v: &Value| {
        (
            v["op_code"].as_u64().unwrap(),
            v["fin"].as_bool().unwrap(),
            v["data_len"].as_u64().unwrap(),
            v["payload_len"].as_i64().unwrap(),
            v["payload_offset"].as_i64().unwrap(),
        )
    };
    assert_eq!(pick(data[0]), (1, true, 1024, 2000, 0));
    assert_eq!(pick(data[1]), (1, true, 976, 2000, 1024));
    assert_eq!(
        data[0]["text"].as_str().unwrap().len() + data[1]["text"].as_str().unwrap().len(),
        2000
    );
    // The server's CLOSE reply is DATA with op_code 8.
    assert_eq!(data[2]["op_code"], 8);
    for l in &lines {
        for k in [
            "t_ms",
            "op_code",
            "fin",
            "data_len",
            "payload_len",
            "payload_offset",
            "error_handle",
            "close_status_code",
        ] {
            assert!(l.get(k).is_some(), "{k} missing in {l}");
        }
        for k in [
            "esp_tls_last_esp_err",
            "esp_tls_stack_err",
            "esp_tls_cert_verify_flags",
            "error_type",
            "esp_ws_handshake_status_code",
            "esp_transport_sock_errno",
        ] {
            assert!(l["error_handle"].get(k).is_some(), "error_handle.{k} missing in {l}");
        }
    }
}

#[tokio::test]
async fn binary_payloads_print_as_hex_and_close_code_is_sent() {
    let srv = RawServer::bind().await;
    let uri = srv.uri("/raw");
    let child = tokio::spawn(async move {
        run_connect(&[
            &uri,
            "--send-bin-hex",
            "00ff10",
            "--close-code",
            "4001",
            "--close-reason",
            "done",
        ])
        .await
    });
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    let f = conn.read_frame().await;
    assert_eq!((f.opcode, f.payload), (2, vec![0x00, 0xff, 0x10]));
    conn.write(&frame(0x82, &[0xff, 0x00])).await;
    let close = conn.read_frame().await;
    assert_eq!(close.payload, [&4001u16.to_be_bytes()[..], b"done"].concat());
    conn.write(&frame(0x88, &4001u16.to_be_bytes())).await;
    drop(conn);
    let (code, lines, stderr) = child.await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    let bin =
        lines.iter().find(|l| l["event"] == "data" && l["op_code"] == 2).expect("binary data line");
    assert_eq!(bin["hex"], "ff00");
    let close = lines.iter().find(|l| l["event"] == "data" && l["op_code"] == 8).unwrap();
    assert_eq!(close["close_status_code"], 4001);
}

#[tokio::test]
async fn a_refused_connection_without_reconnect_exits_with_failed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let uri = format!("ws://127.0.0.1:{port}/");
    let (code, lines, _) = run_connect(&[&uri, "--disable-auto-reconnect"]).await;
    assert_eq!(code, wsim::exit::FAILED);
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["begin", "before_connect", "error", "disconnected", "finish"]);
    assert!(lines[2]["text"].as_str().unwrap().contains("ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST"));
}

#[tokio::test]
async fn bad_input_exits_with_bad_input() {
    let (code, _, stderr) = run_connect(&["INVALID"]).await;
    assert_eq!(code, wsim::exit::BAD_INPUT);
    assert!(stderr.contains("invalid URI"), "{stderr}");
    let (code, _, _) = run_connect(&["ws://127.0.0.1:1/", "--send-bin-hex", "zz"]).await;
    assert_eq!(code, wsim::exit::BAD_INPUT);
    let (code, _, _) = run_connect(&["ws://127.0.0.1:1/", "--profile", "idf4"]).await;
    assert_eq!(code, wsim::exit::BAD_INPUT);
}

#[tokio::test]
async fn duration_bounds_a_run_against_a_dead_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let uri = format!("ws://127.0.0.1:{port}/");
    let t0 = std::time::Instant::now();
    let (code, lines, _) =
        run_connect(&[&uri, "--duration", "0.5", "--reconnect-timeout-ms", "100"]).await;
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(code, wsim::exit::FAILED);
    assert!(lines.iter().filter(|l| l["event"] == "before_connect").count() >= 2);
}
