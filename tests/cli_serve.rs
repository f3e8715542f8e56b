//! `wsim serve` and `wsim certs` as a firmware developer uses them: echo servers on
//! loopback that `wsim connect` (the model) can talk to over ws and wss.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_wsim")).arg("connect").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn serve_prints_its_urls_and_echoes_over_ws_and_wss() {
    let certs = std::env::temp_dir().join(format!("wsim-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&certs);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["serve", "--port", "0", "--tls-port", "0", "--certs-dir"])
        .arg(&certs)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _guard = Serve(child);
    let ws = lines.next().unwrap().unwrap();
    let wss = lines.next().unwrap().unwrap();
    let ca = lines.next().unwrap().unwrap();
    let ws = ws.strip_prefix("ws echo:  ").expect("ws line").to_string();
    let wss = wss.strip_prefix("wss echo: ").expect("wss line").to_string();
    assert!(ws.starts_with("ws://127.0.0.1:") && wss.starts_with("wss://127.0.0.1:"), "{ws} {wss}");
    let ca_path = ca.strip_prefix("CA certificate: ").expect("CA line").to_string();
    assert!(std::fs::read_to_string(&ca_path).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

    for (uri, extra) in
        [(ws.as_str(), vec![]), (wss.as_str(), vec!["--cert-pem", ca_path.as_str()])]
    {
        let mut args = vec![uri, "--send-text", "hello from the model", "--close"];
        args.extend(extra);
        let events = connect(&args);
        let data =
            events.iter().find(|e| e["event"] == "data" && e["op_code"] == 1).expect("the echo");
        assert_eq!(data["text"], "hello from the model");
        assert_eq!(events.last().unwrap()["event"], "finish");
    }
}

#[test]
fn certs_writes_the_test_pki() {
    let dir = std::env::temp_dir().join(format!("wsim-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args(["certs", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for f in [
        "ca.pem",
        "ca.der",
        "server.pem",
        "server.key",
        "expired.pem",
        "wrong-host.pem",
        "untrusted.pem",
        "self-signed.pem",
        "client.pem",
        "client.key",
    ] {
        let body = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!body.is_empty(), "{f}");
    }
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
}
