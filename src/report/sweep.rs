//! The report of a seed sweep, aggregated as the seeds come in: per scenario, how many
//! seeds passed, failed, errored or skipped, and the failures grouped by signature
//! (the failed step, the expectation and what came instead, with times normalised),
//! each group with its count, smallest seeds, the values its smallest seed drew and the
//! command that reruns it. Only a bounded number of full reports is kept (the smallest
//! seeds of each group and a small sample of passing seeds), so memory stays flat
//! whatever the number of seeds; those alone get case files.
//!
//! `summary.json` is the ordinary summary, one entry per scenario with the sweep's
//! verdict (`fail` if any seed failed, else `error` if any errored, else `skip` if every
//! seed skipped, else `pass`) — so the baseline gate works unchanged: a scenario that
//! passed every seed and now fails some is a regression — plus a `sweep` section.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::DutRecord;
use super::summary::{RunState, Summary};
use super::{ReportError, case_html, case_json, case_stem, make, write_atomic};
use crate::run::{RunInfo, ScenarioReport, SeedRange, SweepEvent, Verdict};

/// Full reports kept (and written as case files) per failure signature: its smallest
/// seeds.
pub const CASES_PER_SIGNATURE: usize = 3;
/// Seeds listed per failure signature.
pub const SEEDS_LISTED: usize = 5;
/// Passing seeds kept as a sample (the smallest).
pub const PASSING_SAMPLE: usize = 2;
/// Distinct failure signatures kept per scenario; failures of further signatures are
/// counted in `other_failures`.
pub const MAX_SIGNATURES: usize = 100;
/// Longest signature (in characters).
const MAX_SIGNATURE_CHARS: usize = 400;
/// The least time between two rewrites of `summary.json` while a sweep goes on.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What identifies a failure across seeds: the verdict, the failed step, the first
/// lines of the detail (the expectation, the event that came instead reduced to its
/// name, the mismatches), without the recent-events context and with times (`N ms`,
/// `t=N`) normalised — the mismatched values themselves are kept, since they are what
/// went wrong.
pub fn signature(r: &ScenarioReport) -> String {
    let detail = r.detail.as_deref().unwrap_or("");
    // "step N (file:line): …": the step is named on its own; the file is the same.
    let body = match (detail.strip_prefix("step "), detail.find("): ")) {
        (Some(_), Some(i)) => &detail[i + 3..],
        _ => detail,
    };
    let mut parts = Vec::new();
    for line in body.lines() {
        let t = line.trim();
        if t.starts_with("recent events") {
            break;
        }
        if t.is_empty() {
            continue;
        }
        match t.strip_prefix("got: ") {
            Some(got) => {
                let name = got.split('{').next().unwrap_or(got);
                parts.push(format!("got {name}"));
            }
            None => parts.push(t.to_string()),
        }
    }
    let step = r.failed_step.map_or_else(String::new, |s| format!(" step {s}"));
    let mut sig = format!("{}{step}: {}", r.verdict.label(), normalise_times(&parts.join("; ")));
    if sig.chars().count() > MAX_SIGNATURE_CHARS {
        sig = sig.chars().take(MAX_SIGNATURE_CHARS).collect::<String>() + "…";
    }
    sig
}

/// `123 ms` → `N ms`, `t=123` → `t=N`.
fn normalise_times(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let (head, tail) = rest.split_at(i);
        let digits = tail.find(|c: char| !c.is_ascii_digit()).unwrap_or(tail.len());
        let after = &tail[digits..];
        let is_time = after.starts_with(" ms") || after.starts_with("ms") || head.ends_with("t=");
        // A digit inside a word (`idf6`, `0x8006`) is not a number of its own.
        let in_word = head.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
        out.push_str(head);
        out.push_str(if is_time && !in_word { "N" } else { &tail[..digits] });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Quotes `s` for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '=' | ':' | '+')
        })
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a rerun names so that the scenario keeps its id (the id is mixed into its
/// seed): the file when its id is its file name (or set in the file), else the folder
/// the id is relative to.
fn rerun_target(file: &Path, id: &str) -> String {
    let stem = file.with_extension("").to_string_lossy().replace('\\', "/");
    let own_name = file.file_stem().is_some_and(|n| n.to_string_lossy() == id);
    match stem.strip_suffix(id) {
        Some(root) if !own_name && (root.is_empty() || root.ends_with('/')) => {
            let root = root.trim_end_matches('/');
            if root.is_empty() { ".".to_string() } else { root.to_string() }
        }
        _ => file.to_string_lossy().into_owned(),
    }
}

/// The command that reruns one scenario under one run seed; `flags` are the run's
/// other flags (profile, build options) as words.
pub fn rerun_command(file: &Path, id: &str, run_seed: u64, flags: &[String]) -> String {
    let mut c = format!(
        "wsim run {} --seed {run_seed} --filter {}",
        shell_word(&rerun_target(file, id)),
        shell_word(id)
    );
    for f in flags {
        c.push(' ');
        c.push_str(&shell_word(f));
    }
    c
}

/// A kept report.
struct Kept {
    seed: u64,
    report: Box<ScenarioReport>,
}

/// Keeps the `cap` entries with the smallest seeds, sorted.
fn keep_smallest(list: &mut Vec<Kept>, k: Kept, cap: usize) {
    if list.len() >= cap && list.last().is_some_and(|l| l.seed < k.seed) {
        return;
    }
    let at = list.partition_point(|x| x.seed < k.seed);
    list.insert(at, k);
    list.truncate(cap);
}

struct Group {
    count: u64,
    seeds: Vec<u64>,
    kept: Vec<Kept>,
}

#[derive(Default)]
struct Tally {
    name: String,
    tags: Vec<String>,
    file: PathBuf,
    passed: u64,
    failed: u64,
    errors: u64,
    skipped: u64,
    skip_detail: Option<String>,
    virtual_ms: u64,
    wall_ms: u64,
    groups: BTreeMap<String, Group>,
    other_failures: u64,
    passing: Vec<Kept>,
}

impl Tally {
    fn runs(&self) -> u64 {
        self.passed + self.failed + self.errors + self.skipped
    }

    fn verdict(&self) -> Verdict {
        if self.failed > 0 {
            Verdict::Fail
        } else if self.errors > 0 {
            Verdict::Error
        } else if self.skipped > 0 && self.passed == 0 {
            Verdict::Skip
        } else {
            Verdict::Pass
        }
    }

    /// The groups, most frequent first (ties: smallest seed first).
    fn sorted_groups(&self) -> Vec<(&String, &Group)> {
        let mut g: Vec<_> = self.groups.iter().collect();
        g.sort_by_key(|(_, x)| (std::cmp::Reverse(x.count), x.seeds.first().copied()));
        g
    }
}

/// A failure signature in `summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureGroup {
    /// The signature.
    pub signature: String,
    /// `fail` or `error`.
    pub verdict: Verdict,
    /// The failed step of its smallest seed.
    pub failed_step: Option<usize>,
    /// Seeds with this signature.
    pub count: u64,
    /// The smallest of them.
    pub smallest_seed: u64,
    /// The smallest few.
    pub seeds: Vec<u64>,
    /// What the smallest seed drew.
    pub drawn: BTreeMap<String, i64>,
    /// The smallest seed's full detail.
    pub detail: String,
    /// The command that reruns the smallest seed.
    pub rerun: String,
    /// Case files of the smallest seeds, relative to the report folder.
    pub case_files: Vec<String>,
}

/// A passing seed kept as a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassingSeed {
    /// The seed.
    pub seed: u64,
    /// What it drew.
    pub drawn: BTreeMap<String, i64>,
    /// Its case file.
    pub case_file: String,
}

/// One scenario of the sweep in `summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepScenario {
    /// Id.
    pub id: String,
    /// The sweep's verdict.
    pub verdict: Verdict,
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds passed.
    pub passed: u64,
    /// Seeds failed.
    pub failed: u64,
    /// Seeds errored.
    pub errors: u64,
    /// Seeds skipped.
    pub skipped: u64,
    /// Failures by signature, most frequent first.
    pub failures: Vec<FailureGroup>,
    /// Failures whose signature came after [`MAX_SIGNATURES`] others.
    pub other_failures: u64,
    /// A few passing seeds.
    pub passing_sample: Vec<PassingSeed>,
}

/// The `sweep` section of `summary.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSection {
    /// The first run seed.
    pub seed_start: u64,
    /// One past the last run seed.
    pub seed_end: u64,
    /// Seeds per scenario.
    pub seeds: u64,
    /// Runs done (scenarios × seeds, fewer when stopped).
    pub runs: u64,
    /// `--fail-fast` stopped the sweep at a failure.
    pub stopped_at_failure: bool,
    /// Per scenario, in id order.
    pub scenarios: Vec<SweepScenario>,
}

/// The sweep's report folder, fed with [`SweepEvent`]s.
pub struct SweepReport {
    dir: PathBuf,
    flags: Vec<String>,
    info: Option<RunInfo>,
    seeds: SeedRange,
    ids: Vec<String>,
    tallies: BTreeMap<String, Tally>,
    state: RunState,
    stopped_at_failure: bool,
    started: Instant,
    wall_ms: Option<u64>,
    next_flush: Instant,
    failures: usize,
}

impl SweepReport {
    /// A report written into `dir` (prepared by the caller); `flags` are the run's
    /// flags a rerun needs besides the file, seed and filter (`--profile idf5.5`, …).
    pub fn new(dir: &Path, flags: Vec<String>) -> SweepReport {
        SweepReport {
            dir: dir.to_path_buf(),
            flags,
            info: None,
            seeds: SeedRange { start: 0, end: 0 },
            ids: Vec::new(),
            tallies: BTreeMap::new(),
            state: RunState::Running,
            stopped_at_failure: false,
            started: Instant::now(),
            wall_ms: None,
            next_flush: Instant::now() + FLUSH_EVERY,
            failures: 0,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// File writes that failed.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Whether the sweep was interrupted.
    pub fn interrupted(&self) -> bool {
        self.state == RunState::Interrupted
    }

    fn agent(&self) -> String {
        self.info.as_ref().map_or_else(|| "wsim".into(), |i| i.dut.agent.clone())
    }

    /// The case file of scenario `id` under `seed`.
    fn case_file(&self, id: &str, seed: u64) -> String {
        format!("{}.json", case_stem(&self.agent(), &format!("{id}/seed-{seed}")))
    }

    /// Takes in one event.
    pub fn on_event(&mut self, e: &SweepEvent) {
        match e {
            SweepEvent::Started { info, ids, seeds } => {
                self.info = Some(info.clone());
                self.ids = ids.clone();
                self.seeds = *seeds;
            }
            SweepEvent::Seed { run_seed, report } => self.add(*run_seed, report),
            SweepEvent::Finished { wall_ms, interrupted, stopped_at_failure } => {
                self.wall_ms = Some(*wall_ms);
                self.stopped_at_failure = *stopped_at_failure;
                self.state = if *interrupted { RunState::Interrupted } else { RunState::Finished };
            }
        }
    }

    fn add(&mut self, seed: u64, r: &ScenarioReport) {
        let t = self.tallies.entry(r.id.clone()).or_default();
        if t.name.is_empty() {
            t.name = r.name.clone();
            t.tags = r.tags.clone();
            t.file = r.file.clone();
        }
        t.virtual_ms += r.virtual_ms;
        t.wall_ms += r.wall_ms;
        let kept = || Kept { seed, report: Box::new(r.clone()) };
        match r.verdict {
            Verdict::Pass => {
                t.passed += 1;
                if t.passing.len() < PASSING_SAMPLE
                    || t.passing.last().is_some_and(|l| l.seed > seed)
                {
                    keep_smallest(&mut t.passing, kept(), PASSING_SAMPLE);
                }
            }
            Verdict::Skip => {
                t.skipped += 1;
                t.skip_detail = r.detail.clone();
            }
            Verdict::Fail | Verdict::Error => {
                if r.verdict == Verdict::Fail {
                    t.failed += 1;
                } else {
                    t.errors += 1;
                }
                let sig = signature(r);
                if !t.groups.contains_key(&sig) && t.groups.len() >= MAX_SIGNATURES {
                    t.other_failures += 1;
                    return;
                }
                let g = t.groups.entry(sig).or_insert(Group {
                    count: 0,
                    seeds: Vec::new(),
                    kept: Vec::new(),
                });
                g.count += 1;
                let at = g.seeds.partition_point(|&s| s < seed);
                if at < SEEDS_LISTED {
                    g.seeds.insert(at, seed);
                    g.seeds.truncate(SEEDS_LISTED);
                }
                if g.kept.len() < CASES_PER_SIGNATURE
                    || g.kept.last().is_some_and(|l| l.seed > seed)
                {
                    keep_smallest(&mut g.kept, kept(), CASES_PER_SIGNATURE);
                }
            }
        }
        if Instant::now() >= self.next_flush {
            self.next_flush = Instant::now() + FLUSH_EVERY;
            if let Err(e) = self.write_summary() {
                self.failures += 1;
                eprintln!("error: {e}");
            }
        }
    }

    /// The `sweep` section.
    pub fn section(&self) -> SweepSection {
        let scenarios = self
            .tallies
            .iter()
            .map(|(id, t)| SweepScenario {
                id: id.clone(),
                verdict: t.verdict(),
                seeds_run: t.runs(),
                passed: t.passed,
                failed: t.failed,
                errors: t.errors,
                skipped: t.skipped,
                failures: t
                    .sorted_groups()
                    .into_iter()
                    .map(|(sig, g)| {
                        let first = &g.kept[0];
                        FailureGroup {
                            signature: sig.clone(),
                            verdict: first.report.verdict,
                            failed_step: first.report.failed_step,
                            count: g.count,
                            smallest_seed: first.seed,
                            seeds: g.seeds.clone(),
                            drawn: first.report.drawn.clone(),
                            detail: first.report.detail.clone().unwrap_or_default(),
                            rerun: rerun_command(&t.file, id, first.seed, &self.flags),
                            case_files: g.kept.iter().map(|k| self.case_file(id, k.seed)).collect(),
                        }
                    })
                    .collect(),
                other_failures: t.other_failures,
                passing_sample: t
                    .passing
                    .iter()
                    .map(|k| PassingSeed {
                        seed: k.seed,
                        drawn: k.report.drawn.clone(),
                        case_file: self.case_file(id, k.seed),
                    })
                    .collect(),
            })
            .collect();
        SweepSection {
            seed_start: self.seeds.start,
            seed_end: self.seeds.end,
            seeds: self.seeds.len(),
            runs: self.tallies.values().map(Tally::runs).sum(),
            stopped_at_failure: self.stopped_at_failure,
            scenarios,
        }
    }

    fn wall_ms(&self) -> u64 {
        self.wall_ms.unwrap_or_else(|| self.started.elapsed().as_millis() as u64)
    }

    /// The ordinary summary: one entry per scenario with the sweep's verdict, its
    /// smallest failing seed's report (or its smallest passing seed's) standing for it.
    pub fn summary(&self) -> Summary {
        let info = self.info.clone().unwrap_or(RunInfo {
            tool_version: env!("CARGO_PKG_VERSION").into(),
            dut: Box::new(DutRecord::legacy("none")),
            profile: String::new(),
            seed: self.seeds.start,
            world: "sim".into(),
            sdkconfig: Vec::new(),
        });
        let mut files = BTreeMap::new();
        let reps: Vec<ScenarioReport> = self
            .tallies
            .iter()
            .map(|(id, t)| {
                let groups = t.sorted_groups();
                let first_fail = groups
                    .iter()
                    .filter_map(|(_, g)| g.kept.first())
                    .min_by_key(|k| k.seed);
                let standing = first_fail.or(t.passing.first());
                let mut r = match standing {
                    Some(k) => {
                        files.insert(id.clone(), self.case_file(id, k.seed));
                        (*k.report).clone()
                    }
                    None => ScenarioReport {
                        id: id.clone(),
                        name: t.name.clone(),
                        tags: t.tags.clone(),
                        file: t.file.clone(),
                        verdict: Verdict::Skip,
                        detail: None,
                        failed_step: None,
                        wall_ms: 0,
                        virtual_ms: 0,
                        seed: 0,
                        trace: Vec::new(),
                        servers: BTreeMap::new(),
                        sdkconfig: Vec::new(),
                        dut_log: Vec::new(),
                        drawn: BTreeMap::new(),
                    },
                };
                r.trace.clear();
                r.servers.clear();
                r.verdict = t.verdict();
                r.wall_ms = t.wall_ms;
                r.virtual_ms = t.virtual_ms;
                let runs = t.runs();
                r.detail = Some(match (r.verdict, first_fail) {
                    (Verdict::Skip, _) => t.skip_detail.clone().unwrap_or_default(),
                    (_, Some(k)) => format!(
                        "{} of {runs} seeds failed, {} errored ({} signature(s)); smallest failing seed {}: {}",
                        t.failed,
                        t.errors,
                        t.groups.len(),
                        k.seed,
                        rerun_command(&t.file, id, k.seed, &self.flags)
                    ),
                    _ => format!("{} of {runs} seeds passed", t.passed),
                });
                r
            })
            .collect();
        let planned = self.ids.len().max(reps.len());
        let state = self.state;
        Summary::new(&info, &reps, self.wall_ms(), state, planned, |id| {
            files.get(id).cloned().unwrap_or_default()
        })
    }

    /// `summary.json`: the summary with the `sweep` section.
    pub fn summary_json(&self) -> Value {
        let mut v = serde_json::to_value(self.summary()).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("sweep".into(), serde_json::to_value(self.section()).unwrap_or_default());
        }
        v
    }

    fn write_summary(&self) -> Result<(), ReportError> {
        let body = make(&self.dir, "summary.json", || {
            serde_json::to_string_pretty(&self.summary_json()).map_err(|e| e.to_string())
        })?;
        write_atomic(&self.dir, "summary.json", body.as_bytes())
    }

    /// Writes the case files of the kept seeds and `summary.json`. Every file is
    /// attempted; returns the errors.
    pub fn finish(&mut self) -> Vec<ReportError> {
        let agent = self.agent();
        let dut =
            self.info.as_ref().map_or_else(|| DutRecord::legacy("none"), |i| (*i.dut).clone());
        let mut errors = Vec::new();
        for (id, t) in &self.tallies {
            let kept = t.groups.values().flat_map(|g| g.kept.iter()).chain(t.passing.iter());
            for (n, k) in kept.enumerate() {
                let stem = case_stem(&agent, &format!("{id}/seed-{}", k.seed));
                let (json_name, html_name) = (format!("{stem}.json"), format!("{stem}.html"));
                let json = make(&self.dir, &json_name, || {
                    serde_json::to_string_pretty(&case_json(&agent, &dut, n, &k.report))
                        .map_err(|e| e.to_string())
                })
                .and_then(|j| write_atomic(&self.dir, &json_name, j.as_bytes()));
                let html = make(&self.dir, &html_name, || Ok(case_html(&dut, &k.report)))
                    .and_then(|h| write_atomic(&self.dir, &html_name, h.as_bytes()));
                errors.extend(json.err());
                errors.extend(html.err());
            }
        }
        errors.extend(self.write_summary().err());
        self.failures += errors.len();
        errors
    }

    /// Runs that failed or errored.
    pub fn bad_runs(&self) -> u64 {
        self.tallies.values().map(|t| t.failed + t.errors).sum()
    }

    /// Prints the sweep's outcome: a table of seed counts per scenario, then each
    /// failing scenario's signatures with their smallest seed, drawn values and rerun
    /// command.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        if let Some(i) = &self.info {
            writeln!(
                out,
                "wsim {} · DUT {} · world {} · seeds {} ({} per scenario)",
                i.tool_version,
                i.dut.describe(),
                i.world,
                self.seeds,
                self.seeds.len()
            )?;
        }
        let width = self.tallies.keys().map(String::len).max().unwrap_or(10).clamp(8, 60);
        writeln!(
            out,
            "{:<width$}  {:>7}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
            "scenario", "verdict", "seeds", "passed", "failed", "errors", "skipped"
        )?;
        for (id, t) in &self.tallies {
            writeln!(
                out,
                "{:<width$}  {:>7}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
                id,
                t.verdict().label(),
                t.runs(),
                t.passed,
                t.failed,
                t.errors,
                t.skipped
            )?;
        }
        let section = self.section();
        for s in section.scenarios.iter().filter(|s| !s.failures.is_empty()) {
            writeln!(
                out,
                "\n--- {}: {} of {} seeds failed, {} errored",
                s.id, s.failed, s.seeds_run, s.errors
            )?;
            for g in &s.failures {
                writeln!(out, "{:>6} × {}", g.count, g.signature)?;
                let shown: Vec<String> = g.seeds.iter().map(u64::to_string).collect();
                let more = if g.count > g.seeds.len() as u64 { ", …" } else { "" };
                writeln!(out, "         seeds {}{more}", shown.join(", "))?;
                if !g.drawn.is_empty() {
                    let d: Vec<String> = g.drawn.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    writeln!(out, "         seed {} drew {}", g.smallest_seed, d.join(", "))?;
                }
                writeln!(out, "         rerun: {}", g.rerun)?;
            }
            if s.other_failures > 0 {
                writeln!(
                    out,
                    "{:>6} × (further signatures, beyond {MAX_SIGNATURES})",
                    s.other_failures
                )?;
            }
        }
        let runs = section.runs;
        let (passed, failed, errors, skipped) = self.tallies.values().fold((0, 0, 0, 0), |a, t| {
            (a.0 + t.passed, a.1 + t.failed, a.2 + t.errors, a.3 + t.skipped)
        });
        if self.state == RunState::Interrupted {
            writeln!(
                out,
                "\ninterrupted: {runs} of {} runs have a verdict",
                self.seeds.len() * self.ids.len() as u64
            )?;
        }
        if self.stopped_at_failure {
            writeln!(out, "\nstopped at the first failure (--fail-fast): {runs} runs done")?;
        }
        writeln!(out, "\nreports in {}", self.dir.display())?;
        let secs = self.wall_ms() as f64 / 1000.0;
        writeln!(
            out,
            "{runs} runs ({} scenarios × {} seeds): {passed} passed, {failed} failed, {errors} errors, {skipped} skipped in {secs:.2} s",
            self.ids.len(),
            self.seeds.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdict: Verdict, step: Option<usize>, detail: &str) -> ScenarioReport {
        ScenarioReport {
            id: "x".into(),
            name: "x".into(),
            tags: vec![],
            file: "s/x.toml".into(),
            verdict,
            detail: Some(detail.into()),
            failed_step: step,
            wall_ms: 0,
            virtual_ms: 0,
            seed: 0,
            trace: vec![],
            servers: BTreeMap::new(),
            sdkconfig: vec![],
            dut_log: vec![],
            drawn: BTreeMap::new(),
        }
    }

    #[test]
    fn signatures_drop_context_and_times_but_keep_the_values_that_differ() {
        let a = report(
            Verdict::Fail,
            Some(4),
            "step 4 (s/x.toml:20): expect.a: expected data {event=\"data\"} within 150 ms, got nothing\n  recent events of a:\n    t=12 ms connected",
        );
        let b = report(
            Verdict::Fail,
            Some(4),
            "step 4 (s/x.toml:20): expect.a: expected data {event=\"data\"} within 150 ms, got nothing\n  recent events of a:\n    t=99 ms data",
        );
        assert_eq!(signature(&a), signature(&b));
        assert_eq!(
            signature(&a),
            "FAIL step 4: expect.a: expected data {event=\"data\"} within N ms, got nothing"
        );
        let c = report(
            Verdict::Fail,
            Some(5),
            "step 5 (s/x.toml:22): expect.a: expected closed {close_status_code=1000}\n  got: data{op_code=8, fin=true}\n  mismatched: close_status_code: expected 1000, got 1006; arrived after 12 ms, expected at least 150 ms\n  recent events of a:\n",
        );
        let s = signature(&c);
        assert!(s.contains("got data;"), "{s}");
        assert!(s.contains("expected 1000, got 1006"), "{s}");
        assert!(s.contains("arrived after N ms, expected at least N ms"), "{s}");
        assert_eq!(normalise_times("idf6 0x8006 t=5 7ms"), "idf6 0x8006 t=N Nms");
    }

    #[test]
    fn rerun_commands_keep_the_id() {
        let c = |f: &str, id: &str| rerun_command(Path::new(f), id, 1, &[]);
        assert_eq!(c("s/x.toml", "x"), "wsim run s/x.toml --seed 1 --filter x");
        assert_eq!(
            c("scenarios/sweeps/a.toml", "sweeps/a"),
            "wsim run scenarios --seed 1 --filter sweeps/a"
        );
        assert_eq!(c("sweeps/a.toml", "sweeps/a"), "wsim run . --seed 1 --filter sweeps/a");
        // An id set in the file travels with it.
        assert_eq!(c("s/x.toml", "custom"), "wsim run s/x.toml --seed 1 --filter custom");
        assert_eq!(c("s/ab.toml", "b"), "wsim run s/ab.toml --seed 1 --filter b");
    }

    #[test]
    fn rerun_commands_quote_what_needs_it() {
        let c = rerun_command(
            Path::new("a b/x.toml"),
            "it's",
            7,
            &["--profile".into(), "idf5.5".into()],
        );
        assert_eq!(c, r"wsim run 'a b/x.toml' --seed 7 --filter 'it'\''s' --profile idf5.5");
    }

    #[test]
    fn groups_keep_the_smallest_seeds_whatever_the_order() {
        let dir = std::env::temp_dir();
        let mut fwd = SweepReport::new(&dir, vec![]);
        let mut rev = SweepReport::new(&dir, vec![]);
        let runs: Vec<(u64, ScenarioReport)> = (0..50)
            .map(|s| {
                let r = if s % 3 == 0 {
                    report(
                        Verdict::Fail,
                        Some(2),
                        "step 2 (f:1): expect.a: expected x within 5 ms, got nothing",
                    )
                } else {
                    report(Verdict::Pass, None, "")
                };
                (s, r)
            })
            .collect();
        for (s, r) in &runs {
            fwd.add(*s, r);
        }
        for (s, r) in runs.iter().rev() {
            rev.add(*s, r);
        }
        assert_eq!(fwd.section(), rev.section());
        let sc = &fwd.section().scenarios[0];
        assert_eq!((sc.passed, sc.failed), (33, 17));
        assert_eq!(sc.failures[0].seeds, vec![0, 3, 6, 9, 12]);
        assert_eq!(sc.failures[0].case_files.len(), CASES_PER_SIGNATURE);
        assert_eq!(sc.passing_sample.iter().map(|p| p.seed).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(fwd.summary().scenarios[0].verdict, Verdict::Fail);
    }
}
