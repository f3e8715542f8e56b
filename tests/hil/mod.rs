//! Shared by the hardware-in-the-loop tests: running `wsim`, reading reports, the host
//! model's verdicts in the real world, pseudo-terminal pairs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

pub const WSIM: &str = env!("CARGO_BIN_EXE_wsim");

pub fn wsim(args: &[&str]) -> Output {
    Command::new(WSIM).args(args).output().expect("wsim runs")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A fresh folder for `name` under the temporary directory (prefix `tag`).
pub fn tmp(tag: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wsim-{tag}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub fn summary(dir: &Path) -> Value {
    let p = dir.join("summary.json");
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

pub fn verdicts(s: &Value) -> BTreeMap<String, String> {
    s["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["id"].as_str().unwrap().to_string(), e["verdict"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Runs the suite (or a filtered part) in the real world on `dut`; the report goes to
/// `dir`.
pub fn run_real_in(dir: &Path, dut: &str, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["run", "scenarios/", "--world", "real", "--seed", "1", "--dut", dut];
    args.extend_from_slice(&["--report-dir", dir.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = wsim(&args);
    let s = summary(dir);
    (out, s)
}

/// The host model's verdicts in the real world, computed once per test binary.
pub fn host_verdicts() -> &'static BTreeMap<String, String> {
    static HOST: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let (out, s) = run_real_in(&tmp("hil", "host"), "host", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        verdicts(&s)
    })
}

/// A pseudo-terminal pair in raw mode (no echo, no line editing, bytes as they are):
/// the master end, the slave end (held open so the pair lives while the DUT side
/// closes and reopens it) and the slave's path.
pub fn pty_pair() -> (OwnedFd, OwnedFd, PathBuf) {
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    let p = nix::pty::openpty(None, None).expect("a pseudo-terminal pair");
    let mut t = tcgetattr(&p.slave).unwrap();
    cfmakeraw(&mut t);
    tcsetattr(&p.slave, SetArg::TCSANOW, &t).unwrap();
    // openpty(3) makes inheritable descriptors: a child would hold the pair open.
    for fd in [&p.master, &p.slave] {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).unwrap();
    }
    let path = nix::unistd::ttyname(&p.slave).expect("the slave's path");
    (p.master, p.slave, path)
}
