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
    /// Connect the client model to a server and print every event as a JSON line.
    Connect(cli::connect::ConnectArgs),
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
            Command::Connect(args) => {
                let sub = matches.subcommand_matches("connect").cloned().unwrap_or_default();
                cli::connect::run(args, &sub).await
            }
        }
    });
    std::process::exit(code);
}
