//! The catalogue through the `Dut` seam in the real world: the model in this process
//! and the model behind the agent protocol (`exec:"wsim agent"`) over loopback sockets
//! give the golden verdicts of the simulated world.

use std::collections::BTreeMap;

use wsim::conformance::{RunConfig, World, golden_entries, run_cases, select};
use wsim::dut::agent::DutSpec;
use wsim::esp::Profile;

const CASES: &[&str] = &[
    "1.1.*", "2.*", "3.1", "3.2", "4.1.1", "5.3", "5.6", "5.9", "6.2.*", "6.3.1", "7.1.*", "7.9.1",
    "9.7.1", "10.1.1", "12.1.1",
];

fn verdicts(dut: DutSpec) -> BTreeMap<String, (String, String)> {
    let cfg = RunConfig {
        agent: "t".into(),
        world: World::Real,
        dut,
        profile: Profile::Idf6,
        buffer_size: 4096,
        jobs: 2,
        seed: 1,
    };
    let pats: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    let sel = select(&pats, &[]).unwrap();
    let mut out = BTreeMap::new();
    run_cases(&cfg, &sel, |o| {
        out.insert(
            o.file.id.clone(),
            (o.verdict.behavior.to_string(), o.verdict.behavior_close.to_string()),
        );
    });
    out
}

fn golden() -> BTreeMap<String, (String, String)> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/golden/idf6.json");
    let g: wsim::conformance::Index =
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    golden_entries(&g)
        .unwrap()
        .iter()
        .map(|(k, e)| (k.clone(), (e.behavior.clone(), e.behavior_close.clone())))
        .collect()
}

fn check(got: BTreeMap<String, (String, String)>) {
    let g = golden();
    assert_eq!(got.len(), 8 + 11 + 2 + 1 + 3 + 4 + 1 + 6 + 1 + 1 + 1 + 1);
    let diff: Vec<String> = got
        .iter()
        .filter(|(id, v)| g.get(*id) != Some(v))
        .map(|(id, v)| format!("{id}: {v:?}, golden {:?}", g.get(id)))
        .collect();
    assert!(diff.is_empty(), "{diff:#?}");
}

#[test]
fn the_model_over_loopback_gives_the_golden_verdicts() {
    check(verdicts(DutSpec::Host));
}

#[test]
fn the_model_behind_the_agent_protocol_gives_the_golden_verdicts() {
    check(verdicts(DutSpec::Exec(format!("{} agent", env!("CARGO_BIN_EXE_wsim")))));
}
