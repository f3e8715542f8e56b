//! A DUT that cannot change its build options (a firmware build: no `sdkconfig`
//! ability) skips the scenarios that need other options, naming them, and runs the
//! ones its build suits.

use std::sync::Arc;

use wsim::esp::Sdkconfig;
use wsim::run::{DutSite, RunContext, Verdict, run_scenario};

fn run(path: &str, build: Option<Sdkconfig>) -> (Verdict, Option<String>) {
    let loaded = wsim::scenario::load_all(&[path.into()]).expect("the scenario loads").remove(0);
    let ctx = RunContext {
        pki: Arc::new(wsim::certs::TestPki::generate().expect("a PKI")),
        profile: wsim::esp::Profile::Idf6,
        seed: 1,
        world: wsim::scenario::World::Sim,
        sdkconfig: build.unwrap_or_default(),
        dut: wsim::dut::agent::DutSpec::Host,
        site: DutSite { fixed_build: build, ..Default::default() },
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let report = rt.block_on(run_scenario(&loaded, &ctx));
    (report.verdict, report.detail)
}

#[test]
fn a_fixed_default_build_skips_a_scenario_that_needs_another_and_names_the_option() {
    let (v, detail) = run("scenarios/tls/expired.toml", Some(Sdkconfig::default()));
    assert_eq!(v, Verdict::Skip, "{detail:?}");
    let detail = detail.unwrap();
    assert!(detail.starts_with("needs CONFIG_MBEDTLS_HAVE_TIME_DATE=y:"), "{detail}");
    assert!(detail.contains("cannot change build options"), "{detail}");
}

#[test]
fn a_fixed_build_with_the_options_runs_the_scenario_and_one_without_them_skips_the_default_one() {
    let mut timedate = Sdkconfig::default();
    timedate.set("CONFIG_MBEDTLS_HAVE_TIME_DATE=y").unwrap();
    let (v, detail) = run("scenarios/tls/expired.toml", Some(timedate));
    assert_eq!(v, Verdict::Pass, "{detail:?}");
    let (v, detail) = run("scenarios/tls/expired-accepted-by-default.toml", Some(timedate));
    assert_eq!(v, Verdict::Skip, "{detail:?}");
    assert!(detail.unwrap().starts_with("needs CONFIG_MBEDTLS_HAVE_TIME_DATE=n:"));
}

#[test]
fn a_dut_that_can_change_its_build_runs_every_scenario() {
    assert_eq!(run("scenarios/tls/expired.toml", None).0, Verdict::Pass);
}
