//! The regression gate: compare a run with a baseline and say what changed.

use std::collections::BTreeMap;

use super::summary::Summary;
use crate::run::Verdict;

/// One scenario whose verdict changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Scenario id.
    pub id: String,
    /// The verdict before (`None`: the scenario is new).
    pub before: Option<Verdict>,
    /// The verdict now (`None`: the scenario is gone).
    pub after: Option<Verdict>,
}

impl Change {
    /// Whether this change is a regression: a scenario that passed (or did not exist)
    /// and now fails or errors.
    pub fn is_regression(&self) -> bool {
        match (self.before, self.after) {
            (Some(b), Some(a)) => a.worse_than(b),
            (None, Some(a)) => a.worse_than(Verdict::Pass),
            _ => false,
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |x: Option<Verdict>| x.map_or("absent", |v| v.label());
        let mark = if self.is_regression() {
            "REGRESSED"
        } else if self.after.is_some_and(|a| self.before.is_some_and(|b| b.worse_than(a))) {
            "improved"
        } else {
            "changed"
        };
        write!(f, "{mark:>9}  {}: {} -> {}", self.id, v(self.before), v(self.after))
    }
}

/// Every scenario whose verdict differs between `old` and `new`, in id order.
pub fn diff(old: &Summary, new: &Summary) -> Vec<Change> {
    // A scenario the baseline's run was interrupted in has no verdict of its own: it
    // counts as absent, not as a known failure that would hide a regression.
    let before: BTreeMap<&str, Verdict> = old
        .scenarios
        .iter()
        .filter(|s| !s.detail.as_deref().is_some_and(|d| d.starts_with("interrupted")))
        .map(|s| (s.id.as_str(), s.verdict))
        .collect();
    let after: BTreeMap<&str, Verdict> =
        new.scenarios.iter().map(|s| (s.id.as_str(), s.verdict)).collect();
    let mut ids: Vec<&str> = before.keys().chain(after.keys()).copied().collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let (b, a) = (before.get(id).copied(), after.get(id).copied());
            (b != a).then(|| Change { id: id.to_string(), before: b, after: a })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{Counts, RunState, SummaryEntry};

    fn summary(items: &[(&str, Verdict)]) -> Summary {
        Summary {
            sdkconfig: Default::default(),
            tool_version: "0".into(),
            dut: crate::report::DutRecord::legacy("host model (idf6)"),
            profile: "idf6".into(),
            seed: 1,
            world: "real".into(),
            wall_ms: 0,
            world_ms: 0,
            state: RunState::Finished,
            complete: true,
            planned: items.len(),
            counts: Counts::default(),
            scenarios: items
                .iter()
                .map(|(id, v)| SummaryEntry {
                    id: id.to_string(),
                    name: String::new(),
                    tags: vec![],
                    verdict: *v,
                    wall_ms: 0,
                    virtual_ms: 0,
                    detail: None,
                    failed_step: None,
                    seed: 0,
                    case_file: String::new(),
                    drawn: Default::default(),
                })
                .collect(),
        }
    }

    #[test]
    fn an_interrupted_baseline_entry_does_not_hide_a_regression() {
        let mut old = summary(&[("a", Verdict::Error)]);
        old.scenarios[0].detail = Some("interrupted (the run was stopped after 5 ms)".into());
        let new = summary(&[("a", Verdict::Fail)]);
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].is_regression(), "{}", changes[0]);
        // A real error in the baseline stays a known failure.
        let old = summary(&[("a", Verdict::Error)]);
        assert!(diff(&old, &new).iter().all(|c| !c.is_regression()));
    }

    #[test]
    fn only_getting_worse_is_a_regression() {
        let old = summary(&[
            ("a", Verdict::Pass),
            ("b", Verdict::Fail),
            ("c", Verdict::Pass),
            ("gone", Verdict::Pass),
        ]);
        let new = summary(&[
            ("a", Verdict::Fail),
            ("b", Verdict::Pass),
            ("c", Verdict::Pass),
            ("new", Verdict::Error),
        ]);
        let d = diff(&old, &new);
        let regressions: Vec<&str> =
            d.iter().filter(|c| c.is_regression()).map(|c| c.id.as_str()).collect();
        assert_eq!(regressions, ["a", "new"]);
        assert_eq!(d.len(), 4);
        assert!(d.iter().any(|c| c.id == "b" && c.to_string().contains("improved")));
    }
}
