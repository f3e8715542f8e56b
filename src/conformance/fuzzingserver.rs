//! A drop-in for `wstest -m fuzzingserver`: Autobahn's spec file and URL protocol
//! (`/getCaseCount`, `/getCaseInfo`, `/runCase`, `/getCaseStatus`, `/updateReports`,
//! `/stopServer`), the catalogue played by [`play`], and Autobahn's reports in `outdir`
//! (case files as cases finish, the index on `/updateReports`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::catalogue::Case;
use super::handshake::{Request, read_request};
use super::id::Pattern;
use super::judge::judge;
use super::player::play;
use super::report::{CaseFile, ReportWriter};
use super::run::select;
use crate::proto::{Decoded, FrameDecoder, FrameHeader, Opcode, encode_frame};

/// How long a client may take to send its request (`openHandshakeTimeout`).
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a control endpoint waits for the client's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How long `/getCaseStatus` waits for a result.
const STATUS_WAIT: Duration = Duration::from_secs(1200);

/// Autobahn's `fuzzingserver.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct SpecFile {
    /// `ws://host:port`: where to listen.
    pub url: String,
    /// Where the reports go.
    #[serde(default = "default_outdir")]
    pub outdir: PathBuf,
    /// Case patterns.
    #[serde(default = "all_cases")]
    pub cases: Vec<String>,
    /// Patterns to leave out.
    #[serde(default, rename = "exclude-cases")]
    pub exclude_cases: Vec<String>,
    /// Agent pattern → case patterns not run for matching agents.
    #[serde(default, rename = "exclude-agent-cases")]
    pub exclude_agent_cases: BTreeMap<String, Vec<String>>,
    /// `setProtocolOptions` keys.
    #[serde(default)]
    pub options: BTreeMap<String, serde_json::Value>,
    /// Ignored by Autobahn's code too.
    #[serde(default)]
    pub webport: Option<serde_json::Value>,
    /// Subprotocols (none is negotiated).
    #[serde(default)]
    pub protocols: Vec<String>,
}

fn default_outdir() -> PathBuf {
    PathBuf::from("./reports/clients")
}

fn all_cases() -> Vec<String> {
    vec!["*".into()]
}

/// The option keys autobahn 0.10.9 accepts.
const OPTIONS: &[&str] = &[
    "versions",
    "webStatus",
    "utf8validateIncoming",
    "maskServerFrames",
    "requireMaskedClientFrames",
    "applyMask",
    "maxFramePayloadSize",
    "maxMessagePayloadSize",
    "autoFragmentSize",
    "failByDrop",
    "echoCloseCodeReason",
    "openHandshakeTimeout",
    "closeHandshakeTimeout",
    "tcpNoDelay",
    "perMessageCompressionAccept",
    "autoPingInterval",
    "autoPingTimeout",
    "autoPingSize",
    "serveFlashSocketPolicy",
    "flashSocketPolicy",
    "allowedOrigins",
    "maxConnections",
];

/// A validated spec: where to listen, the numbered selection, the agent exclusions.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Listen host.
    pub host: String,
    /// Listen port (0: any free one).
    pub port: u16,
    /// Report folder.
    pub outdir: PathBuf,
    /// The selection, sorted; `case=N` is `cases[N-1]`.
    pub cases: Vec<&'static Case>,
    /// Agent pattern → case patterns.
    pub exclude_agent_cases: Vec<(Pattern, Vec<Pattern>)>,
    /// Options given that wsim does not apply (for a warning).
    pub ignored_options: Vec<String>,
}

/// Reads and validates a spec file; errors name the file and what was expected.
pub fn load_spec(path: &Path) -> Result<Spec, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let raw: SpecFile = serde_json::from_str(&text)
        .map_err(|e| format!("{}: line {} column {}: {e}", path.display(), e.line(), e.column()))?;
    spec_from(raw, path.parent().unwrap_or(Path::new(".")))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Validates a parsed spec file (`base`: where a relative `outdir` starts... Autobahn
/// takes it from the working directory, and so does wsim; `base` is unused for it).
pub fn spec_from(raw: SpecFile, _base: &Path) -> Result<Spec, String> {
    let rest = raw
        .url
        .strip_prefix("ws://")
        .ok_or_else(|| {
            if raw.url.starts_with("wss://") {
                format!(
                    "url {:?}: wss (TLS) is not supported by wsim fuzzingserver; use ws://",
                    raw.url
                )
            } else {
                format!("url {:?}: expected ws://HOST:PORT", raw.url)
            }
        })?
        .trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            let port =
                p.parse::<u16>().map_err(|_| format!("url {:?}: bad port {p:?}", raw.url))?;
            (h.trim_start_matches('[').trim_end_matches(']').to_string(), port)
        }
        _ => (rest.to_string(), 80),
    };
    if host.is_empty() {
        return Err(format!("url {:?}: no host", raw.url));
    }
    let cases = select(&raw.cases, &raw.exclude_cases).map_err(|e| format!("cases: {e}"))?;
    let mut ignored = Vec::new();
    for (k, v) in &raw.options {
        if !OPTIONS.contains(&k.as_str()) {
            return Err(format!(
                "options: unknown key {k:?} (autobahn 0.10.9 accepts {})",
                OPTIONS.join(", ")
            ));
        }
        if !(k == "failByDrop" && v == &serde_json::Value::Bool(false)) {
            ignored.push(k.clone());
        }
    }
    let exclude_agent_cases = raw
        .exclude_agent_cases
        .iter()
        .map(|(a, cs)| (Pattern::new(a), cs.iter().map(|c| Pattern::new(c)).collect()))
        .collect();
    Ok(Spec {
        host,
        port,
        outdir: raw.outdir,
        cases,
        exclude_agent_cases,
        ignored_options: ignored,
    })
}

impl Spec {
    /// Whether `agent` must not run `case`.
    pub fn excluded(&self, agent: &str, case: &Case) -> bool {
        let id = case.id.to_string();
        self.exclude_agent_cases
            .iter()
            .any(|(a, cs)| a.matches_all(agent) && cs.iter().any(|c| c.matches_all(&id)))
    }
}

struct State {
    spec: Spec,
    writer: ReportWriter,
    results: BTreeMap<(String, usize), String>,
    done: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    write_error: Option<String>,
}

/// A running fuzzing server.
pub struct FuzzingServer {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl FuzzingServer {
    /// Binds the spec's host and port and starts serving.
    pub async fn start(spec: Spec) -> Result<FuzzingServer, String> {
        let listener = TcpListener::bind((spec.host.as_str(), spec.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", spec.host, spec.port))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let writer = ReportWriter::create(&spec.outdir)
            .map_err(|e| format!("cannot create {}: {e}", spec.outdir.display()))?;
        let state = Arc::new(Mutex::new(State {
            spec,
            writer,
            results: BTreeMap::new(),
            done: watch::Sender::new(0),
            stop: watch::Sender::new(false),
            write_error: None,
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut stop = lock(&st).stop.subscribe();
            loop {
                tokio::select! {
                    r = listener.accept() => match r {
                        Ok((s, _)) => {
                            let _ = s.set_nodelay(true);
                            tokio::spawn(connection(st.clone(), s));
                        }
                        // Out of descriptors and the like: try again shortly.
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    },
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
                }
            }
        });
        Ok(FuzzingServer { addr, state, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Waits until `/stopServer` (or `shutdownOnComplete`) stops it.
    pub async fn wait(self) -> Option<String> {
        let _ = self.task.await;
        lock(&self.state).write_error.clone()
    }

    /// Stops it.
    pub fn stop(&self) {
        let _ = lock(&self.state).stop.send(true);
    }
}

async fn connection(st: Arc<Mutex<State>>, mut s: TcpStream) {
    let Ok(Ok((req, rest, reads))) = tokio::time::timeout(OPEN_TIMEOUT, read_request(&mut s)).await
    else {
        return;
    };
    if !req.is_upgrade() {
        let body = status_page(&st);
        let _ = s
            .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
            .await;
        return;
    }
    match route(&st, &req) {
        Err(e) => {
            let body = format!("{e}\n");
            let _ = s
                .write_all(format!("HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
                .await;
        }
        Ok(Route::Count(n)) => reply(s, &req, Some(n.to_string())).await,
        Ok(Route::Info(c)) => {
            let j =
                serde_json::json!({"id": c.id.to_string(), "description": c.short_description()});
            reply(s, &req, Some(j.to_string())).await;
        }
        Ok(Route::Excluded) => reply(s, &req, None).await,
        Ok(Route::Status(agent, n)) => {
            let mut rx = lock(&st).done.subscribe();
            let b = tokio::time::timeout(STATUS_WAIT, async {
                loop {
                    let got = lock(&st).results.get(&(agent.clone(), n)).cloned();
                    if let Some(b) = got {
                        return b;
                    }
                    if rx.changed().await.is_err() {
                        return "FAILED".to_string();
                    }
                }
            })
            .await
            .unwrap_or_else(|_| "FAILED".to_string());
            reply(s, &req, Some(serde_json::json!({"behavior": b}).to_string())).await;
        }
        Ok(Route::Run(agent, n, case)) => {
            let rec = play(case, s, &req, rest, &reads).await;
            let v = judge(case, &rec.obs);
            let started = started_now();
            let file = CaseFile::new(&agent, case, n, &rec, &v, started);
            let mut g = lock(&st);
            if let Err(e) = g.writer.add(&file) {
                g.write_error.get_or_insert(e.to_string());
            }
            g.results.insert((agent, n), v.behavior.to_string());
            g.done.send_modify(|x| *x += 1);
        }
        Ok(Route::Update(shutdown)) => {
            {
                let mut g = lock(&st);
                if let Err(e) = g.writer.write_index() {
                    g.write_error.get_or_insert(e.to_string());
                }
            }
            reply(s, &req, None).await;
            if shutdown {
                let _ = lock(&st).stop.send(true);
            }
        }
        Ok(Route::Stop) => {
            reply(s, &req, None).await;
            let _ = lock(&st).stop.send(true);
        }
    }
}

enum Route {
    Count(usize),
    Info(&'static Case),
    Status(String, usize),
    Run(String, usize, &'static Case),
    Excluded,
    Update(bool),
    Stop,
}

fn one<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, String> {
    match req.params(name).as_slice() {
        [] => Ok(None),
        [v] => Ok(Some(v)),
        _ => Err(format!("parameter {name} given more than once")),
    }
}

fn route(st: &Mutex<State>, req: &Request) -> Result<Route, String> {
    let g = lock(st);
    let cases = &g.spec.cases;
    let case_no = || -> Result<(usize, &'static Case), String> {
        let n: usize = one(req, "case")?
            .ok_or("missing parameter case")?
            .parse()
            .map_err(|_| "parameter case must be a number".to_string())?;
        let c = cases
            .get(n.wrapping_sub(1))
            .ok_or_else(|| format!("case {n} out of range 1..{}", cases.len()))?;
        Ok((n, *c))
    };
    let agent = || -> Result<String, String> {
        Ok(one(req, "agent")?.ok_or("missing parameter agent")?.to_string())
    };
    match req.path.trim_end_matches('/') {
        "/getCaseCount" => Ok(Route::Count(cases.len())),
        "/getCaseInfo" => Ok(Route::Info(case_no()?.1)),
        "/getCaseStatus" => {
            let a = agent()?;
            Ok(Route::Status(a, case_no()?.0))
        }
        "/runCase" => {
            let a = agent()?;
            let (n, c) = match one(req, "casetuple")? {
                Some(t) => {
                    let i = cases
                        .iter()
                        .position(|c| c.id.to_string() == t)
                        .ok_or_else(|| format!("casetuple {t} is not selected"))?;
                    (i + 1, cases[i])
                }
                None => case_no()?,
            };
            if g.spec.excluded(&a, c) {
                return Ok(Route::Excluded);
            }
            Ok(Route::Run(a, n, c))
        }
        "/updateReports" => {
            agent()?;
            let s = one(req, "shutdownOnComplete")?.is_some_and(|v| matches!(v, "true" | "yes"));
            Ok(Route::Update(s))
        }
        "/stopServer" => Ok(Route::Stop),
        p => Err(format!("unknown path {p:?}: wsim fuzzingserver has no direct command mode")),
    }
}

/// Answers a control endpoint: 101, an optional text message, an empty close; then
/// waits (bounded) for the client's close and drops the connection.
async fn reply(mut s: TcpStream, req: &Request, text: Option<String>) {
    let mut out = req.response_101().into_bytes();
    if let Some(t) = text {
        out.extend(encode_frame(&FrameHeader::new(Opcode::Text, t.len() as u64), t.as_bytes()));
    }
    out.extend(encode_frame(&FrameHeader::new(Opcode::Close, 0), b""));
    if s.write_all(&out).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    let mut frames = FrameDecoder::new();
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // The client's close ends the handshake.
                    let mut closed = false;
                    frames.feed(&buf[..n], |d| {
                        closed |= matches!(d, Decoded::Header { header, .. } if header.opcode == Opcode::Close)
                    });
                    if closed {
                        break;
                    }
                }
            }
        }
    })
    .await;
}

fn started_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn status_page(st: &Mutex<State>) -> String {
    let g = lock(st);
    format!(
        "<!DOCTYPE html><html><body><h1>{}</h1><p>{} cases selected; {} results; reports in {}</p></body></html>\n",
        crate::report::esc(super::handshake::SERVER),
        g.spec.cases.len(),
        g.results.len(),
        crate::report::esc(&g.spec.outdir.display().to_string())
    )
}
