//! Per-scenario case files: the full trace, the wire log, the verdict, with the keys an
//! Autobahn per-case report carries where they apply.

use serde_json::{Value, json};

use super::dut::DutRecord;
use crate::esp::EventId;
use crate::run::{ScenarioReport, TraceEntry, Verdict};

/// The Autobahn agent slug: lower case, non-alphanumerics become `_` (runs kept).
pub fn slug(s: &str) -> String {
    let lowered: String =
        s.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
    lowered.trim().replace(' ', "_")
}

/// The longest case-file stem: with `.html` and the `.<name>.tmp` of an atomic write it
/// stays well under the 255-byte file-name limit of common file systems.
pub const MAX_STEM: usize = 200;

/// The base name of a scenario's case files (`<agent>_case_<id>`), unique per id and at
/// most [`MAX_STEM`] bytes.
///
/// An id made only of lower-case ASCII letters, digits, `-` and `/` keeps its readable
/// name, `/` becoming `_` (`basic/chunking` → `…_case_basic_chunking`); that mapping is
/// one-to-one because such ids hold no `_`. Any other id (with `_`, `.`, upper case —
/// which would collide on case-insensitive file systems —, other punctuation or
/// non-ASCII) or a name that would be too long gets a sanitised, truncated name plus
/// `~` and 16 hex digits of the SHA-256 of the exact id. Readable names contain no `~`,
/// so the two kinds never meet.
pub fn case_stem(agent: &str, id: &str) -> String {
    // The agent part is cut, never the `_case_` marker that report folders are
    // recognised by.
    let mut agent = slug(agent);
    truncate_utf8(&mut agent, MAX_STEM / 2 - "_case_".len());
    let prefix = format!("{agent}_case_");
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'/');
    let readable: String = id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }
        })
        .collect();
    if plain && prefix.len() + readable.len() <= MAX_STEM {
        return format!("{prefix}{readable}");
    }
    let hash = crate::run::sha256_hex(id.as_bytes());
    let tag = &hash[..16];
    let mut stem = format!("{prefix}{readable}");
    truncate_utf8(&mut stem, MAX_STEM - 1 - tag.len());
    format!("{stem}~{tag}")
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
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

/// The case file's JSON: Autobahn's keys, wsim's trace and server records, and the
/// DUT the case ran on (`dut`, the same record as `summary.json`'s).
pub fn case_json(agent: &str, dut: &DutRecord, index: usize, r: &ScenarioReport) -> Value {
    let mut case = json!({
        "agent": agent,
        "dut": dut,
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
        "sdkconfig": r.sdkconfig,
        "trace": r.trace,
        "servers": r.servers,
    });
    // The randomised numbers and what this seed drew.
    if !r.drawn.is_empty()
        && let Some(m) = case.as_object_mut()
    {
        m.insert("drawn".into(), json!(r.drawn));
    }
    // An external DUT's log output, when it printed any.
    if !r.dut_log.is_empty()
        && let Some(m) = case.as_object_mut()
    {
        m.insert("dut_log".into(), json!(r.dut_log));
    }
    case
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGENT: &str = "wsim-model-idf6";

    #[test]
    fn a_long_agent_name_keeps_the_case_marker() {
        let agent = "x".repeat(300);
        let stem = case_stem(&agent, "basic/chunking");
        assert!(stem.contains("_case_"), "{stem}");
        assert!(stem.len() <= MAX_STEM, "{}", stem.len());
    }

    #[test]
    fn ordinary_ids_keep_their_readable_names() {
        assert_eq!(case_stem(AGENT, "basic/chunking"), "wsim_model_idf6_case_basic_chunking");
        assert_eq!(
            case_stem(AGENT, "basic/client-close"),
            "wsim_model_idf6_case_basic_client-close"
        );
    }

    #[test]
    fn ids_differing_only_in_punctuation_or_case_get_different_names() {
        let ids = ["a/b", "a_b", "a.b", "a b", "A/b", "a/B", "a/b/", "a//b", "é/b", "e/b", ""];
        let stems: std::collections::BTreeSet<String> =
            ids.iter().map(|id| case_stem(AGENT, id)).collect();
        assert_eq!(stems.len(), ids.len(), "{stems:?}");
        assert_eq!(case_stem(AGENT, "a/b"), "wsim_model_idf6_case_a_b");
        assert!(case_stem(AGENT, "a_b").starts_with("wsim_model_idf6_case_a_b~"));
    }

    #[test]
    fn names_are_bounded_and_file_system_safe() {
        let long_a = "a".repeat(5000);
        let long_b = format!("{}b", "a".repeat(4999));
        let multibyte = "é".repeat(400);
        for id in [long_a.as_str(), long_b.as_str(), multibyte.as_str(), "../../etc/passwd"] {
            let stem = case_stem(AGENT, id);
            assert!(stem.len() <= MAX_STEM, "{} bytes", stem.len());
            assert!(!stem.contains('/') && !stem.contains('\\') && !stem.contains(".."), "{stem}");
        }
        assert_ne!(case_stem(AGENT, &long_a), case_stem(AGENT, &long_b));
        let agent = "x".repeat(1000);
        assert!(case_stem(&agent, "basic/chunking").len() <= MAX_STEM);
    }
}
