//! `wsim run --seeds N` / `--seed-range A..B`: a seed sweep of the selected scenarios.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use super::run::Interrupts;
use wsim::certs::TestPki;
use wsim::exit;
use wsim::report::{ReportDir, Summary, SweepReport, diff};
use wsim::run::{RunOptions, SeedRange, StopSignal, SweepEvent, sweep};
use wsim::scenario::LoadedScenario;

/// What a sweep runs.
pub struct Sweep {
    /// The selected scenarios.
    pub scenarios: Vec<LoadedScenario>,
    /// The run's options (world sim, host DUT).
    pub options: RunOptions,
    /// The seeds.
    pub seeds: SeedRange,
    /// The test PKI.
    pub pki: Arc<TestPki>,
    /// The flags a rerun needs besides file, seed and filter.
    pub flags: Vec<String>,
}

/// Runs the sweep, printing the outcome and writing the report folder; with a
/// baseline, only regressions fail. Ctrl-C stops it and writes what was found (exit
/// 130); a second Ctrl-C quits at once.
pub async fn sweep_cmd(s: Sweep, reports: ReportDir, baseline: Option<Summary>) -> i32 {
    let dir = reports.dir().to_path_buf();
    let mut report = SweepReport::new(&dir, s.flags);
    let stop = StopSignal::new();
    let mut interrupts = Interrupts::install();
    let (stop2, dir2) = (stop.clone(), dir.clone());
    let watcher = tokio::spawn(async move {
        interrupts.next().await;
        eprintln!(
            "\ninterrupted: stopping the sweep and writing what was found (Ctrl-C again to quit at once)"
        );
        stop2.stop();
        interrupts.next().await;
        eprintln!("interrupted again: quitting now; {} may be incomplete", dir2.display());
        std::process::exit(exit::INTERRUPTED);
    });
    let total = s.seeds.len().saturating_mul(s.scenarios.len() as u64);
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} runs {per_sec} {wide_msg}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    let (tx, mut rx) = mpsc::channel(256);
    let (scenarios, options, seeds, pki) = (s.scenarios, s.options, s.seeds, s.pki);
    let stop3 = stop.clone();
    let runner = tokio::spawn(async move {
        let r: RunOptions = options;
        sweep(scenarios, r, seeds, pki, tx, &stop3).await
    });
    let mut bad = 0u64;
    while let Some(e) = rx.recv().await {
        if let (Some(b), SweepEvent::Seed { report: r, .. }) = (&bar, &e) {
            b.inc(1);
            if matches!(r.verdict, wsim::run::Verdict::Fail | wsim::run::Verdict::Error) {
                bad += 1;
                b.set_message(format!("{bad} failing"));
            }
        }
        report.on_event(&e);
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let runner_ok = match runner.await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            false
        }
        Err(e) => {
            eprintln!("error: internal error in wsim: the sweep failed: {e}");
            false
        }
    };
    {
        let mut out = std::io::stdout().lock();
        if let Err(e) = report.print(&mut out) {
            eprintln!("error: cannot print the outcome: {e}");
        }
    }
    let errors = report.finish();
    for e in errors.iter().take(5) {
        eprintln!("error: {e}");
    }
    watcher.abort();
    if report.interrupted() {
        return exit::INTERRUPTED;
    }
    if !runner_ok || !errors.is_empty() {
        return exit::INTERNAL;
    }
    if let Some(base) = baseline {
        let changes = diff(&base, &report.summary());
        let regressions = changes.iter().filter(|c| c.is_regression()).count();
        println!("\nagainst the baseline: {} changed, {} regressed", changes.len(), regressions);
        for ch in &changes {
            println!("{ch}");
        }
        return if regressions == 0 { exit::SUCCESS } else { exit::FAILED };
    }
    if report.bad_runs() == 0 { exit::SUCCESS } else { exit::FAILED }
}
