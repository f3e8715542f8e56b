//! `wsim run`, `wsim check`, `wsim list`, `wsim schema` and `wsim report diff`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::sync::mpsc;

use wsim::certs::TestPki;
use wsim::esp::Profile;
use wsim::exit;
use wsim::report::{ReportDir, Summary, Terminal, diff};
use wsim::run::{RunOptions, Selection, run};
use wsim::scenario::{LoadedScenario, ScenarioError, World, load_all};

/// Options of `wsim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Only scenarios whose id or name contains this (repeatable).
    #[arg(long)]
    pub filter: Vec<String>,
    /// Only scenarios with this tag (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// IDF profile of the model: idf6 (default) or idf5.5.
    #[arg(long, default_value = "idf6", value_parser = parse_profile)]
    pub profile: Profile,
    /// The run's seed (default: a random one, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenarios run at once.
    #[arg(long, short = 'j', default_value_t = 4)]
    pub jobs: usize,
    /// Stop starting scenarios after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Where the reports go (default: reports/<UTC timestamp>/).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// A summary.json (or report folder) to gate against: only regressions fail the run.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// The world: sim (simulated network, virtual time; default) or real (loopback
    /// sockets, real time, faults through a TCP proxy).
    #[arg(long, default_value = "sim", value_parser = parse_world)]
    pub world: World,
}

fn parse_world(s: &str) -> Result<World, String> {
    match s {
        "sim" => Ok(World::Sim),
        "real" => Ok(World::Real),
        _ => Err(format!("unknown world {s:?}: expected sim or real")),
    }
}

/// Options of `wsim check` and `wsim list`.
#[derive(Debug, Args)]
pub struct PathsArgs {
    /// Scenario files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Options of `wsim report diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older summary.json or report folder.
    pub old: PathBuf,
    /// The newer summary.json or report folder.
    pub new: PathBuf,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::from_name(s).ok_or_else(|| format!("unknown profile {s:?}: expected idf6 or idf5.5"))
}

fn report_errors(errors: &[ScenarioError]) -> i32 {
    for e in errors {
        eprintln!("error: {e}");
    }
    exit::BAD_INPUT
}

fn default_report_dir() -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    PathBuf::from("reports").join(format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    ))
}

/// `wsim run`.
pub async fn run_cmd(args: RunArgs) -> i32 {
    let scenarios = match load_all(&args.paths) {
        Ok(s) => s,
        Err(e) => return report_errors(&e),
    };
    let baseline = match args.baseline.as_deref().map(Summary::read).transpose() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: baseline: {e}");
            return exit::BAD_INPUT;
        }
    };
    let selection = Selection { filters: args.filter.clone(), tags: args.tag.clone() };
    let selected: Vec<LoadedScenario> =
        scenarios.into_iter().filter(|s| selection.selects(s)).collect();
    if selected.is_empty() {
        eprintln!("error: no scenario matches the given paths, filters and tags");
        return exit::BAD_INPUT;
    }
    let seed = args.seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        let _ = getrandom::getrandom(&mut b);
        u64::from_le_bytes(b) >> 1
    });
    let pki = match TestPki::generate() {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let options = RunOptions {
        profile: args.profile,
        seed,
        jobs: args.jobs,
        fail_fast: args.fail_fast,
        world: args.world,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = tokio::spawn(run(selected, options, pki, tx));
    let mut terminal = Terminal::new();
    let mut reports = ReportDir::new(args.report_dir.clone().unwrap_or_else(default_report_dir));
    while let Some(e) = rx.recv().await {
        terminal.on_event(&e);
        reports.on_event(&e);
    }
    if runner.await.is_err() {
        eprintln!("error: the runner failed");
        return exit::INTERNAL;
    }
    let summary = match reports.write_all() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let dir = reports.dir().to_path_buf();
    let mut out = std::io::stdout().lock();
    let _ = terminal.print_summary(&mut out, reports.reports(), summary.wall_ms, &dir);
    let c = summary.counts;
    if let Some(base) = baseline {
        let changes = diff(&base, &summary);
        let regressions: Vec<_> = changes.iter().filter(|c| c.is_regression()).collect();
        use std::io::Write;
        let _ = writeln!(
            out,
            "\nagainst the baseline: {} changed, {} regressed",
            changes.len(),
            regressions.len()
        );
        for ch in &changes {
            let _ = writeln!(out, "{ch}");
        }
        return if regressions.is_empty() { exit::SUCCESS } else { exit::FAILED };
    }
    if c.failed + c.errors == 0 { exit::SUCCESS } else { exit::FAILED }
}

/// `wsim check`: validates scenario files.
pub fn check_cmd(args: PathsArgs) -> i32 {
    match load_all(&args.paths) {
        Ok(s) => {
            println!("{} scenarios OK", s.len());
            exit::SUCCESS
        }
        Err(e) => report_errors(&e),
    }
}

/// `wsim list`: ids, names and tags.
pub fn list_cmd(args: PathsArgs) -> i32 {
    match load_all(&args.paths) {
        Ok(mut s) => {
            s.sort_by(|a, b| a.id.cmp(&b.id));
            for x in s {
                let tags = if x.tags().is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", x.tags().join(", "))
                };
                println!("{}  {}{}", x.id, x.name(), tags);
            }
            exit::SUCCESS
        }
        Err(e) => report_errors(&e),
    }
}

/// `wsim schema`: the JSON Schema of the scenario format.
pub fn schema_cmd() -> i32 {
    println!(
        "{}",
        serde_json::to_string_pretty(&wsim::scenario::json_schema()).unwrap_or_default()
    );
    exit::SUCCESS
}

/// `wsim report diff`.
pub fn diff_cmd(args: DiffArgs) -> i32 {
    let (old, new) = match (Summary::read(&args.old), Summary::read(&args.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let changes = diff(&old, &new);
    if changes.is_empty() {
        println!("no verdict changed ({} scenarios)", new.scenarios.len());
    }
    for c in &changes {
        println!("{c}");
    }
    let regressed = changes.iter().filter(|c| c.is_regression()).count();
    println!("{} changed, {} regressed", changes.len(), regressed);
    exit::SUCCESS
}
