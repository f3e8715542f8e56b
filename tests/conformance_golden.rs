//! The golden gate: the client model's Autobahn verdicts for every case, per profile,
//! are committed in conformance/golden/<profile>.json; a case whose `behavior` or
//! `behaviorClose` gets worse fails this test (durations are ignored).

use std::collections::BTreeMap;

use wsim::conformance::{
    IndexEntry, RunConfig, World, catalogue, compare, golden_entries, read_index, run_cases,
    select, to_json,
};
use wsim::dut::agent::DutSpec;
use wsim::esp::Profile;

fn config(profile: Profile) -> RunConfig {
    RunConfig {
        agent: format!("wsim-model-{profile}"),
        world: World::Sim,
        dut: DutSpec::Host,
        profile,
        buffer_size: 4096,
        jobs: 2,
        seed: 1,
    }
}

fn run(profile: Profile, cases: &[String]) -> BTreeMap<String, (IndexEntry, String)> {
    let sel = select(cases, &[]).unwrap();
    let mut out = BTreeMap::new();
    run_cases(&config(profile), &sel, |o| {
        out.insert(o.file.id.clone(), (o.file.index_entry(), to_json(&o.file)));
    });
    out
}

fn gate(profile: Profile) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/golden");
    let text = std::fs::read_to_string(dir.join(format!("{profile}.json"))).unwrap();
    let golden: wsim::conformance::Index = serde_json::from_str(&text).unwrap();
    let golden = golden_entries(&golden).unwrap();
    assert_eq!(golden.len(), catalogue().len(), "the golden file covers every case");
    let got: BTreeMap<String, IndexEntry> =
        run(profile, &[]).into_iter().map(|(k, (e, _))| (k, e)).collect();
    let ids: Vec<String> = catalogue().iter().map(|c| c.id.to_string()).collect();
    let d = compare(golden, &got, &ids);
    let worse: Vec<String> = d
        .worse
        .iter()
        .map(|c| format!("{}: {} / {} -> {} / {}", c.id, c.was.0, c.was.1, c.now.0, c.now.1))
        .collect();
    assert!(worse.is_empty(), "{profile}: verdicts got worse:\n{}", worse.join("\n"));
    let better: Vec<&str> = d.better.iter().map(|c| c.id.as_str()).collect();
    assert!(
        better.is_empty(),
        "{profile}: verdicts got better, update the golden file (wsim conformance --profile {profile} --write-golden …): {better:?}"
    );
}

#[test]
fn the_model_idf6_verdicts_are_no_worse_than_the_golden_file() {
    gate(Profile::Idf6);
}

#[test]
fn the_model_idf5_5_verdicts_are_no_worse_than_the_golden_file() {
    gate(Profile::Idf55);
}

#[test]
fn a_simulated_run_repeats_byte_for_byte() {
    let cases: Vec<String> =
        ["2.*", "5.19", "6.4.*", "7.1.*", "9.7.1"].iter().map(|s| s.to_string()).collect();
    let a = run(Profile::Idf6, &cases);
    let b = run(Profile::Idf6, &cases);
    assert_eq!(a.len(), 11 + 1 + 4 + 6 + 1);
    for (id, (_, file)) in &a {
        assert_eq!(Some(file), b.get(id).map(|(_, f)| f), "case {id}");
    }
    // Virtual time: the 6.4.x waits (2 s) show in the durations.
    assert!(a["6.4.1"].0.duration >= 2000, "{:?}", a["6.4.1"].0);
}

#[test]
fn the_reports_index_reads_back() {
    let dir = std::env::temp_dir().join(format!("wsim-conformance-index-{}", std::process::id()));
    let mut w = wsim::conformance::ReportWriter::create(&dir).unwrap();
    let sel = select(&["1.1.1".to_string()], &[]).unwrap();
    run_cases(&config(Profile::Idf6), &sel, |o| w.add(&o.file).unwrap());
    w.write_index().unwrap();
    let idx = read_index(&dir).unwrap();
    assert_eq!(idx["wsim-model-idf6"]["1.1.1"].reportfile, "wsim_model_idf6_case_1_1_1.json");
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("wsim_model_idf6_case_1_1_1.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(case.as_object().unwrap().len(), 39, "Autobahn's 39 keys");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Snapshots of the new output formats: a case file (all 39 keys) and `index.json`,
/// from the simulated world (deterministic); the server version is redacted.
#[test]
fn snapshots_of_a_case_file_and_the_index() {
    let sel = select(&["2.2".to_string(), "6.4.1".to_string()], &[]).unwrap();
    let mut files = BTreeMap::new();
    run_cases(&config(Profile::Idf6), &sel, |o| {
        files.insert(o.file.id.clone(), o.file);
    });
    for (id, f) in &files {
        let v: serde_json::Value = serde_json::from_str(&to_json(f)).unwrap();
        insta::assert_json_snapshot!(format!("case_{}", id.replace('.', "_")), v, {
            ".httpResponse" => "[response: Server header carries the version]",
            ".httpRequest" => insta::dynamic_redaction(|v, _| {
                // The key is seeded; the request line and headers are the model's.
                let s = v.as_str().unwrap_or("").to_string();
                s.lines().filter(|l| !l.starts_with("Sec-WebSocket-Key")).collect::<Vec<_>>().join("\n")
            }),
            ".wirelog" => "[wire log: masks are seeded]",
        });
    }
    let index: wsim::conformance::Index = [(
        "wsim-model-idf6".to_string(),
        files.values().map(|f| (f.id.clone(), f.index_entry())).collect(),
    )]
    .into_iter()
    .collect();
    insta::assert_snapshot!("index_json", to_json(&index));
}

/// `wsim conformance --golden`: a case that got worse fails the run (exit 1) and is
/// named; a bad pattern is exit 2.
#[test]
fn the_cli_gate_names_a_case_that_got_worse() {
    let dir = std::env::temp_dir().join(format!("wsim-conformance-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let golden = dir.join("golden.json");
    // The model echoes invalid UTF-8 (FAILED); a golden file that says OK sees it worse.
    let entry = |b: &str| serde_json::json!({"behavior": b, "behaviorClose": b, "duration": 0, "remoteCloseCode": null, "reportfile": "x.json"});
    let g = serde_json::json!({"someone": {"6.3.1": entry("OK"), "1.1.1": entry("OK")}});
    std::fs::write(&golden, g.to_string()).unwrap();
    let wsim = env!("CARGO_BIN_EXE_wsim");
    let out = std::process::Command::new(wsim)
        .args(["conformance", "--cases", "6.3.1", "1.1.1", "--report-dir"])
        .arg(dir.join("r"))
        .arg("--golden")
        .arg(&golden)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("WORSE:  6.3.1 OK / OK -> FAILED / FAILED"), "{stdout}");
    assert!(!stdout.contains("WORSE:  1.1.1"), "{stdout}");
    assert!(
        dir.join("r/index.json").exists() && dir.join("r/wsim_model_idf6_case_6_3_1.html").exists()
    );
    let out = std::process::Command::new(wsim)
        .args(["conformance", "--cases", "1.1.99"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("case pattern \"1.1.99\": no such case"));
    let _ = std::fs::remove_dir_all(&dir);
}
