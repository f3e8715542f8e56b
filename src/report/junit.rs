//! `junit.xml` for CI systems.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::run::{RunInfo, ScenarioReport, Verdict};

/// The JUnit XML of a run: one suite, one test case per scenario.
pub fn junit_xml(
    info: &RunInfo,
    reports: &[ScenarioReport],
    wall_ms: u64,
) -> Result<String, String> {
    let mut report = Report::new("wsim");
    let mut suite = TestSuite::new(format!("wsim: {} ({})", info.dut.agent, info.world));
    suite.set_time(Duration::from_millis(wall_ms));
    suite.add_property(("seed", info.seed.to_string().as_str()));
    suite.add_property(("profile", info.profile.as_str()));
    for r in reports {
        let mut status = match r.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Skip => TestCaseStatus::skipped(),
            Verdict::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
        };
        if let Some(d) = &r.detail {
            let first = d.lines().next().unwrap_or_default().to_string();
            status.set_message(first);
            if r.verdict != Verdict::Skip {
                status.set_description(d.clone());
            }
        }
        let mut case = TestCase::new(r.id.clone(), status);
        case.set_classname(r.id.split('/').next().unwrap_or("wsim").to_string());
        case.set_time(Duration::from_millis(r.wall_ms));
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    report.to_string().map_err(|e| e.to_string())
}
