//! The `wsim` command.
#![forbid(unsafe_code)]

mod cli;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// wsim: a host-side simulator and conformance harness for the ESP WebSocket client.
#[derive(Debug, Parser)]
#[command(name = "wsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenario files against the client model and write reports.
    Run(cli::run::RunArgs),
    /// Validate scenario files.
    Check(cli::run::PathsArgs),
    /// List scenario ids, names and tags.
    List(cli::run::PathsArgs),
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Connect the client model to a server and print every event as a JSON line.
    Connect(Box<cli::connect::ConnectArgs>),
    /// Run ws and wss echo servers for manual use and firmware development.
    ///
    /// The servers keep no history: nothing of a connection stays once it ends, and a
    /// message or frame over 16 MiB closes its connection (CLOSE 1009). A connection that
    /// moves no byte either way for --idle-timeout-secs is closed (this also ends
    /// half-open connections whose peer vanished), as is one whose TLS and WebSocket
    /// handshake takes longer than --handshake-timeout-secs. When accepting fails (e.g.
    /// out of file descriptors) a server says so once and retries every 100 ms.
    Serve(cli::serve::ServeArgs),
    /// Write the test certificates (CA, server, bad ones, mTLS client) as files.
    Certs(cli::serve::CertsArgs),
    /// Serve the client model over the agent protocol (stdin/stdout or --listen): the
    /// reference agent, and the DUT of `wsim run --dut exec:"wsim agent"`.
    Agent(cli::agent::AgentArgs),
    /// Play Autobahn|Testsuite's fuzzingserver catalogue (517 cases) against the client
    /// model or an agent DUT and write Autobahn's reports.
    Conformance(Box<cli::conformance::ConformanceArgs>),
    /// A drop-in for Autobahn's `wstest -m fuzzingserver`: the same spec file, URL
    /// protocol and reports, for any Autobahn client (the esp-protocols testee,
    /// tungstenite's autobahn-client, …).
    Fuzzingserver(cli::fuzzingserver::FuzzingServerArgs),
    /// Work with report folders.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Print which verdicts changed between two runs.
    Diff(cli::run::DiffArgs),
    /// Merge Autobahn-format report folders (wsim conformance, wsim fuzzingserver, wsim
    /// run, Autobahn) into one matrix of cases × agents.
    Merge(cli::conformance::MergeArgs),
}

fn main() {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { wsim::exit::BAD_INPUT } else { wsim::exit::SUCCESS };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(wsim::exit::BAD_INPUT);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wsim: cannot start the runtime: {e}");
            std::process::exit(wsim::exit::INTERNAL);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => cli::run::run_cmd(args).await,
            Command::Check(args) => cli::run::check_cmd(args),
            Command::List(args) => cli::run::list_cmd(args),
            Command::Schema => cli::run::schema_cmd(),
            Command::Connect(args) => {
                let sub = matches.subcommand_matches("connect").cloned().unwrap_or_default();
                cli::connect::run(*args, &sub).await
            }
            Command::Serve(args) => cli::serve::serve_cmd(args).await,
            Command::Certs(args) => cli::serve::certs_cmd(args),
            Command::Agent(args) => cli::agent::agent_cmd(args).await,
            Command::Report(ReportCommand::Diff(args)) => cli::run::diff_cmd(args),
            Command::Report(ReportCommand::Merge(args)) => cli::conformance::merge_cmd(args),
            Command::Conformance(args) => cli::conformance::conformance_cmd(*args),
            Command::Fuzzingserver(args) => cli::fuzzingserver::fuzzingserver_cmd(args).await,
        }
    });
    // Servers and stuck clients must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
