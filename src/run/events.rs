//! The run's linear stream of events, and the per-scenario report it carries.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::esp::OwnedEvent;
use crate::server::ConnectionLog;

/// A scenario's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every step held.
    Pass,
    /// Skipped (profile or filter), with a reason.
    Skip,
    /// A step's expectation did not hold.
    Fail,
    /// The scenario could not run as written (a server could not start, the bound was
    /// exceeded, the DUT failed).
    Error,
}

impl Verdict {
    /// Whether `self` is worse than `other` for the regression gate (pass and skip are
    /// equally good; fail and error equally bad).
    pub fn worse_than(self, other: Verdict) -> bool {
        self.badness() > other.badness()
    }

    fn badness(self) -> u8 {
        match self {
            Verdict::Pass | Verdict::Skip => 0,
            Verdict::Fail | Verdict::Error => 1,
        }
    }

    /// The verdict in capitals, for tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Skip => "SKIP",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        }
    }
}

/// One line of a scenario's trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraceEntry {
    /// A step began.
    Step {
        /// Milliseconds since the scenario started.
        t_ms: u64,
        /// 1-based step number.
        step: usize,
        /// What it does.
        summary: String,
    },
    /// A client call returned.
    Call {
        /// Milliseconds since the scenario started.
        t_ms: u64,
        /// The client.
        client: String,
        /// The C function name.
        function: String,
        /// Its return value.
        returned: i64,
    },
    /// A client raised an event.
    Event {
        /// Milliseconds since the scenario started.
        t_ms: u64,
        /// The client.
        client: String,
        /// The event with its data fields.
        #[serde(flatten)]
        event: EventRecord,
    },
}

impl TraceEntry {
    /// The entry's time.
    pub fn t_ms(&self) -> u64 {
        match self {
            TraceEntry::Step { t_ms, .. }
            | TraceEntry::Call { t_ms, .. }
            | TraceEntry::Event { t_ms, .. } => *t_ms,
        }
    }
}

/// An event as reports show it: the data fields and the payload as text or hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// The event and its fields.
    #[serde(flatten)]
    pub event: OwnedEvent,
    /// The payload if it is UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The payload in hex otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

impl From<OwnedEvent> for EventRecord {
    fn from(event: OwnedEvent) -> Self {
        let (text, hex) = if event.data.is_empty() {
            (None, None)
        } else {
            match event.text() {
                Some(t) => (Some(t.to_string()), None),
                None => (None, Some(event.hex())),
            }
        };
        EventRecord { event, text, hex }
    }
}

impl std::fmt::Display for EventRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.event;
        write!(
            f,
            "{}{{op_code={}, fin={}, data_len={}, payload_len={}, payload_offset={}, close_status_code={}, error_type={:?}",
            e.event.name(),
            e.op_code,
            e.fin,
            e.data_len,
            e.payload_len,
            e.payload_offset,
            e.close_status_code,
            e.error_handle.error_type
        )?;
        if let Some(t) = &self.text {
            let short: String = t.chars().take(60).collect();
            write!(f, ", text={short:?}{}", if t.chars().count() > 60 { "…" } else { "" })?;
        }
        f.write_str("}")
    }
}

/// Everything known about one scenario's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioReport {
    /// The scenario id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// The file it came from.
    pub file: PathBuf,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it failed, errored or was skipped.
    pub detail: Option<String>,
    /// The 1-based step that failed.
    pub failed_step: Option<usize>,
    /// Wall-clock duration in milliseconds (volatile).
    pub wall_ms: u64,
    /// Duration on the world's clock (virtual in the simulated world), in milliseconds.
    pub virtual_ms: u64,
    /// The seed the scenario ran with.
    pub seed: u64,
    /// The trace: steps, calls and events in order.
    pub trace: Vec<TraceEntry>,
    /// What each server saw, by server name.
    pub servers: BTreeMap<String, Vec<ConnectionLog>>,
    /// The build options the scenario ran with that differ from the defaults.
    pub sdkconfig: Vec<String>,
    /// An external DUT's log output during the scenario (lines that were not agent
    /// protocol; a subprocess's standard error prefixed `stderr: `).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dut_log: Vec<String>,
    /// The randomised numbers of the scenario and the values this seed drew, by key
    /// path (`faults[0].toxic.latency_ms`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub drawn: BTreeMap<String, i64>,
}

/// Facts about the run, printed by every report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunInfo {
    /// wsim's version.
    pub tool_version: String,
    /// The DUT: its hello, how it was reached, its name in reports.
    pub dut: Box<crate::report::DutRecord>,
    /// The profile.
    pub profile: String,
    /// The run's seed.
    pub seed: u64,
    /// The world (`real`).
    pub world: String,
    /// The run's build options that differ from the defaults (`KEY=VALUE`).
    pub sdkconfig: Vec<String>,
}

impl RunInfo {
    /// The flags a rerun of one scenario needs besides its file, seed and filter: the
    /// world, profile, build options and DUT when they are not the defaults.
    pub fn rerun_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if self.world != "sim" {
            flags.extend(["--world".to_string(), self.world.clone()]);
        }
        if self.profile != "idf6" {
            flags.extend(["--profile".to_string(), self.profile.clone()]);
        }
        for l in &self.sdkconfig {
            flags.extend(["--sdkconfig".to_string(), l.clone()]);
        }
        if self.dut.kind.is_external() {
            flags.extend(["--dut".to_string(), self.dut.link.clone()]);
        }
        flags
    }
}

/// The stream the runner emits; reporters consume it.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run begins with this many scenarios.
    RunStarted {
        /// Facts about the run.
        info: RunInfo,
        /// Scenario count.
        total: usize,
        /// The ids of the scenarios the run is to run, in id order.
        ids: Vec<String>,
    },
    /// A scenario begins.
    ScenarioStarted {
        /// Its id.
        id: String,
    },
    /// A scenario ended.
    ScenarioFinished(Box<ScenarioReport>),
    /// The run ended.
    RunFinished {
        /// Wall-clock duration in milliseconds.
        wall_ms: u64,
        /// Whether the run was stopped (Ctrl-C) before it ran everything: scenarios cut
        /// short ended with verdict `error` ("interrupted"), the ones not started have no
        /// report.
        interrupted: bool,
    },
}
