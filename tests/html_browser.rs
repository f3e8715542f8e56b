//! `index.html` in a real browser: headless Chromium (Debian's package) renders the
//! report; the test checks the rendered matrix and takes a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"] {
        if Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    panic!("headless Chromium is needed: `apt-get install chromium` (scripts/test.sh installs it)");
}

fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    c.arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn index_html_renders_the_case_matrix_in_chromium() {
    let dir = std::env::temp_dir().join(format!("wsim-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_wsim"))
        .args([
            "run",
            "tests/fixtures/suite",
            "tests/fixtures/wrong-expectation.toml",
            "--seed",
            "9",
            "--report-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(wsim::exit::FAILED), "one fixture fails on purpose");
    let index = dir.join("index.html");
    let url = format!("file://{}", index.canonicalize().unwrap().display());

    // The DOM after rendering: the matrix is there, with one row per case and the
    // verdict colours.
    let dom = headless(&dir.join("profile-dom")).args(["--dump-dom", &url]).output().unwrap();
    assert!(dom.status.success(), "{}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<table id=\"agent_case_results\">"), "{dom}");
    let rows = dom.matches("<tr class=\"case\">").count();
    assert_eq!(rows, 5, "one row per case");
    assert_eq!(dom.matches("class=\"case_ok\"><a").count(), 3, "three passes");
    assert_eq!(dom.matches("class=\"case_failed\"><a").count(), 1, "one failure");
    assert_eq!(dom.matches("class=\"case_info\"><a").count(), 1, "one skip");
    assert!(dom.contains("Case basic/chunking") && dom.contains("Case wrong-expectation"));

    // A screenshot: a real PNG of a real page.
    let png = dir.join("index.png");
    let shot = headless(&dir.join("profile-shot"))
        .args(["--window-size=1000,700", &format!("--screenshot={}", png.display()), &url])
        .output()
        .unwrap();
    assert!(shot.status.success(), "{}", String::from_utf8_lossy(&shot.stderr));
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1000, 700));
    assert!(bytes.len() > 10_000, "a rendered page, not a blank one ({} bytes)", bytes.len());
}
