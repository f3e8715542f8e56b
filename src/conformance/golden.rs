//! The golden-results gate: a committed `index.json` of expected verdicts, and the
//! comparison that fails when a case's verdict gets worse (`behavior` or
//! `behaviorClose`; `duration` and everything else ignored, as tungstenite's CI does
//! with `jq 'del(.. | .duration?)'`, but only worse counts, not different).

use std::collections::BTreeMap;

use super::judge::Status;
use super::report::{Index, IndexEntry};

/// How one case changed against the golden file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The case id.
    pub id: String,
    /// Golden `behavior / behaviorClose`.
    pub was: (String, String),
    /// This run's (empty when it did not run).
    pub now: (String, String),
}

/// The comparison of a run with a golden file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoldenDiff {
    /// Cases whose verdict got worse (or that the run lost).
    pub worse: Vec<Change>,
    /// Cases whose verdict got better.
    pub better: Vec<Change>,
    /// Cases of the run the golden file does not have.
    pub new: Vec<String>,
}

fn rank(s: &str) -> u8 {
    Status::parse(s).map_or(0, Status::rank)
}

/// The golden entries: the file's only agent (the agent name is not compared).
pub fn golden_entries(golden: &Index) -> Result<&BTreeMap<String, IndexEntry>, String> {
    match golden.len() {
        1 => Ok(golden.values().next().unwrap_or_else(|| unreachable!())),
        0 => Err("the golden file has no agent".into()),
        n => Err(format!("the golden file has {n} agents; it must have exactly one")),
    }
}

/// Compares the cases of `run` with `golden`, for the ids in `selected` only.
pub fn compare(
    golden: &BTreeMap<String, IndexEntry>,
    run: &BTreeMap<String, IndexEntry>,
    selected: &[String],
) -> GoldenDiff {
    let mut d = GoldenDiff::default();
    for id in selected {
        let (g, r) = (golden.get(id), run.get(id));
        match (g, r) {
            (Some(g), Some(r)) => {
                let was = (g.behavior.clone(), g.behavior_close.clone());
                let now = (r.behavior.clone(), r.behavior_close.clone());
                let worse = rank(&r.behavior) < rank(&g.behavior)
                    || rank(&r.behavior_close) < rank(&g.behavior_close);
                let better = rank(&r.behavior) > rank(&g.behavior)
                    || rank(&r.behavior_close) > rank(&g.behavior_close);
                if worse {
                    d.worse.push(Change { id: id.clone(), was, now });
                } else if better {
                    d.better.push(Change { id: id.clone(), was, now });
                }
            }
            (Some(g), None) => d.worse.push(Change {
                id: id.clone(),
                was: (g.behavior.clone(), g.behavior_close.clone()),
                now: (String::new(), String::new()),
            }),
            (None, Some(_)) => d.new.push(id.clone()),
            (None, None) => {}
        }
    }
    d
}

/// Counts of `behavior` values (OK, NON-STRICT, FAILED, INFORMATIONAL, UNIMPLEMENTED).
pub fn behavior_counts(entries: &BTreeMap<String, IndexEntry>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in entries.values() {
        *m.entry(e.behavior.clone()).or_default() += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(b: &str, c: &str, d: u64) -> IndexEntry {
        IndexEntry {
            behavior: b.into(),
            behavior_close: c.into(),
            duration: d,
            remote_close_code: None,
            reportfile: "x.json".into(),
        }
    }

    #[test]
    fn only_a_worse_verdict_is_a_regression_and_duration_is_ignored() {
        let golden: BTreeMap<String, IndexEntry> = [
            ("1.1.1", e("OK", "OK", 1)),
            ("2.1", e("NON-STRICT", "OK", 1)),
            ("3.1", e("FAILED", "OK", 1)),
            ("4.1.1", e("OK", "OK", 1)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let run: BTreeMap<String, IndexEntry> = [
            ("1.1.1", e("OK", "OK", 900)),
            ("2.1", e("OK", "OK", 1)),
            ("3.1", e("FAILED", "UNCLEAN", 1)),
            ("5.1", e("OK", "OK", 1)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let sel: Vec<String> =
            ["1.1.1", "2.1", "3.1", "4.1.1", "5.1"].iter().map(|s| s.to_string()).collect();
        let d = compare(&golden, &run, &sel);
        let ids = |v: &[Change]| v.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&d.worse), ["3.1", "4.1.1"], "a worse close and a lost case");
        assert_eq!(ids(&d.better), ["2.1"]);
        assert_eq!(d.new, ["5.1"]);
        let d = compare(&golden, &run, &["1.1.1".to_string()]);
        assert!(d.worse.is_empty() && d.better.is_empty(), "a slower case is not worse");
    }
}
