//! The terminal reporter: a progress bar while running, then a summary table and the
//! failures in detail.

use std::io::Write;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::summary::Counts;
use crate::run::{RunEvent, RunInfo, ScenarioReport, Verdict};

/// Shows progress on stderr (only on a terminal) and prints the outcome.
pub struct Terminal {
    bar: Option<ProgressBar>,
    info: Option<RunInfo>,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal::new()
    }
}

impl Terminal {
    /// A reporter; the bar draws only when stderr is a terminal.
    pub fn new() -> Self {
        Terminal { bar: None, info: None }
    }

    /// Consumes one run event.
    pub fn on_event(&mut self, e: &RunEvent) {
        match e {
            RunEvent::RunStarted { info, total } => {
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
                self.info = Some(info.clone());
            }
            RunEvent::ScenarioStarted { id } => {
                if let Some(b) = &self.bar {
                    b.set_message(id.clone());
                }
            }
            RunEvent::ScenarioFinished(r) => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                    if matches!(r.verdict, Verdict::Fail | Verdict::Error) {
                        b.println(format!("{:>5}  {}", r.verdict.label(), r.id));
                    }
                }
            }
            RunEvent::RunFinished { .. } => {
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
                "wsim {} · DUT {} · world {} · seed {}",
                i.tool_version, i.dut, i.world, i.seed
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
                writeln!(
                    out,
                    "rerun: wsim run {} --seed {}",
                    r.file.display(),
                    self.info.as_ref().map_or(0, |i| i.seed)
                )?;
            }
        }
        let c = Counts::of(reports);
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
