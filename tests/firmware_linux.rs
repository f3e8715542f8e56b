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

/// Builds the firmware (incrementally, under target/) and returns the ELF.
fn build(idf: &Path) -> PathBuf {
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
        stdout.contains("DUT linux idf v") && stdout.contains(" client 1."),
        "the DUT is the real client on the linux target:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} passed, 0 failed, 0 errors", scenarios.len())),
        "every scenario passes against the real client:\n{stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let _ = std::fs::remove_dir_all(&report);
}
