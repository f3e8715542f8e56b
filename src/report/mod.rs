//! Consumers of run events: the terminal, `summary.json`, Autobahn-compatible
//! `index.json` and case files, `index.html`, `junit.xml`, and the baseline diff.

mod baseline;
mod case;
mod html;
mod junit;
mod summary;
mod terminal;

use std::path::{Path, PathBuf};

pub use baseline::{Change, diff};
pub use case::{behavior, behavior_close, case_json, case_stem, remote_close_code, slug};
pub use html::{case_html, esc, index_html};
pub use junit::junit_xml;
pub use summary::{Counts, Summary, SummaryEntry};
pub use terminal::Terminal;

use crate::run::{RunEvent, RunInfo, ScenarioReport, Verdict};

/// Why reports could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("cannot write {file}: {error}")]
    Write {
        /// The file.
        file: PathBuf,
        /// The cause.
        error: String,
    },
}

/// Collects run events and writes the report folder when the run finishes.
pub struct ReportDir {
    dir: PathBuf,
    info: Option<RunInfo>,
    reports: Vec<ScenarioReport>,
    wall_ms: u64,
}

impl ReportDir {
    /// Reports go into `dir` (created when written).
    pub fn new(dir: PathBuf) -> Self {
        ReportDir { dir, info: None, reports: Vec::new(), wall_ms: 0 }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The agent name used in Autobahn-style files.
    pub fn agent(&self) -> String {
        self.info.as_ref().map_or_else(|| "wsim".into(), |i| format!("wsim {}", i.dut))
    }

    /// Consumes one run event.
    pub fn on_event(&mut self, e: &RunEvent) {
        match e {
            RunEvent::RunStarted { info, .. } => self.info = Some(info.clone()),
            RunEvent::ScenarioStarted { .. } => {}
            RunEvent::ScenarioFinished(r) => self.reports.push((**r).clone()),
            RunEvent::RunFinished { wall_ms } => self.wall_ms = *wall_ms,
        }
    }

    /// The reports so far, in id order.
    pub fn reports(&mut self) -> &[ScenarioReport] {
        self.reports.sort_by(|a, b| a.id.cmp(&b.id));
        &self.reports
    }

    fn write(&self, name: &str, body: &str) -> Result<(), ReportError> {
        let file = self.dir.join(name);
        std::fs::write(&file, body).map_err(|e| ReportError::Write { file, error: e.to_string() })
    }

    /// Writes every report file. Returns the summary.
    pub fn write_all(&mut self) -> Result<Summary, ReportError> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ReportError::Write { file: self.dir.clone(), error: e.to_string() })?;
        self.reports.sort_by(|a, b| a.id.cmp(&b.id));
        let info = self.info.clone().unwrap_or(RunInfo {
            tool_version: env!("CARGO_PKG_VERSION").into(),
            dut: "none".into(),
            profile: String::new(),
            seed: 0,
            world: "real".into(),
        });
        let agent = self.agent();
        let summary = Summary::new(&info, &self.reports, self.wall_ms, |id| {
            format!("{}.json", case_stem(&agent, id))
        });
        let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
        self.write("summary.json", &pretty(&serde_json::to_value(&summary).unwrap_or_default()))?;
        let mut index = serde_json::Map::new();
        for (i, r) in self.reports.iter().enumerate() {
            let stem = case_stem(&agent, &r.id);
            self.write(&format!("{stem}.json"), &pretty(&case_json(&agent, i, r)))?;
            self.write(&format!("{stem}.html"), &case_html(&agent, r))?;
            if r.verdict != Verdict::Skip {
                index.insert(
                    r.id.clone(),
                    serde_json::json!({
                        "behavior": behavior(r.verdict),
                        "behaviorClose": behavior_close(r),
                        "duration": r.wall_ms,
                        "remoteCloseCode": remote_close_code(r),
                        "reportfile": format!("{stem}.json"),
                    }),
                );
            }
        }
        let mut agents = serde_json::Map::new();
        agents.insert(agent.clone(), serde_json::Value::Object(index));
        self.write("index.json", &pretty(&serde_json::Value::Object(agents)))?;
        self.write("index.html", &index_html(&info, &agent, &self.reports))?;
        let junit = junit_xml(&info, &self.reports, self.wall_ms)
            .map_err(|e| ReportError::Write { file: self.dir.join("junit.xml"), error: e })?;
        self.write("junit.xml", &junit)?;
        Ok(summary)
    }
}
