//! Consumers of run events: the terminal, `summary.json`, Autobahn-compatible
//! `index.json` and case files, `index.html`, `junit.xml`, and the baseline diff.

mod baseline;
mod case;
mod diff;
mod dut;
mod html;
mod junit;
mod merge;
mod summary;
mod sweep;
mod terminal;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use baseline::{Change, diff};
pub use case::{behavior, behavior_close, case_json, case_stem, remote_close_code, slug};
pub use diff::{DiffFormat, DiffReport, DiffRow, DiffSide, SideResult};
pub use dut::{DutRecord, LinkKind, agent_name, slug_safe};
pub use html::{case_html, esc, index_html};
pub use junit::junit_xml;
pub use merge::{MergeError, MergeSummary, merge_reports};
pub use summary::{Counts, RunState, Summary, SummaryEntry};
pub use sweep::{
    CASES_PER_SIGNATURE, FailureGroup, MAX_SIGNATURES, PASSING_SAMPLE, PassingSeed, SweepReport,
    SweepScenario, SweepSection, rerun_command, signature,
};
pub use terminal::Terminal;

use crate::run::{RunEvent, RunInfo, ScenarioReport, Verdict, panic_message};

/// Why reports could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report folder cannot be created or written in (found before the run).
    #[error("cannot use {dir} as the report folder: {error}")]
    Folder {
        /// The folder.
        dir: PathBuf,
        /// The cause.
        error: String,
    },
    /// The report folder holds files that are not a wsim report.
    #[error("{dir} holds files that are not a wsim report ({files}); choose a new or empty folder")]
    NotAReport {
        /// The folder.
        dir: PathBuf,
        /// Some of those files.
        files: String,
    },
    /// A file could not be written.
    #[error("cannot write {file}: {error}")]
    Write {
        /// The file.
        file: PathBuf,
        /// The cause.
        error: String,
    },
    /// Making a file's contents panicked (a bug of wsim); the other files are written.
    #[error("internal error in wsim while making {file}: panicked: {message}")]
    Panic {
        /// The file.
        file: PathBuf,
        /// The panic's message.
        message: String,
    },
}

/// The least time between two rewrites of the run-wide files while a run goes on.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Whether `name` is a file a wsim report folder holds: the run-wide files, the case
/// files of the report's DUT (`<agent slug>_case_….json|html`, `agent` being the
/// `dut.agent` of the folder's `summary.json`), case files of the host model
/// (`wsim…_case_…`), and the hidden temporary files of atomic writes.
pub fn is_report_file(name: &str, agent: Option<&str>) -> bool {
    let case_of = |prefix: &str| {
        name.starts_with(prefix)
            && name[prefix.len()..].contains("_case_")
            && (name.ends_with(".json") || name.ends_with(".html"))
    };
    matches!(name, "summary.json" | "index.json" | "index.html" | "junit.xml")
        || case_of("wsim")
        || agent.is_some_and(|a| !a.is_empty() && case_of(&slug(a)))
        || (name.starts_with('.') && name.ends_with(".tmp"))
}

/// The DUT's agent name recorded in `dir/summary.json`, if that file reads.
fn recorded_agent(dir: &Path) -> Option<String> {
    Summary::read(&dir.join("summary.json")).ok().map(|s| s.dut.agent)
}

/// Creates a new folder `base/<stem>`, or `base/<stem>-2`, `-3`… when taken, atomically
/// (`create_dir`, so two runs never share one). `base` is created if missing.
pub fn create_unique_dir(base: &Path, stem: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(base)?;
    for n in 1..=10_000u32 {
        let name = if n == 1 { stem.to_string() } else { format!("{stem}-{n}") };
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{stem} and 9999 suffixed names are all taken"),
    ))
}

/// Writes `body` to `dir/name` atomically: into a hidden temporary file, then renamed,
/// so a crash never leaves a truncated file under the real name.
fn write_atomic(dir: &Path, name: &str, body: &[u8]) -> Result<(), ReportError> {
    let file = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, &file)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ReportError::Write { file, error: e.to_string() }
    })
}

/// Runs `make`, turning a panic into an error naming `file`.
fn guarded<T>(dir: &Path, file: &str, make: impl FnOnce() -> T) -> Result<T, ReportError> {
    std::panic::catch_unwind(AssertUnwindSafe(make)).map_err(|p| ReportError::Panic {
        file: dir.join(file),
        message: panic_message(p.as_ref()),
    })
}

/// Makes the contents of `dir/file` with `make`: its error or panic names the file.
fn make(
    dir: &Path,
    file: &str,
    make: impl FnOnce() -> Result<String, String>,
) -> Result<String, ReportError> {
    guarded(dir, file, make)?.map_err(|error| ReportError::Write { file: dir.join(file), error })
}

/// Errors reported one by one before the rest are only counted.
const ERRORS_SHOWN: usize = 5;

/// The report folder of a run, written as the run goes: each scenario's case files when
/// it finishes, `summary.json` (marked `"state": "running"`, `"complete": false`),
/// `index.json`, `index.html` and `junit.xml` at most every [`FLUSH_EVERY`] (see
/// [`ReportDir::flush_due`]) and once more at the end ([`ReportDir::finish`]). Every
/// file is replaced atomically, so the folder is a valid partial report at any moment.
pub struct ReportDir {
    dir: PathBuf,
    replaced: usize,
    info: Option<RunInfo>,
    planned: Vec<String>,
    reports: Vec<ScenarioReport>,
    sorted: bool,
    started: Instant,
    wall_ms: Option<u64>,
    state: RunState,
    dirty: bool,
    next_flush: Instant,
    failures: usize,
}

impl ReportDir {
    fn at(dir: PathBuf, replaced: usize) -> Result<Self, ReportError> {
        // Checked before anything runs: a folder that cannot be written fails now.
        write_atomic(&dir, ".wsim-probe.tmp", b"probe")
            .and_then(|()| {
                std::fs::remove_file(dir.join(".wsim-probe.tmp")).map_err(|e| ReportError::Write {
                    file: dir.join(".wsim-probe.tmp"),
                    error: e.to_string(),
                })
            })
            .map_err(|e| ReportError::Folder {
                dir: dir.clone(),
                error: match e {
                    ReportError::Write { error, .. } => format!("cannot write in it: {error}"),
                    other => other.to_string(),
                },
            })?;
        let now = Instant::now();
        Ok(ReportDir {
            dir,
            replaced,
            info: None,
            planned: Vec::new(),
            reports: Vec::new(),
            sorted: true,
            started: now,
            wall_ms: None,
            state: RunState::Running,
            dirty: false,
            next_flush: now,
            failures: 0,
        })
    }

    /// A new folder under `base` named after the current UTC time to the millisecond
    /// (`reports/20261123-142501-123`), with `-2`, `-3`… if another run took it.
    pub fn create_default(base: &Path) -> Result<Self, ReportError> {
        let now = time::OffsetDateTime::now_utc();
        let stem = format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}-{:03}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond()
        );
        let dir = create_unique_dir(base, &stem)
            .map_err(|e| ReportError::Folder { dir: base.join(&stem), error: e.to_string() })?;
        ReportDir::at(dir, 0)
    }

    /// The folder the user named: created if missing; used if empty; if it holds a
    /// previous wsim report and nothing else, that report's files are deleted first (so
    /// no stale case file mixes in); anything else in it (other files, folders) is an
    /// error, and so is a path that is not a folder or cannot be written in.
    pub fn create_at(dir: &Path) -> Result<Self, ReportError> {
        let folder_err = |e: &dyn std::fmt::Display| ReportError::Folder {
            dir: dir.to_path_buf(),
            error: e.to_string(),
        };
        match std::fs::metadata(dir) {
            Ok(m) if !m.is_dir() => Err(folder_err(&"it exists and is not a folder")),
            Ok(_) => {
                let mut ours = Vec::new();
                let mut foreign = Vec::new();
                let agent = recorded_agent(dir);
                for entry in std::fs::read_dir(dir).map_err(|e| folder_err(&e))? {
                    let entry = entry.map_err(|e| folder_err(&e))?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
                    if file && is_report_file(&name, agent.as_deref()) {
                        ours.push(entry.path());
                    } else {
                        foreign.push(name);
                    }
                }
                if !foreign.is_empty() {
                    foreign.sort();
                    let mut files = foreign.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
                    if foreign.len() > 3 {
                        files.push_str(&format!(" and {} more", foreign.len() - 3));
                    }
                    return Err(ReportError::NotAReport { dir: dir.to_path_buf(), files });
                }
                for f in &ours {
                    std::fs::remove_file(f)
                        .map_err(|e| folder_err(&format!("cannot replace {}: {e}", f.display())))?;
                }
                ReportDir::at(dir.to_path_buf(), ours.len())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| folder_err(&e))?;
                ReportDir::at(dir.to_path_buf(), 0)
            }
            Err(e) => Err(folder_err(&e)),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many files of a previous report [`ReportDir::create_at`] deleted.
    pub fn replaced(&self) -> usize {
        self.replaced
    }

    /// How many file writes failed so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// The agent name used in Autobahn-style files: the DUT's (`dut.agent`).
    pub fn agent(&self) -> String {
        self.info.as_ref().map_or_else(|| "wsim".into(), |i| i.dut.agent.clone())
    }

    /// Counts a failure; returns it while few enough were shown.
    fn failed(&mut self, e: ReportError) -> Result<(), ReportError> {
        self.failures += 1;
        if self.failures <= ERRORS_SHOWN { Err(e) } else { Ok(()) }
    }

    /// Consumes one run event, writing a finished scenario's case files at once and the
    /// run-wide files when due. Returns the first new write error (the first few only;
    /// later ones are counted in [`ReportDir::failures`]).
    pub fn on_event(&mut self, e: &RunEvent) -> Result<(), ReportError> {
        match e {
            RunEvent::RunStarted { info, ids, .. } => {
                self.info = Some(info.clone());
                self.planned = ids.clone();
                self.planned.sort();
                self.flush()
            }
            RunEvent::ScenarioStarted { .. } => Ok(()),
            RunEvent::ScenarioFinished(r) => {
                let written = self.write_case(r);
                self.reports.push((**r).clone());
                self.sorted = false;
                self.dirty = true;
                let flushed = if Instant::now() >= self.next_flush { self.flush() } else { Ok(()) };
                written.and(flushed)
            }
            RunEvent::RunFinished { wall_ms, interrupted } => {
                self.wall_ms = Some(*wall_ms);
                self.state = if *interrupted { RunState::Interrupted } else { RunState::Finished };
                self.dirty = true;
                Ok(())
            }
        }
    }

    fn write_case(&mut self, r: &ScenarioReport) -> Result<(), ReportError> {
        let agent = self.agent();
        let dut = &self.info().dut;
        let stem = case_stem(&agent, &r.id);
        let number = self.planned.binary_search(&r.id).unwrap_or(self.reports.len());
        let mut first = Ok(());
        let (json_name, html_name) = (format!("{stem}.json"), format!("{stem}.html"));
        let json = make(&self.dir, &json_name, || {
            serde_json::to_string_pretty(&case_json(&agent, dut, number, r))
                .map_err(|e| e.to_string())
        })
        .and_then(|j| write_atomic(&self.dir, &json_name, j.as_bytes()));
        if let Err(e) = json {
            first = first.and(self.failed(e));
        }
        let html = make(&self.dir, &html_name, || Ok(case_html(dut, r)))
            .and_then(|h| write_atomic(&self.dir, &html_name, h.as_bytes()));
        if let Err(e) = html {
            first = first.and(self.failed(e));
        }
        first
    }

    /// When the run-wide files are next due to be rewritten (`None`: nothing new).
    pub fn flush_due(&self) -> Option<Instant> {
        self.dirty.then_some(self.next_flush)
    }

    /// The reports so far, in id order.
    pub fn reports(&mut self) -> &[ScenarioReport] {
        if !self.sorted {
            self.reports.sort_by(|a, b| a.id.cmp(&b.id));
            self.sorted = true;
        }
        &self.reports
    }

    fn info(&self) -> RunInfo {
        self.info.clone().unwrap_or(RunInfo {
            tool_version: env!("CARGO_PKG_VERSION").into(),
            dut: Box::new(DutRecord::legacy("none")),
            profile: String::new(),
            seed: 0,
            world: "real".into(),
            sdkconfig: Vec::new(),
        })
    }

    fn wall_ms(&self) -> u64 {
        self.wall_ms.unwrap_or_else(|| self.started.elapsed().as_millis() as u64)
    }

    /// The summary of what is known now (a partial one while the run goes on).
    pub fn summary(&mut self) -> Summary {
        let (info, agent, wall_ms, state) = (self.info(), self.agent(), self.wall_ms(), self.state);
        let planned = self.planned.len().max(self.reports.len());
        Summary::new(&info, self.reports(), wall_ms, state, planned, |id| {
            format!("{}.json", case_stem(&agent, id))
        })
    }

    /// Rewrites `summary.json`, `index.json`, `index.html` and `junit.xml` from what is
    /// known now. Every file is attempted; returns the first error shown.
    pub fn flush(&mut self) -> Result<(), ReportError> {
        let t0 = Instant::now();
        let summary = self.summary();
        let info = self.info();
        let agent = self.agent();
        let wall_ms = self.wall_ms();
        let dir = self.dir.clone();
        let reports = self.reports();
        // The summary first: it is what a partial report is read for.
        let files = [
            (
                "summary.json",
                make(&dir, "summary.json", || {
                    serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())
                }),
            ),
            ("index.json", make(&dir, "index.json", || Ok(index_json(&agent, reports)))),
            ("index.html", make(&dir, "index.html", || Ok(index_html(&info, &agent, reports)))),
            ("junit.xml", make(&dir, "junit.xml", || junit_xml(&info, reports, wall_ms))),
        ];
        let mut first = Ok(());
        for (name, body) in files {
            let written = body.and_then(|body| write_atomic(&dir, name, body.as_bytes()));
            if let Err(e) = written {
                first = first.and(self.failed(e));
            }
        }
        self.dirty = false;
        // Bounded cost: at most every FLUSH_EVERY, and never more than a fifth of the time.
        self.next_flush = Instant::now() + FLUSH_EVERY.max(t0.elapsed() * 4);
        first
    }

    /// Writes the run-wide files a last time (after [`RunEvent::RunFinished`], they say
    /// `finished` or `interrupted`).
    pub fn finish(&mut self) -> Result<(), ReportError> {
        self.flush()
    }
}

/// `index.json` in Autobahn's schema: agent → case id → outcome.
fn index_json(agent: &str, reports: &[ScenarioReport]) -> String {
    let mut index = serde_json::Map::new();
    for r in reports.iter().filter(|r| r.verdict != Verdict::Skip) {
        index.insert(
            r.id.clone(),
            serde_json::json!({
                "behavior": behavior(r.verdict),
                "behaviorClose": behavior_close(r),
                "duration": r.wall_ms,
                "remoteCloseCode": remote_close_code(r),
                "reportfile": format!("{}.json", case_stem(agent, &r.id)),
            }),
        );
    }
    let mut agents = serde_json::Map::new();
    agents.insert(agent.to_string(), serde_json::Value::Object(index));
    serde_json::to_string_pretty(&serde_json::Value::Object(agents)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wsim-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_taken_name_gets_a_suffix_and_nothing_is_shared() {
        let base = tmp("unique");
        let a = create_unique_dir(&base, "20260101-000000-000").unwrap();
        let b = create_unique_dir(&base, "20260101-000000-000").unwrap();
        let c = create_unique_dir(&base, "20260101-000000-000").unwrap();
        assert_eq!(a, base.join("20260101-000000-000"));
        assert_eq!(b, base.join("20260101-000000-000-2"));
        assert_eq!(c, base.join("20260101-000000-000-3"));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_folder_with_foreign_files_is_refused_and_a_previous_report_is_replaced() {
        let dir = tmp("explicit");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["summary.json", "index.json", "wsim_x_case_a.json", "wsim_x_case_a.html"] {
            std::fs::write(dir.join(f), "old").unwrap();
        }
        let r = ReportDir::create_at(&dir).unwrap();
        assert_eq!(r.replaced(), 4);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the old report is gone");
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let e = ReportDir::create_at(&dir).err().expect("refused");
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_path_that_cannot_be_a_folder_is_refused() {
        let dir = tmp("file");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("plain");
        std::fs::write(&file, "x").unwrap();
        for bad in [file.clone(), file.join("below"), dir.join("n".repeat(300))] {
            let e = ReportDir::create_at(&bad).err().expect("refused");
            assert!(matches!(e, ReportError::Folder { .. }), "{bad:?}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_panic_while_making_a_file_is_an_error_naming_it() {
        let dir = Path::new("/nowhere");
        let e = make(dir, "index.html", || -> Result<String, String> { panic!("boom {}", 1) })
            .unwrap_err();
        assert!(matches!(&e, ReportError::Panic { message, .. } if message == "boom 1"), "{e}");
        assert!(e.to_string().contains("/nowhere/index.html"), "{e}");
        assert_eq!(make(dir, "x", || Ok("fine".into())).unwrap(), "fine");
    }

    #[test]
    fn a_partial_report_is_valid_after_every_scenario() {
        use crate::run::{RunInfo, Verdict};
        let dir = tmp("partial");
        let mut r = ReportDir::create_at(&dir).unwrap();
        let info = RunInfo {
            sdkconfig: Default::default(),
            tool_version: "0".into(),
            dut: Box::new(DutRecord::legacy("host model (idf6)")),
            profile: "idf6".into(),
            seed: 1,
            world: "sim".into(),
        };
        let ids = vec!["b".to_string(), "a".to_string()];
        r.on_event(&RunEvent::RunStarted { info, total: 2, ids }).unwrap();
        let read = || -> Summary { Summary::read(&dir).unwrap() };
        let s = read();
        assert_eq!(
            (s.state, s.complete, s.planned, s.counts.total),
            (RunState::Running, false, 2, 0)
        );
        let report = |id: &str| ScenarioReport {
            sdkconfig: Default::default(),
            dut_log: Vec::new(),
            drawn: Default::default(),
            id: id.into(),
            name: id.into(),
            tags: vec![],
            file: PathBuf::from(format!("{id}.toml")),
            verdict: Verdict::Pass,
            detail: None,
            failed_step: None,
            wall_ms: 1,
            virtual_ms: 1,
            seed: 1,
            trace: vec![],
            servers: Default::default(),
        };
        r.on_event(&RunEvent::ScenarioFinished(Box::new(report("b")))).unwrap();
        // The case file is there at once, numbered by its place in the plan.
        let stem = case_stem("wsim-model-idf6", "b");
        let case: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(case["case"], 2);
        // Written at once, or due within FLUSH_EVERY (the CLI's loop then flushes).
        if let Some(due) = r.flush_due() {
            assert!(due <= Instant::now() + FLUSH_EVERY);
            r.flush().unwrap();
        }
        assert!(r.flush_due().is_none());
        let s = read();
        assert_eq!((s.state, s.complete, s.counts.total), (RunState::Running, false, 1));
        r.on_event(&RunEvent::ScenarioFinished(Box::new(report("a")))).unwrap();
        r.on_event(&RunEvent::RunFinished { wall_ms: 5, interrupted: false }).unwrap();
        r.finish().unwrap();
        let s = read();
        assert_eq!(
            (s.state, s.complete, s.counts.total, s.wall_ms),
            (RunState::Finished, true, 2, 5)
        );
        assert_eq!(s.scenarios[0].id, "a");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        assert_eq!(names.len(), 8, "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn report_file_names_are_recognised() {
        for n in ["summary.json", "junit.xml", "wsim_host_case_a_b~0123.html", ".summary.json.tmp"]
        {
            assert!(is_report_file(n, None), "{n}");
        }
        for n in ["notes.txt", "my_case_notes.html", "summary.json.bak", "index.htm"] {
            assert!(!is_report_file(n, None), "{n}");
            assert!(!is_report_file(n, Some("esp32-v5.5-ewc1.6.0")), "{n}");
        }
        // An external DUT's case files, named after the DUT the summary records.
        let board = "esp32_v5_5_ewc1_6_0_case_basic_chunking.json";
        assert!(is_report_file(board, Some("esp32-v5.5-ewc1.6.0")));
        assert!(!is_report_file(board, None));
        assert!(!is_report_file(board, Some("esp32s3-v5.5-ewc1.6.0")));
    }

    #[test]
    fn a_previous_report_of_an_external_dut_is_replaced() {
        use crate::dut::agent::{AgentOptions, DEFAULT_MAX_LINE, DutSpec};
        use crate::esp::{Profile, Sdkconfig};
        let dir = tmp("external");
        let mut hello = AgentOptions {
            pki: None,
            profile: Profile::Idf55,
            max_line: DEFAULT_MAX_LINE,
            inline_max: 64,
            sdkconfig: Sdkconfig::default(),
        }
        .hello();
        hello.chip = "esp32s3".into();
        let dut = DutRecord::external(
            &DutSpec::parse("tcp:127.0.0.1:7").unwrap(),
            &hello,
            Profile::Idf55,
        );
        let info = RunInfo {
            sdkconfig: Default::default(),
            tool_version: "0".into(),
            dut: Box::new(dut),
            profile: "idf5.5".into(),
            seed: 1,
            world: "real".into(),
        };
        let mut r = ReportDir::create_at(&dir).unwrap();
        r.on_event(&RunEvent::RunStarted { info, total: 1, ids: vec!["a".into()] }).unwrap();
        let report = ScenarioReport {
            sdkconfig: Default::default(),
            dut_log: vec!["I (12) wsim-agent: ready".into()],
            id: "a".into(),
            name: "a".into(),
            tags: vec![],
            file: PathBuf::from("a.toml"),
            verdict: Verdict::Pass,
            detail: None,
            failed_step: None,
            wall_ms: 1,
            virtual_ms: 1,
            seed: 1,
            trace: vec![],
            servers: Default::default(),
            drawn: Default::default(),
        };
        r.on_event(&RunEvent::ScenarioFinished(Box::new(report))).unwrap();
        r.on_event(&RunEvent::RunFinished { wall_ms: 1, interrupted: false }).unwrap();
        r.finish().unwrap();
        let case = dir.join("esp32s3_v5_5_ewc1_8_0_case_a.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&case).unwrap()).unwrap();
        assert_eq!(json["agent"], "esp32s3-v5.5-ewc1.8.0");
        assert_eq!(json["dut"]["chip"], "esp32s3");
        assert_eq!(json["dut"]["kind"], "tcp");
        // The next run in the same folder replaces all of it: the case files included.
        let again = ReportDir::create_at(&dir).unwrap();
        assert_eq!(again.replaced(), 6);
        assert!(!case.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
