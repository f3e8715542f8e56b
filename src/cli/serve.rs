//! `wsim serve` (long-running echo servers) and `wsim certs` (the test PKI as files).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use rustls::pki_types::pem::PemObject;

use wsim::certs::{ServerCert, TestPki};
use wsim::exit;
use wsim::server::{ServerHandle, ServerKind, ServerOptions, SubprotocolPolicy};

/// Options of `wsim serve` (what the servers keep and when they close is in the
/// command's help, `src/main.rs`).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback must be named here explicitly.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port of the ws echo server (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port of the wss echo server (0: any free port).
    #[arg(long, default_value_t = 8443)]
    pub tls_port: u16,
    /// Where the certificates are (reused when present, generated otherwise).
    #[arg(long, default_value = "certs")]
    pub certs_dir: PathBuf,
    /// Answer the first offered subprotocol.
    #[arg(long)]
    pub echo_subprotocol: bool,
    /// Close a connection after this many seconds without a byte either way.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Close a connection whose TLS and WebSocket handshake takes longer than this.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub handshake_timeout_secs: u64,
    /// Connections served at once per server; more are closed when accepted.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
}

/// Options of `wsim certs`.
#[derive(Debug, Args)]
pub struct CertsArgs {
    /// The folder to write into.
    #[arg(long, default_value = "certs")]
    pub out: PathBuf,
}

/// `wsim certs`.
pub fn certs_cmd(args: CertsArgs) -> i32 {
    match TestPki::generate() {
        Ok(pki) => match pki.write_to(&args.out) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                exit::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", args.out.display());
                exit::BAD_INPUT
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            exit::INTERNAL
        }
    }
}

fn load_or_generate(dir: &Path) -> Result<TestPki, String> {
    let read = |n: &str| std::fs::read_to_string(dir.join(n)).ok();
    if let (Some(ca), Some(cert), Some(key)) =
        (read("ca.pem"), read("server.pem"), read("server.key"))
    {
        let der = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut pki = TestPki::generate().map_err(|e| e.to_string())?;
        pki.ca.cert_pem = ca;
        pki.server.cert_pem = cert;
        pki.server.cert_der = der.to_vec();
        pki.server.key_pem = key;
        return Ok(pki);
    }
    let pki = TestPki::generate().map_err(|e| e.to_string())?;
    pki.write_to(dir).map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    Ok(pki)
}

/// `wsim serve`.
pub async fn serve_cmd(args: ServeArgs) -> i32 {
    let pki = match load_or_generate(&args.certs_dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let tls = match pki.server_config(ServerCert::Valid, false) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INTERNAL;
        }
    };
    let policy =
        if args.echo_subprotocol { SubprotocolPolicy::First } else { SubprotocolPolicy::None };
    let options = ServerOptions::long_running(
        Duration::from_secs(args.idle_timeout_secs),
        Duration::from_secs(args.handshake_timeout_secs),
        args.max_connections as usize,
    );
    let ws = ServerHandle::start_with(
        "ws",
        SocketAddr::new(args.bind, args.port),
        ServerKind::Echo(policy.clone()),
        None,
        options.clone(),
    )
    .await;
    let wss = ServerHandle::start_with(
        "wss",
        SocketAddr::new(args.bind, args.tls_port),
        ServerKind::Echo(policy),
        tls,
        options,
    )
    .await;
    let (ws, wss) = match (ws, wss) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    // A closed stdout (the reader went away) must not take the servers down.
    let banner = format!(
        "ws echo:  {}/\nwss echo: {}/\nCA certificate: {}\nCtrl-C to stop.\n",
        ws.url(),
        wss.url(),
        args.certs_dir.join("ca.pem").display()
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    drop(out);
    // A panic in a server task is reported, not lost; the other server keeps running.
    let mut reported = [false, false];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                for (i, s) in [&ws, &wss].into_iter().enumerate() {
                    if let Some(f) = s.failure().filter(|_| !reported[i]) {
                        eprintln!("error: {f}");
                        reported[i] = true;
                    }
                }
            }
        }
    }
    if ws.failure().is_some() || wss.failure().is_some() { exit::INTERNAL } else { exit::SUCCESS }
}
