//! The terminal reporter: a progress bar while running, then a summary table and the
//! failures in detail.

use std::io::Write;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::summary::Counts;
use crate::run::{RunEvent, RunInfo, ScenarioReport, Verdict};

/// Shows progress and prints the outcome. On a terminal (stdout and stderr both) a
/// progress bar on stderr shows progress and prints failures; otherwise (CI logs, a
/// pipe, a file) one line per finished scenario goes to stdout as it finishes, so every
/// verdict is out before any report file is written.
pub struct Terminal {
    bar: Option<ProgressBar>,
    info: Option<RunInfo>,
    lines: Option<Box<dyn Write + Send>>,
    total: usize,
    done: usize,
    interrupted: bool,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal::new()
    }
}

impl Terminal {
    /// The command that reruns `r` alone exactly: its id (mixed into its seed) kept by
    /// naming the folder it was loaded from, and the run's seed, world, profile, build
    /// options and DUT.
    fn rerun(&self, r: &ScenarioReport) -> String {
        match &self.info {
            Some(i) => super::rerun_command(&r.file, &r.id, i.seed, &i.rerun_flags()),
            None => super::rerun_command(&r.file, &r.id, 0, &[]),
        }
    }

    /// A reporter for this process: the bar draws only when stderr is a terminal; the
    /// per-scenario lines go to stdout unless stdout and stderr are both terminals.
    pub fn new() -> Self {
        use std::io::IsTerminal;
        let both = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let lines: Option<Box<dyn Write + Send>> =
            if both { None } else { Some(Box::new(std::io::stdout())) };
        Terminal { bar: None, info: None, lines, total: 0, done: 0, interrupted: false }
    }

    /// A reporter that writes one line per finished scenario to `out` (and draws no bar).
    pub fn with_lines(out: Box<dyn Write + Send>) -> Self {
        Terminal { bar: None, info: None, lines: Some(out), total: 0, done: 0, interrupted: false }
    }

    /// Consumes one run event.
    pub fn on_event(&mut self, e: &RunEvent) {
        match e {
            RunEvent::RunStarted { info, total, .. } => {
                self.info = Some(info.clone());
                self.total = *total;
                if self.lines.is_some() && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    return;
                }
                let bar = ProgressBar::with_draw_target(
                    Some(*total as u64),
                    ProgressDrawTarget::stderr(),
                );
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                self.bar = Some(bar);
            }
            RunEvent::ScenarioStarted { id } => {
                if let Some(b) = &self.bar {
                    b.set_message(id.clone());
                }
            }
            RunEvent::ScenarioFinished(r) => {
                self.done += 1;
                if let Some(out) = &mut self.lines {
                    let mut line =
                        format!("[{}/{}] {:<5} {}", self.done, self.total, r.verdict.label(), r.id);
                    if matches!(r.verdict, Verdict::Fail | Verdict::Error)
                        && let Some(first) = r.detail.as_deref().and_then(|d| d.lines().next())
                    {
                        line.push_str(": ");
                        line.push_str(first);
                    }
                    // A closed stdout must not stop the run.
                    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
                }
                if let Some(b) = &self.bar {
                    b.inc(1);
                    if matches!(r.verdict, Verdict::Fail | Verdict::Error) {
                        b.println(format!("{:>5}  {}", r.verdict.label(), r.id));
                    }
                }
            }
            RunEvent::RunFinished { interrupted, .. } => {
                self.interrupted = *interrupted;
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
            }
        }
    }

    /// Prints the summary table and the failures to `out`.
    pub fn print_summary(
        &self,
        out: &mut impl Write,
        reports: &[ScenarioReport],
        wall_ms: u64,
        report_dir: &std::path::Path,
    ) -> std::io::Result<()> {
        if let Some(i) = &self.info {
            writeln!(
                out,
                "wsim {} · DUT {} · profile {} · world {} · seed {}",
                i.tool_version,
                i.dut.describe(),
                i.profile,
                i.world,
                i.seed
            )?;
        }
        let width = reports.iter().map(|r| r.id.len()).max().unwrap_or(10).min(60);
        writeln!(
            out,
            "{:<width$}  {:>7}  {:>10}  {:>7}",
            "scenario", "verdict", "virtual ms", "wall ms"
        )?;
        for r in reports {
            writeln!(
                out,
                "{:<width$}  {:>7}  {:>10}  {:>7}",
                r.id,
                r.verdict.label(),
                r.virtual_ms,
                r.wall_ms
            )?;
        }
        let bad: Vec<&ScenarioReport> = reports
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error))
            .collect();
        if !bad.is_empty() {
            writeln!(out, "\nfailures:")?;
            for r in &bad {
                writeln!(out, "\n--- {} [{}] {}", r.id, r.verdict.label(), r.name)?;
                writeln!(out, "{}", r.detail.as_deref().unwrap_or("(no detail)"))?;
                writeln!(out, "rerun: {}", self.rerun(r))?;
            }
        }
        let c = Counts::of(reports);
        if self.interrupted {
            writeln!(
                out,
                "\ninterrupted: {} of {} scenarios have a verdict (cut short: error \"interrupted\")",
                reports.len(),
                self.total
            )?;
        }
        let world_ms: u64 = reports.iter().map(|r| r.virtual_ms).sum();
        writeln!(out, "\nreports in {}", report_dir.display())?;
        writeln!(
            out,
            "world time {:.2} s, wall time {:.2} s",
            world_ms as f64 / 1000.0,
            wall_ms as f64 / 1000.0
        )?;
        writeln!(
            out,
            "{} passed, {} failed, {} errors, {} skipped in {:.2} s",
            c.passed,
            c.failed,
            c.errors,
            c.skipped,
            wall_ms as f64 / 1000.0
        )
    }
}
