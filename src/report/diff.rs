//! `wsim report diff`: two runs side by side — a run against its baseline (the same
//! DUT: what changed, what regressed), or the same suite on two DUTs (the host model
//! and a board: where they disagree, and why each side says what it says).
//!
//! One typed [`DiffReport`] is built from the two summaries; the terminal table, the
//! JSON (`--format json`, the report itself) and the Markdown for a PR comment are
//! renderings of it.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::baseline::Change;
use super::dut::DutRecord;
use super::summary::{Counts, Summary, SummaryEntry};
use crate::exit;
use crate::run::Verdict;

/// The version of the JSON form of [`DiffReport`]; raised when a field changes meaning
/// or goes away (adding a field does not raise it).
pub const DIFF_FORMAT_VERSION: u32 = 1;

/// How `wsim report diff` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffFormat {
    /// A table for people.
    #[default]
    Terminal,
    /// The [`DiffReport`] as JSON.
    Json,
    /// GitHub-flavoured Markdown, for a PR comment or a job summary.
    Markdown,
}

impl DiffFormat {
    /// Parses `terminal`, `json` or `markdown`.
    pub fn parse(s: &str) -> Result<DiffFormat, String> {
        match s {
            "terminal" | "text" => Ok(DiffFormat::Terminal),
            "json" => Ok(DiffFormat::Json),
            "markdown" | "md" => Ok(DiffFormat::Markdown),
            _ => Err(format!("unknown format {s:?}: expected terminal, json or markdown")),
        }
    }
}

/// One of the two runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSide {
    /// The summary file as named on the command line.
    pub file: String,
    /// The DUT it ran on.
    pub dut: DutRecord,
    /// The world (`sim` or `real`).
    pub world: String,
    /// The run's seed.
    pub seed: u64,
    /// Whether the run finished with a verdict for every planned scenario.
    pub complete: bool,
    /// Its verdict counts.
    pub counts: Counts,
}

/// A scenario's outcome on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideResult {
    /// The verdict.
    pub verdict: Verdict,
    /// Why it failed, errored or was skipped.
    pub detail: Option<String>,
    /// The 1-based step that failed.
    pub failed_step: Option<usize>,
}

impl SideResult {
    fn of(e: &SummaryEntry) -> SideResult {
        SideResult { verdict: e.verdict, detail: e.detail.clone(), failed_step: e.failed_step }
    }

    /// `step N: detail` (the detail alone when it names its step), or nothing.
    pub fn explain(&self) -> Option<String> {
        match (&self.detail, self.failed_step) {
            (Some(d), Some(s)) if d.starts_with(&format!("step {s}")) => Some(d.clone()),
            (Some(d), Some(s)) => Some(format!("step {s}: {d}")),
            (Some(d), None) => Some(d.clone()),
            (None, Some(s)) => Some(format!("step {s}")),
            (None, None) => None,
        }
    }
}

/// How a scenario differs between the two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// Both ran it (neither skipped) and their verdicts differ.
    Verdicts,
    /// The left run skipped it, the right one did not.
    SkippedLeft,
    /// The right run skipped it, the left one did not.
    SkippedRight,
    /// Only the left run has it.
    OnlyLeft,
    /// Only the right run has it.
    OnlyRight,
}

/// One scenario whose outcome differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffRow {
    /// The scenario id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How it differs.
    pub status: RowStatus,
    /// The left run's outcome (`None`: not in that run).
    pub left: Option<SideResult>,
    /// The right run's outcome (`None`: not in that run).
    pub right: Option<SideResult>,
    /// Whether the right side is worse than the left by the baseline gate's rule (it
    /// passed, was skipped or was absent on the left, and fails or errors on the right;
    /// a left entry cut short by Ctrl-C counts as absent).
    pub regressed: bool,
}

/// Field by field, why the two DUTs are different DUTs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDifference {
    /// The field (`dut`, `agent`, `chip`, `idf`, `client`, `profile`).
    pub field: String,
    /// The left value.
    pub left: String,
    /// The right value.
    pub right: String,
}

/// The comparison of two runs (the JSON of `wsim report diff --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffReport {
    /// [`DIFF_FORMAT_VERSION`].
    pub format: u32,
    /// Whether both runs were made on the same DUT (then this is a run against its
    /// baseline; otherwise a comparison of two DUTs).
    pub same_dut: bool,
    /// Why the DUTs differ (empty when `same_dut`).
    pub dut_differences: Vec<FieldDifference>,
    /// The left (older, or reference: the host model) run.
    pub left: DiffSide,
    /// The right (newer, or the device) run.
    pub right: DiffSide,
    /// Scenarios in both runs.
    pub compared: usize,
    /// Of those, how many have the same verdict on both sides.
    pub agree: usize,
    /// Every scenario whose outcome differs, in id order.
    pub rows: Vec<DiffRow>,
    /// How many rows are regressions.
    pub regressions: usize,
}

impl DiffReport {
    /// Compares `left` (read from `left_file`) with `right`.
    pub fn new(left_file: &str, left: &Summary, right_file: &str, right: &Summary) -> DiffReport {
        let side = |file: &str, s: &Summary| DiffSide {
            file: file.to_string(),
            dut: s.dut.clone(),
            world: s.world.clone(),
            seed: s.seed,
            complete: s.complete,
            counts: s.counts,
        };
        let l: BTreeMap<&str, &SummaryEntry> =
            left.scenarios.iter().map(|e| (e.id.as_str(), e)).collect();
        let r: BTreeMap<&str, &SummaryEntry> =
            right.scenarios.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut ids: Vec<&str> = l.keys().chain(r.keys()).copied().collect();
        ids.sort();
        ids.dedup();
        let (mut compared, mut agree, mut rows) = (0, 0, Vec::new());
        for id in ids {
            let (a, b) = (l.get(id).copied(), r.get(id).copied());
            let status = match (a, b) {
                (Some(a), Some(b)) => {
                    compared += 1;
                    if a.verdict == b.verdict {
                        agree += 1;
                        continue;
                    }
                    match (a.verdict, b.verdict) {
                        (Verdict::Skip, _) => RowStatus::SkippedLeft,
                        (_, Verdict::Skip) => RowStatus::SkippedRight,
                        _ => RowStatus::Verdicts,
                    }
                }
                (Some(_), None) => RowStatus::OnlyLeft,
                (None, Some(_)) => RowStatus::OnlyRight,
                (None, None) => continue,
            };
            let before = a.filter(|e| !is_interrupted(e)).map(|e| e.verdict);
            let regressed =
                Change { id: id.to_string(), before, after: b.map(|e| e.verdict) }.is_regression();
            rows.push(DiffRow {
                id: id.to_string(),
                name: a.or(b).map(|e| e.name.clone()).unwrap_or_default(),
                status,
                left: a.map(SideResult::of),
                right: b.map(SideResult::of),
                regressed,
            });
        }
        let dut_differences: Vec<FieldDifference> = left
            .dut
            .differences(&right.dut)
            .into_iter()
            .map(|(f, a, b)| FieldDifference { field: f.to_string(), left: a, right: b })
            .collect();
        DiffReport {
            format: DIFF_FORMAT_VERSION,
            same_dut: dut_differences.is_empty(),
            dut_differences,
            left: side(left_file, left),
            right: side(right_file, right),
            compared,
            agree,
            regressions: rows.iter().filter(|r| r.regressed).count(),
            rows,
        }
    }

    /// The exit code: for two runs of the same DUT, as the baseline gate — 1 when a
    /// scenario regressed, else 0; for two DUTs, 1 when any scenario's outcome differs
    /// (verdict, skipped on one side, present on one side only), else 0.
    pub fn exit_code(&self) -> i32 {
        let differs = if self.same_dut { self.regressions > 0 } else { !self.rows.is_empty() };
        if differs { exit::FAILED } else { exit::SUCCESS }
    }

    fn count(&self, status: RowStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }

    /// One sentence: how many scenarios differ and how.
    pub fn headline(&self) -> String {
        let total =
            self.compared + self.count(RowStatus::OnlyLeft) + self.count(RowStatus::OnlyRight);
        if self.rows.is_empty() {
            return format!("no outcome differs ({} scenarios compared)", self.compared);
        }
        let mut s = format!(
            "{} of {total} scenarios differ: {} with other verdicts, {} skipped on one side only, {} only on the left, {} only on the right",
            self.rows.len(),
            self.count(RowStatus::Verdicts),
            self.count(RowStatus::SkippedLeft) + self.count(RowStatus::SkippedRight),
            self.count(RowStatus::OnlyLeft),
            self.count(RowStatus::OnlyRight),
        );
        if self.same_dut {
            let _ = write!(s, "; {} regressed", self.regressions);
        }
        s
    }

    /// Renders the report in `format`.
    pub fn render(&self, format: DiffFormat) -> String {
        match format {
            DiffFormat::Terminal => self.terminal(),
            DiffFormat::Json => {
                let mut j = serde_json::to_string_pretty(self).unwrap_or_default();
                j.push('\n');
                j
            }
            DiffFormat::Markdown => self.markdown(),
        }
    }

    /// A remark when the two runs were made in different worlds: scenarios of one world
    /// only are then skipped on one side whatever the DUTs do.
    fn world_note(&self) -> Option<String> {
        (self.left.world != self.right.world).then(|| {
            format!(
                "the runs were made in different worlds ({} and {}): scenarios of one world only are skipped on the other side",
                self.left.world, self.right.world
            )
        })
    }

    /// The names of the two sides in tables: the DUTs' agent names, or `old` and `new`
    /// for two runs of the same DUT (or of DUTs that share a name).
    fn labels(&self) -> (String, String) {
        let (l, r) = (&self.left.dut.agent, &self.right.dut.agent);
        if self.same_dut || l == r { ("old".into(), "new".into()) } else { (l.clone(), r.clone()) }
    }

    /// The table for people: the two DUTs, then one row per differing scenario with
    /// each side's failure or skip reason below it.
    pub fn terminal(&self) -> String {
        let mut o = String::new();
        for (label, s) in [("left ", &self.left), ("right", &self.right)] {
            let _ = writeln!(
                o,
                "{label}  {}  {}: {}, world {}{}",
                s.file,
                s.dut.agent,
                s.dut.describe(),
                s.world,
                if s.complete { "" } else { " (a partial run)" }
            );
        }
        if self.same_dut {
            let _ = writeln!(o, "same DUT: verdicts compared as a run against its baseline");
        } else {
            let what: Vec<String> = self
                .dut_differences
                .iter()
                .map(|d| format!("{} {} -> {}", d.field, d.left, d.right))
                .collect();
            let _ = writeln!(o, "DIFFERENT DUTs ({})", what.join(", "));
        }
        if let Some(note) = self.world_note() {
            let _ = writeln!(o, "note: {note}");
        }
        o.push('\n');
        if !self.rows.is_empty() {
            let (la, ra) = self.labels();
            let (la, ra) = (&la, &ra);
            let id_w = self.rows.iter().map(|r| r.id.chars().count()).max().unwrap_or(0).max(8);
            let l_w = la.chars().count().max(7);
            let r_w = ra.chars().count().max(7);
            let header = format!("{:<id_w$}  {:<l_w$}  {:<r_w$}", "scenario", la, ra);
            let _ = writeln!(o, "{}", header.trim_end());
            for row in &self.rows {
                let v = |s: &Option<SideResult>| s.as_ref().map_or("-", |s| s.verdict.label());
                let mark = if self.same_dut {
                    if row.regressed {
                        "  REGRESSED"
                    } else if row.left.is_some() && row.right.is_some() {
                        "  improved"
                    } else {
                        ""
                    }
                } else {
                    ""
                };
                let line = format!(
                    "{:<id_w$}  {:<l_w$}  {:<r_w$}{mark}",
                    row.id,
                    v(&row.left),
                    v(&row.right)
                );
                let _ = writeln!(o, "{}", line.trim_end());
                for (who, side) in [(la, &row.left), (ra, &row.right)] {
                    match side {
                        None => {
                            let _ = writeln!(o, "    {who}: not in this run");
                        }
                        Some(s) => {
                            if let Some(text) = s.explain() {
                                write_indented(&mut o, &format!("{who}: "), &text);
                            }
                        }
                    }
                }
            }
            o.push('\n');
        }
        let _ = writeln!(o, "{}", self.headline());
        o
    }

    /// GitHub-flavoured Markdown for a PR comment or `$GITHUB_STEP_SUMMARY`.
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "### wsim: `{}` vs `{}`\n",
            md_code(&self.left.dut.agent),
            md_code(&self.right.dut.agent)
        );
        let (la, ra) = self.labels();
        let (la, ra) = (&la, &ra);
        if self.same_dut {
            let _ =
                writeln!(o, "Same DUT: the right run compared with the left as its baseline.\n");
        } else {
            let _ =
                writeln!(o, "**Different DUTs** — the scenarios below are where they disagree.\n");
        }
        let _ = writeln!(o, "| | left | right |\n|---|---|---|");
        let fields: [Field; 10] = [
            ("summary", |s| format!("`{}`", md_code(&s.file))),
            ("DUT", |s| format!("`{}`", md_code(&s.dut.agent))),
            ("kind", |s| format!("{:?}", s.dut.kind).to_lowercase()),
            ("link", |s| format!("`{}`", md_code(&s.dut.link))),
            ("chip", |s| md_cell(&s.dut.chip)),
            ("ESP-IDF", |s| md_cell(&s.dut.idf)),
            ("esp_websocket_client", |s| md_cell(&s.dut.client)),
            ("profile", |s| md_cell(&s.dut.profile)),
            ("world", |s| md_cell(&s.world)),
            ("verdicts", |s| {
                let c = s.counts;
                format!(
                    "{} passed, {} failed, {} errors, {} skipped{}",
                    c.passed,
                    c.failed,
                    c.errors,
                    c.skipped,
                    if s.complete { "" } else { " (partial run)" }
                )
            }),
        ];
        for (name, f) in fields {
            let _ = writeln!(o, "| {name} | {} | {} |", f(&self.left), f(&self.right));
        }
        let _ = writeln!(o, "\n{}.\n", capitalise(&self.headline()));
        if let Some(note) = self.world_note() {
            let _ = writeln!(o, "_Note: {}._\n", md_cell(&note));
        }
        if !self.rows.is_empty() {
            let mark_col = if self.same_dut { " change |" } else { "" };
            let _ = writeln!(
                o,
                "| scenario | `{}` | `{}` |{mark_col}\n|---|---|---|{}",
                md_code(la),
                md_code(ra),
                if self.same_dut { "---|" } else { "" }
            );
            for (shown, row) in self.rows.iter().enumerate() {
                if o.len() > MARKDOWN_BUDGET {
                    let _ = writeln!(
                        o,
                        "\n… and {} more (`wsim report diff --format json` lists every one).",
                        self.rows.len() - shown
                    );
                    break;
                }
                let cell = |s: &Option<SideResult>| match s {
                    None => "_not in this run_".to_string(),
                    Some(s) => {
                        let v = match s.verdict {
                            Verdict::Fail | Verdict::Error => format!("**{}**", s.verdict.label()),
                            other => other.label().to_string(),
                        };
                        match s.explain() {
                            Some(t) => format!("{v}: {}", md_cell(&shorten(&t, 400))),
                            None => v,
                        }
                    }
                };
                let mark = if !self.same_dut {
                    String::new()
                } else if row.regressed {
                    " **regressed** |".into()
                } else {
                    " |".into()
                };
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {} |{mark}",
                    md_code(&row.id),
                    cell(&row.left),
                    cell(&row.right)
                );
            }
        }
        o
    }
}

/// Past this many bytes the Markdown lists no more scenarios (a GitHub comment holds
/// 65536 characters), saying how many it left out.
const MARKDOWN_BUDGET: usize = 60_000;

/// A row of the Markdown table of the two runs: its name and how to show a side.
type Field = (&'static str, fn(&DiffSide) -> String);

/// Whether a summary entry was cut short by Ctrl-C (it has no verdict of its own).
fn is_interrupted(e: &SummaryEntry) -> bool {
    e.detail.as_deref().is_some_and(|d| d.starts_with("interrupted"))
}

/// At most this many lines of one side's detail in the terminal table.
const DETAIL_LINES: usize = 8;

fn write_indented(o: &mut String, head: &str, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().take(DETAIL_LINES).enumerate() {
        let lead = if i == 0 { head.to_string() } else { " ".repeat(head.chars().count()) };
        let _ = writeln!(o, "    {lead}{l}");
    }
    if lines.len() > DETAIL_LINES {
        let _ = writeln!(
            o,
            "    {}… {} more lines (see --format json)",
            " ".repeat(head.chars().count()),
            lines.len() - DETAIL_LINES
        );
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// Text safe inside a Markdown table cell: `|` escaped, line breaks as `<br>`, HTML
/// and Markdown's emphasis characters neutralised.
fn md_cell(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => o.push_str("\\|"),
            '\n' => o.push_str("<br>"),
            '\r' => {}
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '*' | '_' | '`' | '[' | ']' | '\\' => {
                o.push('\\');
                o.push(c);
            }
            c => o.push(c),
        }
    }
    o
}

/// Text safe inside a code span in a table cell (no backticks, no `|`, one line).
fn md_code(s: &str) -> String {
    s.replace('`', "'").replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{Profile, Sdkconfig};
    use crate::report::summary::RunState;

    fn entry(id: &str, v: Verdict, detail: Option<&str>, step: Option<usize>) -> SummaryEntry {
        SummaryEntry {
            id: id.into(),
            name: format!("the {id} scenario"),
            tags: vec![],
            verdict: v,
            wall_ms: 0,
            virtual_ms: 0,
            detail: detail.map(str::to_string),
            failed_step: step,
            seed: 0,
            case_file: String::new(),
            drawn: Default::default(),
        }
    }

    fn summary(dut: DutRecord, scenarios: Vec<SummaryEntry>) -> Summary {
        Summary {
            tool_version: "0".into(),
            dut,
            profile: "idf6".into(),
            seed: 1,
            world: "real".into(),
            sdkconfig: vec![],
            wall_ms: 0,
            world_ms: 0,
            state: RunState::Finished,
            complete: true,
            planned: scenarios.len(),
            counts: Counts::default(),
            scenarios,
        }
    }

    #[test]
    fn rows_say_how_each_scenario_differs() {
        let host = DutRecord::host(Profile::Idf6, &Sdkconfig::default());
        let left = summary(
            host.clone(),
            vec![
                entry("a", Verdict::Pass, None, None),
                entry("b", Verdict::Pass, None, None),
                entry("c", Verdict::Pass, None, None),
                entry("d", Verdict::Fail, Some("expected CONNECTED"), Some(2)),
                entry("gone", Verdict::Pass, None, None),
            ],
        );
        let right = summary(
            host,
            vec![
                entry("a", Verdict::Pass, None, None),
                entry("b", Verdict::Fail, Some("expected DATA\ngot CLOSED"), Some(3)),
                entry("c", Verdict::Skip, Some("needs the simulated network"), None),
                entry("d", Verdict::Pass, None, None),
                entry("new", Verdict::Error, Some("no hello"), None),
            ],
        );
        let d = DiffReport::new("l.json", &left, "r.json", &right);
        assert!(d.same_dut);
        let st: Vec<(&str, RowStatus, bool)> =
            d.rows.iter().map(|r| (r.id.as_str(), r.status, r.regressed)).collect();
        assert_eq!(
            st,
            [
                ("b", RowStatus::Verdicts, true),
                ("c", RowStatus::SkippedRight, false),
                ("d", RowStatus::Verdicts, false),
                ("gone", RowStatus::OnlyLeft, false),
                ("new", RowStatus::OnlyRight, true),
            ]
        );
        assert_eq!((d.compared, d.agree, d.regressions), (4, 1, 2));
        assert_eq!(d.exit_code(), exit::FAILED);
        assert_eq!(
            d.rows[0].right.as_ref().unwrap().explain().unwrap(),
            "step 3: expected DATA\ngot CLOSED"
        );
        // Nothing regressed: the same DUT is 0 even with differences.
        let d = DiffReport::new(
            "l",
            &left,
            "l",
            &summary(
                left.dut.clone(),
                vec![
                    entry("a", Verdict::Pass, None, None),
                    entry("b", Verdict::Pass, None, None),
                    entry("c", Verdict::Pass, None, None),
                    entry("d", Verdict::Pass, None, None),
                    entry("gone", Verdict::Pass, None, None),
                ],
            ),
        );
        assert_eq!((d.rows.len(), d.exit_code()), (1, exit::SUCCESS));
    }

    #[test]
    fn two_duts_that_disagree_exit_1_even_without_a_regression() {
        let host = DutRecord::host(Profile::Idf6, &Sdkconfig::default());
        let other = DutRecord::host(Profile::Idf55, &Sdkconfig::default());
        let left = summary(host, vec![entry("a", Verdict::Fail, Some("x"), Some(1))]);
        let right = summary(other, vec![entry("a", Verdict::Pass, None, None)]);
        let d = DiffReport::new("l", &left, "r", &right);
        assert!(!d.same_dut);
        assert!(d.dut_differences.iter().any(|f| f.field == "profile"));
        assert_eq!((d.regressions, d.exit_code()), (0, exit::FAILED));
        let same = DiffReport::new(
            "l",
            &right,
            "r",
            &summary(left.dut.clone(), vec![entry("a", Verdict::Pass, None, None)]),
        );
        assert_eq!(same.exit_code(), exit::SUCCESS);
        assert!(same.terminal().contains("no outcome differs (1 scenarios compared)"));
    }

    #[test]
    fn a_long_markdown_table_stops_within_a_comments_size_and_says_how_many_are_left() {
        let host = DutRecord::host(Profile::Idf6, &Sdkconfig::default());
        let other = DutRecord::host(Profile::Idf55, &Sdkconfig::default());
        let long = "x".repeat(1000);
        let ids: Vec<String> = (0..500).map(|i| format!("s{i:03}")).collect();
        let left = summary(host, ids.iter().map(|i| entry(i, Verdict::Pass, None, None)).collect());
        let mut right = summary(
            other,
            ids.iter().map(|i| entry(i, Verdict::Fail, Some(&long), Some(1))).collect(),
        );
        right.world = "sim".into();
        let d = DiffReport::new("l", &left, "r", &right);
        let md = d.markdown();
        assert!(md.len() < 65_536, "{}", md.len());
        let shown = md.lines().filter(|l| l.starts_with("| `s")).count();
        assert!(shown > 50 && shown < 500, "{shown}");
        assert!(md.contains(&format!("… and {} more", 500 - shown)), "{}", &md[md.len() - 200..]);
        assert!(md.contains("different worlds (real and sim)"));
        assert!(d.terminal().contains("note: the runs were made in different worlds"));
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md_cell("a|b\nc <x> *y*"), "a\\|b<br>c &lt;x&gt; \\*y\\*");
        assert_eq!(md_code("a`b|c"), "a'b\\|c");
        assert_eq!(DiffFormat::parse("md").unwrap(), DiffFormat::Markdown);
        assert!(
            DiffFormat::parse("yaml").unwrap_err().contains("expected terminal, json or markdown")
        );
    }
}
