//! `wsim run`, `wsim check`, `wsim list`, `wsim schema` and `wsim report diff`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use tokio::sync::mpsc;

use wsim::certs::TestPki;
use wsim::dut::agent::{AgentDut, DutSpec};
use wsim::esp::{Profile, Sdkconfig, SdkconfigError};
use wsim::exit;
use wsim::report::{DiffFormat, DiffReport, DutRecord, ReportDir, Summary, Terminal, diff};
use wsim::run::{RunEvent, RunOptions, SeedRange, Selection, StopSignal, panic_message, run_until};
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
    /// IDF profile: idf6 or idf5.5 (default: idf6 for the host model; an external
    /// DUT's hello picks it from its IDF version).
    #[arg(long, value_parser = parse_profile)]
    pub profile: Option<Profile>,
    /// The run's seed (default: a random one, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenarios run at once.
    #[arg(long, short = 'j', default_value_t = 4)]
    pub jobs: usize,
    /// Stop starting scenarios after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Where the reports go (default: a new reports/<UTC time to the ms>/). A folder
    /// named here must be new, empty, or hold only a previous wsim report (replaced).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// A summary.json (or report folder) to gate against: only regressions fail the run.
    /// It must come from the same DUT (chip, IDF and client versions, or the host model
    /// and its profile) unless --baseline-any-dut.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Accept a --baseline recorded on another DUT (its differences are printed).
    #[arg(long, requires = "baseline")]
    pub baseline_any_dut: bool,
    /// The world: sim (simulated network, virtual time; default) or real (loopback
    /// sockets, real time, faults through a TCP proxy).
    #[arg(long, default_value = "sim", value_parser = parse_world)]
    pub world: World,
    /// A build option of the model, as an sdkconfig line (repeatable), e.g.
    /// `--sdkconfig CONFIG_ESP_TLS_INSECURE=y`; scenarios may set more.
    #[arg(long, value_name = "KEY=VALUE")]
    pub sdkconfig: Vec<String>,
    /// The device under test: host (the model in this process, default),
    /// exec:COMMAND (a subprocess speaking the agent protocol on stdin/stdout, e.g.
    /// exec:"wsim agent"; its whole process group is killed when it is done),
    /// tcp:HOST:PORT (an agent on a TCP port), serial:PORT[@BAUD][,reset] (a board on
    /// a serial port, default 115200 baud; `,reset` hard-resets it by DTR/RTS as
    /// esptool does before the run and waits up to 30 s for its boot hello),
    /// rfc2217://HOST:PORT[?baud=N][&reset] (a serial port behind an RFC 2217 server
    /// such as ser2net). External DUTs run in the real world only; tcp, serial and
    /// rfc2217 DUTs are one device each and run one scenario at a time.
    #[arg(long, default_value = "host", value_parser = DutSpec::parse)]
    pub dut: DutSpec,
    /// The address the scenarios' servers (and fault proxies) listen on in the real
    /// world (default 127.0.0.1). A board on the network needs one it can reach, e.g.
    /// 0.0.0.0 or the host's LAN address; wsim binds it only when named here.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<std::net::IpAddr>,
    /// The host name or address that placeholders ({main}, {main.url}, {main.host})
    /// expand to instead of the bound address, e.g. the host's LAN address when
    /// --bind 0.0.0.0; the test server certificates carry it as a subject alternative
    /// name. Needed with an unspecified --bind (0.0.0.0 or ::).
    #[arg(long, value_name = "HOST")]
    pub advertise_host: Option<String>,
    /// Use the test PKI in DIR (written by `wsim certs DIR`) instead of a fresh one, so
    /// the run shares it with an agent given the same files (`wsim agent --pki DIR`,
    /// or a board flashed with them): certificates then go to the DUT by name.
    #[arg(long, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// Seed sweep: run every selected scenario under N run seeds, from --seed (default
    /// 0) on, in the simulated world; failures are grouped with the seed that reruns
    /// them.
    #[arg(long, value_name = "N", conflicts_with = "seed_range")]
    pub seeds: Option<u64>,
    /// Seed sweep over the run seeds A..B (B excluded) or A..=B (B included).
    #[arg(long, value_name = "A..B", value_parser = SeedRange::parse, conflicts_with = "seed")]
    pub seed_range: Option<SeedRange>,
}

impl RunArgs {
    /// The seeds of a sweep (`--seeds`, `--seed-range`), if one is asked for.
    fn sweep_seeds(&self) -> Result<Option<SeedRange>, String> {
        match (self.seeds, self.seed_range) {
            (Some(n), _) => SeedRange::counted(self.seed.unwrap_or(0), n).map(Some),
            (None, r) => Ok(r),
        }
    }
}

/// The servers' bind address and advertised host, checked: an unspecified bind
/// address needs an advertised host (placeholders cannot name 0.0.0.0), and the
/// advertised host is a plain host name or IP address.
pub fn dut_site(
    bind: Option<std::net::IpAddr>,
    advertise: Option<&str>,
) -> Result<wsim::run::DutSite, String> {
    if let Some(h) = advertise {
        let ok_name = !h.is_empty()
            && h.len() <= 253
            && h.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok_name && h.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "--advertise-host {h:?}: expected a host name or an IP address (no scheme, no port)"
            ));
        }
    }
    if let Some(b) = bind
        && b.is_unspecified()
        && advertise.is_none()
    {
        return Err(format!(
            "--bind {b} listens on every interface, so placeholders need an address to name: add --advertise-host with the address the DUT reaches this machine at"
        ));
    }
    Ok(wsim::run::DutSite {
        bind,
        advertise: advertise.map(Into::into),
        chip: None,
        shared_pki: false,
        fixed_build: None,
    })
}

/// The build options given as `KEY=VALUE` lines, checked as Kconfig would.
pub fn build_options(lines: &[String]) -> Result<Sdkconfig, SdkconfigError> {
    let mut s = Sdkconfig::default();
    for l in lines {
        s.set(l)?;
    }
    s.validate()?;
    Ok(s)
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
    /// The left run's summary.json or report folder: the older run (a baseline), or the
    /// reference DUT (the host model).
    pub old: PathBuf,
    /// The right run's summary.json or report folder: the newer run, or the other DUT
    /// (a board).
    pub new: PathBuf,
    /// How to print: terminal (a table), json (the typed report, see README) or
    /// markdown (for a PR comment or a CI job summary).
    #[arg(long, default_value = "terminal", value_parser = DiffFormat::parse)]
    pub format: DiffFormat,
}

pub fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::from_name(s).ok_or_else(|| format!("unknown profile {s:?}: expected idf6 or idf5.5"))
}

fn report_errors(errors: &[ScenarioError]) -> i32 {
    for e in errors {
        eprintln!("error: {e}");
    }
    exit::BAD_INPUT
}

/// Ctrl-C (SIGINT) as a stream. On Unix the handler is installed when this is made, so
/// no interrupt between setup and the run kills the process without a report.
pub(super) struct Interrupts {
    #[cfg(unix)]
    sig: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    pub(super) fn install() -> Interrupts {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let sig = signal(SignalKind::interrupt())
                .map_err(|e| eprintln!("warning: cannot catch Ctrl-C: {e}"))
                .ok();
            Interrupts { sig }
        }
        #[cfg(not(unix))]
        Interrupts {}
    }

    /// The next interrupt (pending forever if none can be caught).
    pub(super) async fn next(&mut self) {
        #[cfg(unix)]
        match &mut self.sig {
            Some(s) => {
                if s.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Prepares the report folder before anything runs: the one named, or a new one under
/// `reports/`.
fn open_report_dir(named: Option<&Path>) -> Result<ReportDir, i32> {
    let opened = match named {
        Some(dir) => ReportDir::create_at(dir),
        None => ReportDir::create_default(Path::new("reports")),
    };
    match opened {
        Ok(r) => {
            if r.replaced() > 0 {
                eprintln!(
                    "replacing the previous report in {} ({} files)",
                    r.dir().display(),
                    r.replaced()
                );
            }
            Ok(r)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::BAD_INPUT)
        }
    }
}

/// Runs `f`, printing a panic instead of unwinding through the command: a reporter's
/// bug must not lose the verdicts.
fn survive<T>(what: &str, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(p) => {
            eprintln!(
                "error: internal error in wsim ({what}): panicked: {}",
                panic_message(p.as_ref())
            );
            None
        }
    }
}

/// `wsim run`.
///
/// Order of work: load and select (bad input: exit 2); create and probe the report
/// folder (unusable: exit 2, nothing ran); run, printing each verdict and writing each
/// case file as scenarios finish, and the run-wide files as they go; print the table;
/// write the final files. Ctrl-C stops the run (running scenarios: `error`
/// "interrupted"), keeps what finished and exits 130; a second Ctrl-C exits at once.
pub async fn run_cmd(args: RunArgs) -> i32 {
    let sweep_seeds = match args.sweep_seeds() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if sweep_seeds.is_some() && (args.world != World::Sim || !args.dut.is_host()) {
        eprintln!(
            "error: a seed sweep (--seeds, --seed-range) runs the host model in the simulated world only: drop --world real / --dut (rerun one seed there with --seed N)"
        );
        return exit::BAD_INPUT;
    }
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
    if let Some(b) = &baseline
        && !b.complete
    {
        eprintln!(
            "warning: the baseline is a partial report ({} of {} scenarios): the missing ones count as new",
            b.counts.total, b.planned
        );
    }
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
    let sdkconfig = match build_options(&args.sdkconfig) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let mut site = match dut_site(args.bind, args.advertise_host.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Some(b) = site.bind {
        use std::net::TcpListener;
        if let Err(e) = TcpListener::bind((b, 0)) {
            eprintln!("error: --bind {b}: cannot listen there: {e}");
            return exit::BAD_INPUT;
        }
    }
    // An external DUT: the real world only; reached once before anything runs, its
    // hello names it and gives the profile.
    let mut sdkconfig = sdkconfig;
    let (profile, dut_record, dut_chip) = if args.dut.is_host() {
        let profile = args.profile.unwrap_or(Profile::Idf6);
        (profile, DutRecord::host(profile, &sdkconfig), None)
    } else {
        if args.world != World::Real {
            eprintln!(
                "error: the DUT {} runs in the real world only: add --world real (the simulated network and virtual time exist only inside wsim)",
                args.dut
            );
            return exit::BAD_INPUT;
        }
        match AgentDut::open_first(&args.dut, sdkconfig.tick_period_ms()).await {
            Ok(a) => {
                let hello = a.hello();
                let profile = args.profile.unwrap_or_else(|| hello.profile());
                // The device's build is the run's, with --sdkconfig over it.
                match hello.build().map_err(|e| e.to_string()).and_then(|mut b| {
                    args.sdkconfig.iter().try_for_each(|l| b.set(l)).map_err(|e| e.to_string())?;
                    b.validate().map_err(|e| e.to_string())?;
                    Ok(b)
                }) {
                    Ok(b) => sdkconfig = b,
                    Err(e) => {
                        eprintln!("error: the DUT's build options with --sdkconfig: {e}");
                        return exit::BAD_INPUT;
                    }
                }
                // After a reset, the board's boot log up to its hello.
                if matches!(&args.dut, DutSpec::Serial(t) if t.reset)
                    || matches!(&args.dut, DutSpec::Rfc2217(t) if t.reset)
                {
                    for l in a_log(&a) {
                        eprintln!("boot: {l}");
                    }
                }
                if !hello.can("sdkconfig") {
                    site.fixed_build = hello.build().ok();
                }
                eprintln!("DUT: {} (protocol {}, profile {profile})", a_describe(&a), hello.proto);
                (profile, DutRecord::external(&args.dut, hello, profile), Some(hello.chip.clone()))
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::DUT_UNREACHABLE;
            }
        }
    };
    if let Some(b) = &baseline
        && let Err(code) = check_baseline_dut(b, &dut_record, args.baseline_any_dut)
    {
        return code;
    }
    site.chip = dut_chip;
    site.shared_pki = args.pki.is_some();
    // The server certificates name the advertised host and a specific bind address.
    let mut extra: Vec<String> = site.advertise.iter().map(|h| h.to_string()).collect();
    if let Some(b) = site.bind.filter(|b| !b.is_unspecified()) {
        extra.push(b.to_string());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let pki = match &args.pki {
        Some(dir) => match TestPki::read_from(dir) {
            Ok(p) => {
                if !extra.is_empty() {
                    eprintln!(
                        "note: the certificates in {} are used as they are: their server certificates must name {}",
                        dir.display(),
                        extra.join(", ")
                    );
                }
                Arc::new(p)
            }
            Err(e) => {
                eprintln!("error: --pki: {e}");
                return exit::BAD_INPUT;
            }
        },
        None => match TestPki::generate_for(&extra) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INTERNAL;
            }
        },
    };
    let mut reports = match open_report_dir(args.report_dir.as_deref()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let options = RunOptions {
        dut: args.dut.clone(),
        dut_record: Some(dut_record.clone()),
        site,
        profile,
        seed,
        jobs: args.jobs,
        fail_fast: args.fail_fast,
        world: args.world,
        sdkconfig,
    };
    if let Some(seeds) = sweep_seeds {
        let flags = options.run_info(seeds.start).rerun_flags();
        let sweep = super::sweep::Sweep { scenarios: selected, options, seeds, pki, flags };
        return super::sweep::sweep_cmd(sweep, reports, baseline).await;
    }
    let stop = StopSignal::new();
    let mut interrupts = Interrupts::install();
    let (stop2, dir2) = (stop.clone(), reports.dir().to_path_buf());
    let watcher = tokio::spawn(async move {
        interrupts.next().await;
        eprintln!(
            "\ninterrupted: stopping the running scenarios and writing the report (Ctrl-C again to quit at once)"
        );
        stop2.stop();
        interrupts.next().await;
        eprintln!("interrupted again: quitting now; {} may lack the last verdicts", dir2.display());
        std::process::exit(exit::INTERRUPTED);
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let runner = tokio::spawn(async move { run_until(selected, options, pki, tx, &stop).await });
    let mut terminal = Terminal::new();
    let mut interrupted = false;
    let mut wall_ms = 0;
    let mut terminal_ok = true;
    loop {
        let due = reports.flush_due().map(tokio::time::Instant::from_std);
        let e = tokio::select! {
            e = rx.recv() => e,
            () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                if let Some(Err(e)) = survive("report", || reports.flush()) {
                    eprintln!("error: {e}");
                }
                continue;
            }
        };
        let Some(e) = e else { break };
        if let RunEvent::RunFinished { interrupted: i, wall_ms: w } = &e {
            interrupted = *i;
            wall_ms = *w;
        }
        if terminal_ok {
            terminal_ok = survive("terminal", || terminal.on_event(&e)).is_some();
        }
        if let Some(Err(err)) = survive("report", || reports.on_event(&e)) {
            eprintln!("error: {err}");
        }
    }
    let runner_ok = match runner.await {
        Ok(_) => true,
        Err(e) => {
            eprintln!("error: internal error in wsim: the runner failed: {e}");
            false
        }
    };
    let dir = reports.dir().to_path_buf();
    let summary = survive("summary", || reports.summary());
    // The verdicts first, then the files: a report that cannot be written loses nothing.
    {
        let mut out = std::io::stdout().lock();
        let list = reports.reports();
        survive("terminal", || terminal.print_summary(&mut out, list, wall_ms, &dir));
    }
    if let Some(Err(e)) = survive("report", || reports.finish()) {
        eprintln!("error: {e}");
    }
    watcher.abort();
    if reports.failures() > 0 {
        eprintln!(
            "error: {} report file(s) could not be written in {}; the verdicts above are complete",
            reports.failures(),
            dir.display()
        );
    }
    if interrupted {
        return exit::INTERRUPTED;
    }
    let Some(summary) = summary else { return exit::INTERNAL };
    if !runner_ok || reports.failures() > 0 {
        return exit::INTERNAL;
    }
    let c = summary.counts;
    if let Some(base) = baseline {
        let changes = diff(&base, &summary);
        let regressions: Vec<_> = changes.iter().filter(|c| c.is_regression()).collect();
        use std::io::Write;
        let mut out = std::io::stdout().lock();
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

fn a_log(a: &AgentDut) -> Vec<String> {
    use wsim::dut::Dut;
    a.log()
}

/// The flags a rerun of one seed needs besides the file, seed and filter.
fn a_describe(a: &AgentDut) -> String {
    use wsim::dut::Dut;
    a.describe()
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

/// `wsim report diff`: bad input (a summary that cannot be read) is exit 2; otherwise
/// the report's own exit code (see [`DiffReport::exit_code`]).
pub fn diff_cmd(args: DiffArgs) -> i32 {
    let (old, new) = match (Summary::read(&args.old), Summary::read(&args.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let report = DiffReport::new(
        &args.old.display().to_string(),
        &old,
        &args.new.display().to_string(),
        &new,
    );
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(report.render(args.format).as_bytes()).and_then(|()| out.flush())
    {
        eprintln!("error: cannot print the report: {e}");
        return exit::INTERNAL;
    }
    report.exit_code()
}

/// Refuses a baseline recorded on another DUT than `dut` (exit 2), unless `any`; then
/// it only warns.
fn check_baseline_dut(baseline: &Summary, dut: &DutRecord, any: bool) -> Result<(), i32> {
    let d = baseline.dut.differences(dut);
    if d.is_empty() {
        return Ok(());
    }
    let what: Vec<String> =
        d.iter().map(|(f, b, n)| format!("{f} {b} (baseline) vs {n} (this run)")).collect();
    if any {
        eprintln!(
            "warning: the baseline was recorded on another DUT ({}); comparing anyway (--baseline-any-dut)",
            what.join(", ")
        );
        return Ok(());
    }
    eprintln!(
        "error: baseline: recorded on another DUT, {} ({}), not on this run's {} ({}): {}. A baseline gates runs of the DUT it was recorded on; record one on this DUT, or pass --baseline-any-dut to compare anyway (wsim report diff shows how two DUTs differ)",
        baseline.dut.agent,
        baseline.dut.describe(),
        dut.agent,
        dut.describe(),
        what.join(", ")
    );
    Err(exit::BAD_INPUT)
}
