//! `wsim agent`: the client model behind the agent protocol (docs/agent-protocol.md),
//! on stdin/stdout, a loopback TCP port or a serial device. It runs in real time, over
//! real sockets.

use clap::Args;

use wsim::dut::agent::{AgentOptions, DEFAULT_MAX_LINE, MAX_MAX_LINE, serve_agent};
use wsim::esp::Profile;
use wsim::exit;

/// Options of `wsim agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Serve on this loopback TCP address (one connection at a time) instead of
    /// stdin/stdout, e.g. 127.0.0.1:7000 (port 0: a free one, printed).
    #[arg(long, value_name = "ADDR", conflicts_with = "serial")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve on this serial device instead of stdin/stdout, PATH[@BAUD] (default
    /// 115200 baud), e.g. one end of a null-modem cable or of a pseudo-terminal pair,
    /// so `wsim run --dut serial:…` on the other end talks to the model as to a board.
    /// Ends when the device fails or goes away.
    #[arg(long, value_name = "PATH[@BAUD]", value_parser = parse_serial)]
    pub serial: Option<(String, u32)>,
    /// IDF profile of the model (the hello's IDF version follows it).
    #[arg(long, default_value = "idf6", value_parser = super::run::parse_profile)]
    pub profile: Profile,
    /// The longest protocol line, announced in the hello (4096 to 1048576).
    #[arg(long, default_value_t = DEFAULT_MAX_LINE)]
    pub max_line: usize,
    /// Event payloads up to this many bytes are sent inline, longer ones as a digest.
    #[arg(long, default_value_t = 1024)]
    pub inline_max: usize,
    /// A default build option, as an sdkconfig line (repeatable); `reset` may set more.
    #[arg(long, value_name = "KEY=VALUE")]
    pub sdkconfig: Vec<String>,
    /// A test PKI written by `wsim certs DIR`: certificates can then be named
    /// ({"pki": "ca"}; the `pki` ability). Give `wsim run` the same `--pki DIR`.
    #[arg(long, value_name = "DIR")]
    pub pki: Option<std::path::PathBuf>,
}

fn parse_serial(s: &str) -> Result<(String, u32), String> {
    wsim::dut::agent::serial::parse_path_baud(s)
}

/// Serves one session on a serial device, until the device fails or goes away.
async fn serve_serial(path: &str, baud: u32, opts: AgentOptions) -> i32 {
    let p = path.to_string();
    let port =
        match tokio::task::spawn_blocking(move || wsim::dut::agent::serial::open_port(&p, baud))
            .await
        {
            Ok(Ok(port)) => port,
            Ok(Err(e)) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INTERNAL;
            }
        };
    let b = match wsim::dut::agent::serial::bridge(port) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return exit::INTERNAL;
        }
    };
    eprintln!("wsim agent on {path} at {baud} baud");
    let _guard = b.guard;
    match serve_agent(b.reader, b.writer, opts).await {
        Ok(()) => {
            eprintln!("{path}: the device closed");
            exit::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {path}: {e}");
            exit::INTERNAL
        }
    }
}

/// `wsim agent`.
pub async fn agent_cmd(args: AgentArgs) -> i32 {
    if !(DEFAULT_MAX_LINE..=MAX_MAX_LINE).contains(&args.max_line) {
        eprintln!("error: --max-line must be {DEFAULT_MAX_LINE} to {MAX_MAX_LINE}");
        return exit::BAD_INPUT;
    }
    // An inline payload must fit in a line with the event's other fields.
    let room = (args.max_line - 600) / 4 * 3;
    if args.inline_max > room {
        eprintln!(
            "error: --inline-max {} does not fit in lines of {} bytes (at most {room})",
            args.inline_max, args.max_line
        );
        return exit::BAD_INPUT;
    }
    let sdkconfig = match super::run::build_options(&args.sdkconfig) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let pki = match &args.pki {
        None => None,
        Some(dir) => match wsim::certs::TestPki::read_from(dir) {
            Ok(p) => Some(std::sync::Arc::new(
                p.members().into_iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect(),
            )),
            Err(e) => {
                eprintln!("error: --pki: {e}");
                return exit::BAD_INPUT;
            }
        },
    };
    let opts = AgentOptions {
        pki,
        profile: args.profile,
        max_line: args.max_line,
        inline_max: args.inline_max,
        sdkconfig,
    };
    if let Some((path, baud)) = args.serial {
        return serve_serial(&path, baud, opts).await;
    }
    let Some(addr) = args.listen else {
        return match serve_agent(tokio::io::stdin(), tokio::io::stdout(), opts).await {
            Ok(()) => exit::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                exit::INTERNAL
            }
        };
    };
    if !addr.ip().is_loopback() {
        eprintln!("error: wsim agent listens on loopback addresses only, not {addr}");
        return exit::BAD_INPUT;
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return exit::BAD_INPUT;
        }
    };
    match listener.local_addr() {
        Ok(a) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "wsim agent listening on {a}");
            let _ = out.flush();
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    }
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                if let Err(e) = serve_agent(r, w, opts.clone()).await {
                    eprintln!("connection ended: {e}");
                }
            }
            Err(e) => {
                eprintln!("accept failed: {e}; retrying in 100 ms");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
