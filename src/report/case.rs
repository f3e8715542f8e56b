//! Per-scenario case files: the full trace, the wire log, the verdict, with the keys an
//! Autobahn per-case report carries where they apply.

use serde_json::{Value, json};

use crate::esp::EventId;
use crate::run::{ScenarioReport, TraceEntry, Verdict};

/// The Autobahn agent slug: lower case, non-alphanumerics become `_` (runs kept).
pub fn slug(s: &str) -> String {
    let lowered: String =
        s.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
    lowered.trim().replace(' ', "_")
}

/// The base name of a scenario's case files (`<agent>_case_<id>`).
pub fn case_stem(agent: &str, id: &str) -> String {
    let id: String =
        id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{}_case_{}", slug(agent), id)
}

/// Autobahn's `behavior` for a verdict.
pub fn behavior(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "OK",
        Verdict::Fail | Verdict::Error => "FAILED",
        Verdict::Skip => "INFORMATIONAL",
    }
}

/// Autobahn's `behaviorClose` from what the clients saw: a clean close (`CLOSED`) is
/// OK, a connection that ended in `DISCONNECTED` is UNCLEAN, no ending is INFORMATIONAL.
pub fn behavior_close(r: &ScenarioReport) -> &'static str {
    let mut last = None;
    for t in &r.trace {
        if let TraceEntry::Event { event, .. } = t
            && matches!(event.event.event, EventId::Closed | EventId::Disconnected)
        {
            last = Some(event.event.event);
        }
    }
    match last {
        Some(EventId::Closed) => "OK",
        Some(_) => "UNCLEAN",
        None => "INFORMATIONAL",
    }
}

/// The close code of the last CLOSE frame the clients received, if any.
pub fn remote_close_code(r: &ScenarioReport) -> Option<i32> {
    r.trace.iter().rev().find_map(|t| match t {
        TraceEntry::Event { event, .. }
            if event.event.event == EventId::Data
                && event.event.op_code == 8
                && event.event.data_len >= 2 =>
        {
            Some(event.event.close_status_code)
        }
        _ => None,
    })
}

/// The case file's JSON.
pub fn case_json(agent: &str, index: usize, r: &ScenarioReport) -> Value {
    json!({
        "agent": agent,
        "case": index + 1,
        "id": r.id,
        "description": r.name,
        "tags": r.tags,
        "file": r.file,
        "verdict": r.verdict,
        "behavior": behavior(r.verdict),
        "behaviorClose": behavior_close(r),
        "remoteCloseCode": remote_close_code(r),
        "duration": r.wall_ms,
        "result": r.detail.clone().unwrap_or_else(|| "Every step held.".into()),
        "failed_step": r.failed_step,
        "seed": r.seed,
        "trace": r.trace,
        "servers": r.servers,
    })
}
