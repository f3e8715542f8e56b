//! `wsim conformance`: Autobahn|Testsuite's fuzzingserver catalogue against the client
//! model (simulated or real world) or an agent DUT, with Autobahn's reports and an
//! optional golden-results gate.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use wsim::conformance::{
    Index, ReportWriter, RunConfig, World, behavior_counts, compare, golden_entries, run_cases,
    select, to_json, write_atomic,
};
use wsim::dut::agent::DutSpec;
use wsim::esp::Profile;
use wsim::exit;

/// Options of `wsim conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Cases to run, as Autobahn patterns (`*` is a wildcard, matched from the start:
    /// `1.*` is 1.x, not 10.x). Default: every case.
    #[arg(long, num_args = 1.., value_name = "PAT")]
    pub cases: Vec<String>,
    /// Cases to leave out (same patterns).
    #[arg(long = "exclude-cases", num_args = 1.., value_name = "PAT")]
    pub exclude_cases: Vec<String>,
    /// sim (simulated network, virtual time: the timeouts of 6.4.x, 7.x and 9.x cost
    /// nothing; default) or real (loopback sockets, real time).
    #[arg(long, default_value = "sim", value_parser = parse_world)]
    pub world: World,
    /// The DUT: host (the model, default), exec:COMMAND or tcp:HOST:PORT (agent DUTs,
    /// real world only).
    #[arg(long, default_value = "host", value_parser = DutSpec::parse)]
    pub dut: DutSpec,
    /// The model's IDF profile: idf6 (default) or idf5.5.
    #[arg(long, default_value = "idf6", value_parser = parse_profile)]
    pub profile: Profile,
    /// Where Autobahn's reports go (index.json, index.html, a JSON and an HTML file per
    /// case). Default: reports/conformance.
    #[arg(long, default_value = "reports/conformance")]
    pub report_dir: PathBuf,
    /// The agent name in the reports (default: wsim-model-<profile> for the model in
    /// the simulated world, wsim-model-<profile>-real in the real world, the DUT spec
    /// for agents).
    #[arg(long)]
    pub agent: Option<String>,
    /// An index.json of expected verdicts: only cases whose verdict got worse fail.
    #[arg(long)]
    pub golden: Option<PathBuf>,
    /// Write this run's verdicts as a golden file (durations zeroed).
    #[arg(long, value_name = "FILE")]
    pub write_golden: Option<PathBuf>,
    /// The client's buffer_size (the esp-protocols testee uses 4096 on a device).
    #[arg(long, default_value_t = 4096)]
    pub buffer_size: i32,
    /// Cases run at once (default: 2; 1 for agent DUTs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// The seed of the simulated worlds.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print a line per case.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

fn parse_world(s: &str) -> Result<World, String> {
    match s {
        "sim" => Ok(World::Sim),
        "real" => Ok(World::Real),
        _ => Err(format!("unknown world {s:?}: expected sim or real")),
    }
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::from_name(s).ok_or_else(|| format!("unknown profile {s:?}: expected idf6 or idf5.5"))
}

/// Runs `wsim conformance`; returns the exit code.
pub fn conformance_cmd(args: ConformanceArgs) -> i32 {
    let cases = match select(&args.cases, &args.exclude_cases) {
        Ok(c) if c.is_empty() => {
            eprintln!("wsim conformance: the selection holds no case");
            return exit::BAD_INPUT;
        }
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsim conformance: {e}");
            return exit::BAD_INPUT;
        }
    };
    if !args.dut.is_host() && args.world == World::Sim {
        eprintln!(
            "wsim conformance: the DUT {} runs in the real world only (add --world real)",
            args.dut
        );
        return exit::BAD_INPUT;
    }
    let golden = match &args.golden {
        None => None,
        Some(p) => {
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("wsim conformance: {}: {e}", p.display());
                    return exit::BAD_INPUT;
                }
            };
            match serde_json::from_str::<Index>(&text) {
                Ok(g) => match golden_entries(&g) {
                    Ok(e) => Some(e.clone()),
                    Err(e) => {
                        eprintln!("wsim conformance: {}: {e}", p.display());
                        return exit::BAD_INPUT;
                    }
                },
                Err(e) => {
                    eprintln!(
                        "wsim conformance: {}: line {}: expected an Autobahn index.json: {e}",
                        p.display(),
                        e.line()
                    );
                    return exit::BAD_INPUT;
                }
            }
        }
    };
    let agent = args.agent.clone().unwrap_or_else(|| match (args.dut.is_host(), args.world) {
        (true, World::Sim) => format!("wsim-model-{}", args.profile),
        (true, World::Real) => format!("wsim-model-{}-real", args.profile),
        (false, _) => args.dut.to_string(),
    });
    let mut writer = match ReportWriter::create(&args.report_dir) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("wsim conformance: cannot create {}: {e}", args.report_dir.display());
            return exit::INTERNAL;
        }
    };
    let cfg = RunConfig {
        agent: agent.clone(),
        world: args.world,
        dut: args.dut.clone(),
        profile: args.profile,
        buffer_size: args.buffer_size,
        jobs: args.jobs.unwrap_or(if args.dut.is_host() { 2 } else { 1 }),
        seed: args.seed,
    };
    let wall = std::time::Instant::now();
    let mut write_error = None;
    let total = cases.len();
    let mut finished = 0;
    run_cases(&cfg, &cases, |o| {
        finished += 1;
        if args.verbose {
            println!(
                "[{finished}/{total}] {} {} / {} ({} ms)",
                o.file.id, o.verdict.behavior, o.verdict.behavior_close, o.file.duration
            );
        }
        if let Err(e) = writer.add(&o.file) {
            write_error.get_or_insert(e);
        }
    });
    if let Err(e) = writer.write_index() {
        write_error.get_or_insert(e);
    }
    let empty = BTreeMap::new();
    let entries = writer.index().get(&agent).unwrap_or(&empty);
    let counts = behavior_counts(entries);
    let close_bad = entries
        .values()
        .filter(|e| !matches!(e.behavior_close.as_str(), "OK" | "INFORMATIONAL"))
        .count();
    let list: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!(
        "{total} cases against {} ({} world) in {:.2} s: {}; {close_bad} with a close verdict other than OK/INFORMATIONAL",
        agent,
        match args.world {
            World::Sim => "sim",
            World::Real => "real",
        },
        wall.elapsed().as_secs_f64(),
        list.join(", ")
    );
    println!("reports: {}", writer.dir().join("index.html").display());
    if let Some(p) = &args.write_golden {
        let zeroed: BTreeMap<String, _> = entries
            .iter()
            .map(|(k, e)| {
                let mut e = e.clone();
                e.duration = 0;
                (k.clone(), e)
            })
            .collect();
        let g: Index = [(agent.clone(), zeroed)].into_iter().collect();
        if let Err(e) = write_atomic(p, &(to_json(&g) + "\n")) {
            eprintln!("wsim conformance: cannot write {}: {e}", p.display());
            return exit::INTERNAL;
        }
        println!("golden file written: {}", p.display());
    }
    if let Some(e) = write_error {
        eprintln!("wsim conformance: the report in {} is incomplete: {e}", writer.dir().display());
        return exit::INTERNAL;
    }
    let failed = entries
        .values()
        .filter(|e| {
            e.behavior == "FAILED" || !matches!(e.behavior_close.as_str(), "OK" | "INFORMATIONAL")
        })
        .count();
    match golden {
        Some(g) => {
            let ids: Vec<String> = cases.iter().map(|c| c.id.to_string()).collect();
            let d = compare(&g, entries, &ids);
            for c in &d.better {
                println!("better: {} {} / {} -> {} / {}", c.id, c.was.0, c.was.1, c.now.0, c.now.1);
            }
            for c in &d.worse {
                println!("WORSE:  {} {} / {} -> {} / {}", c.id, c.was.0, c.was.1, c.now.0, c.now.1);
            }
            if !d.new.is_empty() {
                println!("not in the golden file: {}", d.new.join(" "));
            }
            if d.worse.is_empty() {
                println!("golden gate: no case got worse ({} better)", d.better.len());
                exit::SUCCESS
            } else {
                println!("golden gate: {} case(s) got worse", d.worse.len());
                exit::FAILED
            }
        }
        None if failed > 0 => exit::FAILED,
        None => exit::SUCCESS,
    }
}

/// Options of `wsim report merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Report folders, each with an Autobahn-format index.json.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `wsim report merge`; returns the exit code.
pub fn merge_cmd(args: MergeArgs) -> i32 {
    match wsim::report::merge_reports(&args.dirs, &args.out) {
        Ok(s) => {
            for (a, n) in &s.agents {
                println!("{a}: {n} cases");
            }
            println!("merged into {}", args.out.join("index.html").display());
            exit::SUCCESS
        }
        Err(e @ wsim::report::MergeError::Io { .. }) => {
            eprintln!("wsim report merge: {e}");
            exit::INTERNAL
        }
        Err(e) => {
            eprintln!("wsim report merge: {e}");
            exit::BAD_INPUT
        }
    }
}
