//! `wsim connect URI`: runs the client model against any server and prints every event
//! as one JSON line.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use wsim::esp::{
    Config, Env, EspWebsocketClient, EventFilter, EventId, OwnedEvent, PORT_MAX_DELAY, Profile,
    TransportType, ms_to_ticks,
};
use wsim::exit;

/// Options of `wsim connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server URI (`ws://` or `wss://`), as the C `uri` field.
    pub uri: String,
    /// IDF profile: idf6 (default) or idf5.5.
    #[arg(long, default_value = "idf6", value_parser = parse_profile)]
    pub profile: Profile,
    /// `buffer_size`: RX chunk and TX fragment size (default 1024).
    #[arg(long)]
    pub buffer_size: Option<i32>,
    /// `host`: overrides the URI's host.
    #[arg(long)]
    pub host: Option<String>,
    /// `port`: overrides the URI's port.
    #[arg(long)]
    pub port: Option<i32>,
    /// `path`: overrides the URI's path and query.
    #[arg(long)]
    pub path: Option<String>,
    /// `username` for Basic auth.
    #[arg(long)]
    pub username: Option<String>,
    /// `password` for Basic auth.
    #[arg(long)]
    pub password: Option<String>,
    /// `subprotocol`: sent as Sec-WebSocket-Protocol.
    #[arg(long)]
    pub subprotocol: Option<String>,
    /// `user_agent`.
    #[arg(long)]
    pub user_agent: Option<String>,
    /// An extra request header, `Name: value` (repeatable; appended to `headers`).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// `transport` for a URI without a scheme: tcp or ssl.
    #[arg(long, value_parser = ["tcp", "ssl"])]
    pub transport: Option<String>,
    /// `cert_pem`: a PEM file with the CA that verifies the server (no CA: no verification).
    #[arg(long)]
    pub cert_pem: Option<PathBuf>,
    /// `cert_pem` + `cert_len`: a DER file with the CA.
    #[arg(long, conflicts_with = "cert_pem")]
    pub cert_der: Option<PathBuf>,
    /// `client_cert` (PEM) for mutual TLS.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// `client_key` (PEM) for mutual TLS.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// `skip_cert_common_name_check`.
    #[arg(long)]
    pub skip_cert_common_name_check: bool,
    /// `cert_common_name`: the name the server certificate must carry.
    #[arg(long)]
    pub cert_common_name: Option<String>,
    /// `network_timeout_ms`.
    #[arg(long)]
    pub network_timeout_ms: Option<i32>,
    /// `reconnect_timeout_ms`.
    #[arg(long)]
    pub reconnect_timeout_ms: Option<i32>,
    /// `disable_auto_reconnect`.
    #[arg(long)]
    pub disable_auto_reconnect: bool,
    /// `enable_close_reconnect`.
    #[arg(long)]
    pub enable_close_reconnect: bool,
    /// `ping_interval_sec`.
    #[arg(long)]
    pub ping_interval_sec: Option<usize>,
    /// `pingpong_timeout_sec`.
    #[arg(long)]
    pub pingpong_timeout_sec: Option<i32>,
    /// `disable_pingpong_discon`.
    #[arg(long)]
    pub disable_pingpong_discon: bool,
    /// Action once connected: `send_text` with this text.
    #[arg(long, value_name = "TEXT")]
    pub send_text: Vec<String>,
    /// Action once connected: `send_bin` with these bytes, in hex.
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    pub send_bin_hex: Vec<Vec<u8>>,
    /// Action once connected: pause this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub sleep_ms: Vec<u64>,
    /// Action once connected: `close` (empty CLOSE payload).
    #[arg(long)]
    pub close: bool,
    /// Action once connected: `close_with_code` with this code (and `--close-reason`).
    #[arg(long, value_name = "CODE")]
    pub close_code: Option<i32>,
    /// The reason sent with `--close-code`.
    #[arg(long, default_value = "", requires = "close_code")]
    pub close_reason: String,
    /// How long `close` waits for the server's CLOSE before forcing a stop.
    #[arg(long, default_value_t = 10_000)]
    pub close_timeout_ms: u64,
    /// Stop after this many seconds (default: when the client finishes, or on Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Seed for masks and handshake keys (default: from the OS).
    #[arg(long)]
    pub seed: Option<u64>,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::from_name(s).ok_or_else(|| format!("unknown profile {s:?}: expected idf6 or idf5.5"))
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return Err("hex needs an even number of digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("not hex: {:?}", &s[i..i + 2]))
        })
        .collect()
}

/// One step to run once connected.
#[derive(Debug, Clone)]
enum Action {
    Text(String),
    Bin(Vec<u8>),
    Sleep(u64),
    Close,
    CloseCode(i32, String),
}

/// The actions in the order they were given on the command line.
fn ordered_actions(args: &ConnectArgs, m: &ArgMatches) -> Vec<Action> {
    let mut v: Vec<(usize, Action)> = Vec::new();
    let idx = |id: &str| m.indices_of(id).map(|i| i.collect::<Vec<_>>()).unwrap_or_default();
    v.extend(idx("send_text").into_iter().zip(args.send_text.iter().cloned().map(Action::Text)));
    v.extend(
        idx("send_bin_hex").into_iter().zip(args.send_bin_hex.iter().cloned().map(Action::Bin)),
    );
    v.extend(idx("sleep_ms").into_iter().zip(args.sleep_ms.iter().copied().map(Action::Sleep)));
    if args.close
        && let Some(&i) = idx("close").first()
    {
        v.push((i, Action::Close));
    }
    if let (Some(code), Some(&i)) = (args.close_code, idx("close_code").first()) {
        v.push((i, Action::CloseCode(code, args.close_reason.clone())));
    }
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, a)| a).collect()
}

fn read_file(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn build_config(a: &ConnectArgs) -> Result<Config, String> {
    let mut c = Config {
        uri: Some(a.uri.clone()),
        host: a.host.clone(),
        port: a.port.unwrap_or(0),
        path: a.path.clone(),
        username: a.username.clone(),
        password: a.password.clone(),
        subprotocol: a.subprotocol.clone(),
        user_agent: a.user_agent.clone(),
        buffer_size: a.buffer_size.unwrap_or(0),
        skip_cert_common_name_check: a.skip_cert_common_name_check,
        cert_common_name: a.cert_common_name.clone(),
        network_timeout_ms: a.network_timeout_ms.unwrap_or(0),
        reconnect_timeout_ms: a.reconnect_timeout_ms.unwrap_or(0),
        disable_auto_reconnect: a.disable_auto_reconnect,
        enable_close_reconnect: a.enable_close_reconnect,
        ping_interval_sec: a.ping_interval_sec.unwrap_or(0),
        pingpong_timeout_sec: a.pingpong_timeout_sec.unwrap_or(0),
        disable_pingpong_discon: a.disable_pingpong_discon,
        transport: match a.transport.as_deref() {
            Some("tcp") => TransportType::OverTcp,
            Some("ssl") => TransportType::OverSsl,
            _ => TransportType::Unknown,
        },
        ..Config::default()
    };
    if !a.headers.is_empty() {
        c.headers = Some(a.headers.iter().map(|h| format!("{h}\r\n")).collect());
    }
    if let Some(p) = &a.cert_pem {
        c.cert_pem = Some(read_file(p)?);
    }
    if let Some(p) = &a.cert_der {
        let der = read_file(p)?;
        c.cert_len = der.len();
        c.cert_pem = Some(der);
    }
    if let Some(p) = &a.client_cert {
        c.client_cert = Some(read_file(p)?);
    }
    if let Some(p) = &a.client_key {
        c.client_key = Some(read_file(p)?);
    }
    Ok(c)
}

/// The JSON line for one event: the C field names, the payload as text or hex.
pub fn event_json(ev: &OwnedEvent, t_ms: u64) -> Value {
    let mut v = json!({
        "t_ms": t_ms,
        "event": ev.event.name(),
        "op_code": ev.op_code,
        "fin": ev.fin,
        "data_len": ev.data_len,
        "payload_len": ev.payload_len,
        "payload_offset": ev.payload_offset,
        "error_handle": ev.error_handle,
        "close_status_code": ev.close_status_code,
    });
    if !ev.data.is_empty() {
        match ev.text() {
            Some(t) => v["text"] = json!(t),
            None => v["hex"] = json!(ev.hex()),
        }
    }
    v
}

/// Runs `wsim connect`; returns the exit code.
pub async fn run(args: ConnectArgs, matches: &ArgMatches) -> i32 {
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsim connect: {e}");
            return exit::BAD_INPUT;
        }
    };
    let env = args.seed.map_or_else(Env::real, Env::real_seeded);
    let client = match EspWebsocketClient::try_init(&config, &env, args.profile) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsim connect: init failed: {e}");
            return exit::BAD_INPUT;
        }
    };
    let actions = ordered_actions(&args, matches);
    let started = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, OwnedEvent)>();
    client.register_events(EventFilter::Any, move |ev| {
        let _ = tx.send((started.elapsed().as_millis() as u64, ev.to_owned_event()));
    });
    if client.start().await != 0 {
        eprintln!("wsim connect: start failed: the scheme must be ws or wss");
        return exit::BAD_INPUT;
    }
    let deadline = args.duration.map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let mut connected = false;
    let mut actions_started = false;
    let mut stdout = std::io::stdout().lock();
    loop {
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                None => Some(rx.recv().await),
            }
        };
        let got = tokio::select! {
            biased;
            r = next => r,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(Some((t, ev))) = got else { break };
        let _ = writeln!(stdout, "{}", event_json(&ev, t));
        let _ = stdout.flush();
        match ev.event {
            EventId::Connected => {
                connected = true;
                if !actions_started {
                    actions_started = true;
                    let c = client.clone();
                    let acts = actions.clone();
                    let close_timeout = ms_to_ticks(args.close_timeout_ms);
                    tokio::spawn(async move { run_actions(&c, acts, close_timeout).await });
                }
            }
            EventId::Finish => break,
            _ => {}
        }
    }
    // Bounded teardown: a client stuck in a stalled frame never stops on the device either.
    let limit = Duration::from_millis(2 * u64::from(config.network_timeout_ms.max(10_000) as u32));
    let _ = tokio::time::timeout(limit, client.destroy()).await;
    while let Ok((t, ev)) = rx.try_recv() {
        let _ = writeln!(stdout, "{}", event_json(&ev, t));
    }
    if connected { exit::SUCCESS } else { exit::FAILED }
}

async fn run_actions(client: &EspWebsocketClient, actions: Vec<Action>, close_timeout: u32) {
    for a in actions {
        match a {
            Action::Text(t) => {
                client.send_text(t.as_bytes(), PORT_MAX_DELAY).await;
            }
            Action::Bin(b) => {
                client.send_bin(&b, PORT_MAX_DELAY).await;
            }
            Action::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Action::Close => {
                client.close(close_timeout).await;
            }
            Action::CloseCode(code, reason) => {
                client.close_with_code(code, reason.as_bytes(), close_timeout).await;
            }
        }
    }
}
