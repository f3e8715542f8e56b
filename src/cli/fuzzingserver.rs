//! `wsim fuzzingserver -s fuzzingserver.json`: a drop-in for `wstest -m fuzzingserver`.

use std::path::PathBuf;

use clap::Args;

use wsim::conformance::{FuzzingServer, load_spec};
use wsim::exit;

/// Options of `wsim fuzzingserver`.
#[derive(Debug, Args)]
pub struct FuzzingServerArgs {
    /// Autobahn's spec file (`url`, `outdir`, `cases`, `exclude-cases`,
    /// `exclude-agent-cases`, `options`).
    #[arg(short = 's', long = "spec")]
    pub spec: PathBuf,
}

/// Runs the server until `/stopServer`, `shutdownOnComplete` or Ctrl-C.
pub async fn fuzzingserver_cmd(args: FuzzingServerArgs) -> i32 {
    let spec = match load_spec(&args.spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wsim fuzzingserver: {e}");
            return exit::BAD_INPUT;
        }
    };
    for o in &spec.ignored_options {
        eprintln!("wsim fuzzingserver: option {o:?} is accepted but has no effect in wsim");
    }
    let (n, outdir) = (spec.cases.len(), spec.outdir.clone());
    let server = match FuzzingServer::start(spec).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wsim fuzzingserver: {e}");
            return exit::BAD_INPUT;
        }
    };
    println!(
        "wsim fuzzingserver: ws://{} ({n} cases, reports in {})",
        server.addr(),
        outdir.display()
    );
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::select! {
        e = server.wait() => match e {
            Some(e) => {
                eprintln!("wsim fuzzingserver: reports in {} are incomplete: {e}", outdir.display());
                exit::INTERNAL
            }
            None => exit::SUCCESS,
        },
        _ = stop => exit::SUCCESS,
    }
}
