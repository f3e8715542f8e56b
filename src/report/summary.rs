//! `summary.json`: the run at a glance, and the file a baseline is made of.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dut::{DutRecord, deserialize_dut};
use crate::run::{RunInfo, ScenarioReport, Verdict};

/// Verdict counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Scenarios in the run.
    pub total: usize,
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Errored.
    pub errors: usize,
    /// Skipped.
    pub skipped: usize,
}

impl Counts {
    /// Counts the verdicts of `reports`.
    pub fn of(reports: &[ScenarioReport]) -> Counts {
        let mut c = Counts { total: reports.len(), ..Counts::default() };
        for r in reports {
            match r.verdict {
                Verdict::Pass => c.passed += 1,
                Verdict::Fail => c.failed += 1,
                Verdict::Error => c.errors += 1,
                Verdict::Skip => c.skipped += 1,
            }
        }
        c
    }
}

/// One scenario in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryEntry {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Verdict.
    pub verdict: Verdict,
    /// Wall-clock milliseconds.
    pub wall_ms: u64,
    /// Milliseconds on the world's clock (virtual in the simulated world).
    pub virtual_ms: u64,
    /// Failure, error or skip detail.
    pub detail: Option<String>,
    /// The failed step.
    pub failed_step: Option<usize>,
    /// The scenario's seed.
    pub seed: u64,
    /// The case file, relative to the report folder.
    pub case_file: String,
    /// The values its randomised numbers drew, by key path (absent when it has none).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub drawn: std::collections::BTreeMap<String, i64>,
}

/// Where the run stood when `summary.json` was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Written while the run was going on: a crash or `kill -9` leaves this.
    Running,
    /// Ctrl-C stopped the run; scenarios cut short have verdict `error` ("interrupted"),
    /// scenarios not started are not listed.
    Interrupted,
    /// The run ended normally (with `--fail-fast`, possibly before every scenario ran).
    #[default]
    Finished,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// wsim's version.
    pub tool_version: String,
    /// The DUT: its hello (or the host model, its profile and build options), how it
    /// was reached, and its name in reports (`dut.agent`). Older files hold one line
    /// of text here; it still reads (see [`DutRecord::legacy`]).
    #[serde(deserialize_with = "deserialize_dut")]
    pub dut: DutRecord,
    /// The profile.
    pub profile: String,
    /// The run's seed.
    pub seed: u64,
    /// The world.
    pub world: String,
    /// The run's build options that differ from the defaults (`KEY=VALUE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sdkconfig: Vec<String>,
    /// Wall-clock milliseconds of the whole run.
    pub wall_ms: u64,
    /// The sum of the scenarios' durations on the world's clock (virtual time in the
    /// simulated world, wall time in the real one).
    pub world_ms: u64,
    /// Where the run stood when this file was written (older files: `finished`).
    #[serde(default)]
    pub state: RunState,
    /// Whether every planned scenario has a verdict here and the run finished: `false`
    /// in a partial report (a crash, Ctrl-C, `--fail-fast`).
    #[serde(default = "complete_by_default")]
    pub complete: bool,
    /// Scenarios the run was to run (`counts.total` of them have a verdict so far).
    #[serde(default)]
    pub planned: usize,
    /// Counts.
    pub counts: Counts,
    /// Every scenario, in id order.
    pub scenarios: Vec<SummaryEntry>,
}

fn complete_by_default() -> bool {
    true
}

impl Summary {
    /// Builds the summary of a run: `planned` scenarios, `reports` of them done so far.
    pub fn new(
        info: &RunInfo,
        reports: &[ScenarioReport],
        wall_ms: u64,
        state: RunState,
        planned: usize,
        case_file: impl Fn(&str) -> String,
    ) -> Summary {
        Summary {
            state,
            complete: state == RunState::Finished && reports.len() >= planned,
            planned,
            tool_version: info.tool_version.clone(),
            dut: (*info.dut).clone(),
            profile: info.profile.clone(),
            seed: info.seed,
            world: info.world.clone(),
            sdkconfig: info.sdkconfig.clone(),
            wall_ms,
            world_ms: reports.iter().map(|r| r.virtual_ms).sum(),
            counts: Counts::of(reports),
            scenarios: reports
                .iter()
                .map(|r| SummaryEntry {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    tags: r.tags.clone(),
                    verdict: r.verdict,
                    wall_ms: r.wall_ms,
                    virtual_ms: r.virtual_ms,
                    detail: r.detail.clone(),
                    failed_step: r.failed_step,
                    seed: r.seed,
                    case_file: case_file(&r.id),
                    drawn: r.drawn.clone(),
                })
                .collect(),
        }
    }

    /// Reads a `summary.json` (or the one inside a report folder).
    pub fn read(path: &Path) -> Result<Summary, String> {
        let file = if path.is_dir() { path.join("summary.json") } else { path.to_path_buf() };
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}:{}:{}: {e}", file.display(), e.line(), e.column()))
    }
}
