//! The host side of the agent protocol: a [`Dut`] over any byte stream — a subprocess's
//! stdin/stdout (`exec:COMMAND`) or a TCP connection (`tcp:HOST:PORT`). Every wait is
//! bounded; a dead, silent or garbling DUT gives [`DutError`]s and failures that name
//! the cause.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::line::{DEFAULT_MAX_LINE, Garble, LineSplitter, RawLine, encoded_len, excerpt};
use super::message::{
    AgentMsg, Cert, Hello, HostMsg, Op, Payload, Received, Request, Resp, WireCall, WireReaction,
    b64, config_to_wire, decode,
};
use super::rfc2217::Rfc2217Target;
use super::serial::{SerialTarget, StopOnDrop};
use crate::dut::{
    CallFuture, ClientCommand, Dut, DutError, DutFuture, DutReport, HandlerCall, ReactionSpec,
};
use crate::esp::{Config, PORT_MAX_DELAY};

/// How long the host waits for a hello, and for answers to requests that call no
/// blocking function.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the host waits for the boot hello after resetting a board (boot, Wi-Fi).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound of requests that do not block on the network.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The bound of calls without a timeout argument (`start`, `stop`, `destroy`, …).
pub const UNTIMED_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Added to a call's own timeout for the link.
pub const CALL_SLACK: Duration = Duration::from_secs(10);
/// The bound of `destroy_all` at the end of a scenario.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);
/// The bound of connecting (TCP) and of writing one line.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// DUT log lines kept per connection (the oldest are dropped).
pub const MAX_LOG_LINES: usize = 10_000;
/// Garbled lines quoted in a report.
const GARBLED_QUOTED: usize = 3;

/// Which DUT a run uses (`--dut`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DutSpec {
    /// The model in this process.
    Host,
    /// A subprocess speaking the protocol on stdin/stdout (`sh -c COMMAND`).
    Exec(String),
    /// A TCP connection (`HOST:PORT`).
    Tcp(String),
    /// A serial port (`PORT[@BAUD][,reset]`).
    Serial(SerialTarget),
    /// A serial port behind an RFC 2217 server (`HOST:PORT[?baud=N][&reset]`).
    Rfc2217(Rfc2217Target),
}

impl DutSpec {
    /// Parses `host`, `exec:COMMAND`, `tcp:HOST:PORT`, `serial:PORT[@BAUD][,reset]` or
    /// `rfc2217://HOST:PORT[?baud=N][&reset]`.
    pub fn parse(s: &str) -> Result<DutSpec, String> {
        if let Some(p) = s.strip_prefix("serial:") {
            return SerialTarget::parse(p).map(DutSpec::Serial);
        }
        if let Some(p) = s.strip_prefix("rfc2217://") {
            return Rfc2217Target::parse(p).map(DutSpec::Rfc2217);
        }
        if s == "host" {
            return Ok(DutSpec::Host);
        }
        if let Some(c) = s.strip_prefix("exec:") {
            if c.trim().is_empty() {
                return Err("exec: needs a command, e.g. exec:\"wsim agent\"".into());
            }
            return Ok(DutSpec::Exec(c.to_string()));
        }
        if let Some(a) = s.strip_prefix("tcp:") {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0));
            if !ok {
                return Err(format!("tcp:{a}: expected tcp:HOST:PORT"));
            }
            return Ok(DutSpec::Tcp(a.to_string()));
        }
        Err(format!(
            "unknown DUT {s:?}: expected host, exec:COMMAND, tcp:HOST:PORT, serial:PORT[@BAUD][,reset] or rfc2217://HOST:PORT[?baud=N][&reset]"
        ))
    }

    /// Whether it is the in-process model.
    pub fn is_host(&self) -> bool {
        *self == DutSpec::Host
    }

    /// Whether it is one device that runs one scenario at a time.
    pub fn one_at_a_time(&self) -> bool {
        matches!(self, DutSpec::Tcp(_) | DutSpec::Serial(_) | DutSpec::Rfc2217(_))
    }

    /// The kind of DUT, as a scenario's `[dut] skip` names it: `host`, or `external`
    /// for every DUT behind the agent protocol.
    pub fn kind(&self) -> &'static str {
        if self.is_host() { "host" } else { "external" }
    }
}

impl std::fmt::Display for DutSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DutSpec::Host => f.write_str("host"),
            DutSpec::Exec(c) => write!(f, "exec:{c}"),
            DutSpec::Tcp(a) => write!(f, "tcp:{a}"),
            DutSpec::Serial(t) => write!(f, "serial:{t}"),
            DutSpec::Rfc2217(t) => write!(f, "rfc2217://{t}"),
        }
    }
}

type Waiter = oneshot::Sender<Resp>;

/// What the reader task shares with the DUT.
struct State {
    responses: HashMap<u64, Waiter>,
    completions: HashMap<u64, Waiter>,
    hellos: Option<mpsc::UnboundedSender<Hello>>,
    /// Why the link ended (or is unusable).
    dead: Option<String>,
    /// Whether the first hello was seen (a later boot hello is a reboot).
    greeted: bool,
    last_seq: Option<u32>,
    log: VecDeque<String>,
    garbled: usize,
    garbled_quoted: Vec<String>,
    gaps: usize,
    rebooted: bool,
    max_line: usize,
    events: usize,
    event_limit: usize,
}

impl State {
    fn fail_all(&mut self, why: &str) {
        if self.dead.is_none() {
            self.dead = Some(why.to_string());
        }
        // Dropping the senders wakes every waiter, which then reads `dead`.
        self.responses.clear();
        self.completions.clear();
        self.hellos = None;
    }

    fn push_log(&mut self, line: String) {
        if self.log.len() >= MAX_LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    fn garble(&mut self, why: &Garble, quote: String) {
        self.garbled += 1;
        if self.garbled_quoted.len() < GARBLED_QUOTED {
            self.garbled_quoted.push(format!("{why}: {quote}"));
        }
    }
}

struct Writer {
    w: Box<dyn AsyncWrite + Send + Unpin>,
    seq: u32,
    next_id: u64,
    next_buf: u32,
}

struct Link {
    /// The lock is the flow control: whoever holds it has the one outstanding request.
    writer: tokio::sync::Mutex<Writer>,
    state: Arc<Mutex<State>>,
    child: Arc<Mutex<Option<tokio::process::Child>>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    what: String,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Link {
    fn dead_reason(&self) -> String {
        let mut why = lock(&self.state).dead.clone().unwrap_or_else(|| "the link closed".into());
        let tail = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        if !tail.is_empty() {
            let t: Vec<&str> = tail.iter().map(String::as_str).collect();
            why.push_str(&format!("; its last standard error: {}", t.join(" | ")));
        }
        why
    }

    fn unreachable(&self) -> DutError {
        DutError::Unreachable(format!("{}: {}", self.what, self.dead_reason()))
    }

    /// Writes one request; returns its id. The caller holds the writer.
    async fn send(
        &self,
        w: &mut Writer,
        op: Op,
        waiter: Option<(bool, Waiter)>,
    ) -> Result<u64, DutError> {
        let id = w.next_id;
        w.next_id += 1;
        let msg = HostMsg::Req(Request { id, op });
        let body = serde_json::to_string(&msg).map_err(|e| DutError::Protocol(e.to_string()))?;
        let max = {
            let mut st = lock(&self.state);
            if st.dead.is_some() {
                drop(st);
                return Err(self.unreachable());
            }
            if let Some((completion, tx)) = waiter {
                if completion {
                    st.completions.insert(id, tx);
                } else {
                    st.responses.insert(id, tx);
                }
            }
            st.max_line
        };
        if encoded_len(w.seq, &body) > max {
            lock(&self.state).responses.remove(&id);
            return Err(DutError::Protocol(format!(
                "a request of {} bytes exceeds the line limit {max}",
                body.len()
            )));
        }
        let line = super::line::encode_line(w.seq, &body);
        w.seq = w.seq.wrapping_add(1);
        let write = async {
            w.w.write_all(line.as_bytes()).await?;
            w.w.flush().await
        };
        match tokio::time::timeout(IO_TIMEOUT, write).await {
            Ok(Ok(())) => Ok(id),
            Ok(Err(e)) => {
                let why = format!("writing failed: {e}{}", exit_status(&self.child).await);
                lock(&self.state).fail_all(&why);
                Err(self.unreachable())
            }
            Err(_) => {
                lock(&self.state).fail_all(&format!(
                    "the DUT read nothing for {} s (its input is full)",
                    IO_TIMEOUT.as_secs()
                ));
                Err(self.unreachable())
            }
        }
    }

    /// One request and its response, within `bound` (None: unbounded here; the
    /// scenario's own bound applies). The caller holds the writer.
    async fn request_locked(
        &self,
        w: &mut Writer,
        op: Op,
        what: &str,
        bound: Option<Duration>,
    ) -> Result<Resp, DutError> {
        let (tx, rx) = oneshot::channel();
        self.send(w, op, Some((false, tx))).await?;
        let got = match bound {
            Some(b) => match tokio::time::timeout(b, rx).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(DutError::Timeout {
                        request: what.to_string(),
                        ms: b.as_millis() as u64,
                    });
                }
            },
            None => rx.await,
        };
        got.map_err(|_| self.unreachable())
    }

    async fn request(&self, op: Op, what: &str, bound: Option<Duration>) -> Result<i64, DutError> {
        let mut w = self.writer.lock().await;
        let r = self.request_locked(&mut w, op, what, bound).await?;
        r.result().map_err(|reason| DutError::Refused { request: what.to_string(), reason })
    }

    /// Stages `data` in a buffer if an inline request would be too long.
    async fn payload(&self, w: &mut Writer, data: &[u8]) -> Result<Payload, DutError> {
        let max = lock(&self.state).max_line;
        // The longest inline payload that surely fits beside the call's other fields.
        let inline_room = (max.saturating_sub(600) / 4) * 3;
        if data.len() <= inline_room {
            return Ok(Payload { b64: Some(b64(data)), buf: None });
        }
        Ok(Payload { b64: None, buf: Some(self.stage(w, data).await?) })
    }

    /// Stages `data` in a new buffer with `data` requests; returns its number.
    async fn stage(&self, w: &mut Writer, data: &[u8]) -> Result<u32, DutError> {
        let max = lock(&self.state).max_line;
        w.next_buf = w.next_buf.wrapping_add(1).max(1);
        let buf = w.next_buf;
        let chunk = ((max.saturating_sub(200) / 4) * 3).max(3);
        let mut offset = 0;
        // An empty payload still makes its (empty) buffer.
        let pieces: Vec<&[u8]> =
            if data.is_empty() { vec![&[]] } else { data.chunks(chunk).collect() };
        for piece in pieces {
            let op = Op::Data { buf, offset, b64: b64(piece) };
            let r = self.request_locked(w, op, "data", Some(REQUEST_TIMEOUT)).await?;
            r.result().map_err(|reason| DutError::Refused { request: "data".into(), reason })?;
            offset += piece.len();
        }
        Ok(buf)
    }

    async fn wire_call(&self, w: &mut Writer, cmd: &ClientCommand) -> Result<WireCall, DutError> {
        let data = match cmd {
            ClientCommand::SendText { data, .. }
            | ClientCommand::SendBin { data, .. }
            | ClientCommand::SendTextPartial { data, .. }
            | ClientCommand::SendBinPartial { data, .. }
            | ClientCommand::SendContMsg { data, .. }
            | ClientCommand::SendWithOpcode { data, .. } => Some(data.as_slice()),
            _ => None,
        };
        let staged = match data {
            Some(d) => Some(self.payload(w, d).await?),
            None => None,
        };
        Ok(WireCall::from_command(cmd, |_| staged.clone().unwrap_or_default()))
    }
}

/// The bound of a call's response: its own timeout (in ticks) plus slack.
fn call_bound(cmd: &ClientCommand, tick_ms: u64) -> Option<Duration> {
    let ticks = match cmd {
        ClientCommand::Close { timeout }
        | ClientCommand::CloseWithCode { timeout, .. }
        | ClientCommand::SendText { timeout, .. }
        | ClientCommand::SendBin { timeout, .. }
        | ClientCommand::SendTextPartial { timeout, .. }
        | ClientCommand::SendBinPartial { timeout, .. }
        | ClientCommand::SendContMsg { timeout, .. }
        | ClientCommand::SendFin { timeout }
        | ClientCommand::SendWithOpcode { timeout, .. } => *timeout,
        _ => return Some(UNTIMED_CALL_TIMEOUT),
    };
    if ticks == PORT_MAX_DELAY {
        return None;
    }
    Some(Duration::from_millis(u64::from(ticks) * tick_ms.max(1)) + CALL_SLACK)
}

/// A DUT behind the agent protocol.
pub struct AgentDut {
    link: Arc<Link>,
    rx: mpsc::UnboundedReceiver<DutReport>,
    hello: Hello,
    tick_ms: u64,
    overflow: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    /// The process group of an `exec:` DUT (its leader's pid).
    pgid: Option<u32>,
    /// Ends a serial port's threads when the DUT goes.
    _guard: Option<StopOnDrop>,
    /// The members of the PKI the agent shares, by name (see `name_certificates`).
    pki_names: Vec<(String, Vec<u8>)>,
}

impl Drop for AgentDut {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(c) = self.link.child.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = c.start_kill();
        }
        // Everything the command started, not just `sh`.
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// How [`AgentDut::start_with`] runs a link.
struct StartOptions {
    child: Option<tokio::process::Child>,
    stderr: Option<tokio::process::ChildStderr>,
    tick_ms: u64,
    guard: Option<StopOnDrop>,
    /// Tasks of the transport, aborted with the DUT.
    tasks: Vec<JoinHandle<()>>,
    hello_timeout: Duration,
}

impl StartOptions {
    fn new(tick_ms: u64) -> StartOptions {
        StartOptions {
            child: None,
            stderr: None,
            tick_ms,
            guard: None,
            tasks: Vec::new(),
            hello_timeout: HELLO_TIMEOUT,
        }
    }
}

impl AgentDut {
    /// Connects to the DUT and waits for its hello (bounded). `tick_ms` is the tick
    /// period of its build, for the bounds of calls. Never resets a board: see
    /// [`AgentDut::open_first`].
    pub async fn open(spec: &DutSpec, tick_ms: u64) -> Result<AgentDut, DutError> {
        AgentDut::open_with(spec, tick_ms, false).await
    }

    /// [`AgentDut::open`] for the run's first contact: a serial DUT given `,reset`
    /// (`&reset` for RFC 2217) is hard-reset first, and its boot hello is awaited for
    /// up to [`BOOT_TIMEOUT`] (boot log lines go to the DUT log).
    pub async fn open_first(spec: &DutSpec, tick_ms: u64) -> Result<AgentDut, DutError> {
        AgentDut::open_with(spec, tick_ms, true).await
    }

    async fn open_with(spec: &DutSpec, tick_ms: u64, first: bool) -> Result<AgentDut, DutError> {
        match spec {
            DutSpec::Host => Err(DutError::Protocol("the host DUT needs no agent".into())),
            DutSpec::Exec(cmd) => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true);
                // A process group of its own, so everything the command starts (a
                // firmware ELF under `sh -c`) is killed with it.
                #[cfg(unix)]
                c.process_group(0);
                let mut child = c
                    .spawn()
                    .map_err(|e| DutError::Unreachable(format!("exec:{cmd}: cannot start: {e}")))?;
                let (Some(stdin), Some(stdout), stderr) =
                    (child.stdin.take(), child.stdout.take(), child.stderr.take())
                else {
                    return Err(DutError::Unreachable(format!("exec:{cmd}: no pipes")));
                };
                let opts =
                    StartOptions { child: Some(child), stderr, ..StartOptions::new(tick_ms) };
                AgentDut::start_with(format!("exec:{cmd}"), stdout, Box::new(stdin), opts).await
            }
            DutSpec::Tcp(addr) => {
                let s =
                    tokio::time::timeout(IO_TIMEOUT, tokio::net::TcpStream::connect(addr.as_str()))
                        .await
                        .map_err(|_| {
                            DutError::Unreachable(format!(
                                "tcp:{addr}: no connection within {} s",
                                IO_TIMEOUT.as_secs()
                            ))
                        })?
                        .map_err(|e| DutError::Unreachable(format!("tcp:{addr}: {e}")))?;
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                AgentDut::start(format!("tcp:{addr}"), r, Box::new(w), None, None, tick_ms).await
            }
            DutSpec::Serial(t) => {
                let what = format!("serial:{}", t.path);
                let (path, baud, reset) = (t.path.clone(), t.baud, t.reset && first);
                let port = tokio::task::spawn_blocking(move || {
                    let mut p = super::serial::open_port(&path, baud)?;
                    if reset {
                        super::serial::hard_reset(p.as_mut())?;
                    }
                    Ok::<_, String>(p)
                })
                .await
                .map_err(|e| DutError::Unreachable(format!("{what}: {e}")))?
                .map_err(|e| DutError::Unreachable(format!("{what}: {e}")))?;
                let b = super::serial::bridge(port)
                    .map_err(|e| DutError::Unreachable(format!("{what}: {e}")))?;
                let opts = StartOptions {
                    guard: Some(b.guard),
                    hello_timeout: if reset { BOOT_TIMEOUT } else { HELLO_TIMEOUT },
                    ..StartOptions::new(tick_ms)
                };
                AgentDut::start_with(what, b.reader, Box::new(b.writer), opts).await
            }
            DutSpec::Rfc2217(t) => {
                let reset = t.reset && first;
                let link =
                    super::rfc2217::connect(t, reset).await.map_err(DutError::Unreachable)?;
                let opts = StartOptions {
                    tasks: link.tasks,
                    hello_timeout: if reset { BOOT_TIMEOUT } else { HELLO_TIMEOUT },
                    ..StartOptions::new(tick_ms)
                };
                let what = format!("rfc2217://{}", t.addr);
                AgentDut::start_with(what, link.reader, Box::new(link.writer), opts).await
            }
        }
    }

    /// Speaks the protocol over `reader`/`writer` (any byte stream).
    pub async fn start<R>(
        what: String,
        reader: R,
        writer: Box<dyn AsyncWrite + Send + Unpin>,
        child: Option<tokio::process::Child>,
        stderr: Option<tokio::process::ChildStderr>,
        tick_ms: u64,
    ) -> Result<AgentDut, DutError>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let opts = StartOptions { child, stderr, ..StartOptions::new(tick_ms) };
        AgentDut::start_with(what, reader, writer, opts).await
    }

    async fn start_with<R>(
        what: String,
        reader: R,
        writer: Box<dyn AsyncWrite + Send + Unpin>,
        opts: StartOptions,
    ) -> Result<AgentDut, DutError>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let StartOptions { child, stderr, tick_ms, guard, tasks: extra, hello_timeout } = opts;
        let (hello_tx, mut hello_rx) = mpsc::unbounded_channel();
        let state = Arc::new(Mutex::new(State {
            responses: HashMap::new(),
            completions: HashMap::new(),
            hellos: Some(hello_tx),
            dead: None,
            greeted: false,
            last_seq: None,
            log: VecDeque::new(),
            garbled: 0,
            garbled_quoted: Vec::new(),
            gaps: 0,
            rebooted: false,
            max_line: DEFAULT_MAX_LINE,
            events: 0,
            event_limit: usize::MAX,
        }));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::unbounded_channel();
        let overflow = Arc::new(watch::Sender::new(false));
        let pgid = child.as_ref().and_then(tokio::process::Child::id);
        let child = Arc::new(Mutex::new(child));
        let mut tasks = extra;
        tasks.push(tokio::spawn(read_loop(
            reader,
            state.clone(),
            tx,
            overflow.clone(),
            child.clone(),
        )));
        if let Some(e) = stderr {
            tasks.push(tokio::spawn(stderr_loop(e, state.clone(), stderr_tail.clone())));
        }
        let link = Arc::new(Link {
            writer: tokio::sync::Mutex::new(Writer { w: writer, seq: 0, next_id: 1, next_buf: 0 }),
            state,
            child,
            stderr_tail,
            what,
        });
        let mut dut = AgentDut {
            link,
            rx,
            hello: placeholder_hello(),
            tick_ms,
            overflow,
            tasks,
            pgid,
            _guard: guard,
            pki_names: Vec::new(),
        };
        // Ask at once (an agent that already booted, behind ser2net, says nothing by
        // itself); a boot hello answers as well. The response itself is not awaited.
        {
            let mut w = dut.link.writer.lock().await;
            dut.link.send(&mut w, Op::Hello, None).await?;
        }
        let hello = match tokio::time::timeout(hello_timeout, hello_rx.recv()).await {
            Ok(Some(h)) => h,
            Ok(None) => return Err(dut.link.unreachable()),
            Err(_) => {
                let st = lock(&dut.link.state);
                let mut why = format!("no hello within {} s", hello_timeout.as_secs());
                if st.garbled > 0 {
                    why.push_str(&format!(
                        " ({} garbled line(s), e.g. {})",
                        st.garbled,
                        st.garbled_quoted.join("; ")
                    ));
                } else if !st.log.is_empty() {
                    why.push_str(&format!(" ({} log line(s))", st.log.len()));
                }
                drop(st);
                return Err(DutError::Unreachable(format!("{}: {why}", dut.link.what)));
            }
        };
        hello.check_version().map_err(DutError::Protocol)?;
        lock(&dut.link.state).max_line = hello.line_limit();
        dut.hello = hello;
        Ok(dut)
    }

    /// Names certificates by the members of `pki` when the agent has the `pki`
    /// ability (it was given the same PKI: `wsim agent --pki DIR`, or a board flashed
    /// with it); others, and all without the ability, go inline or staged.
    pub fn name_certificates(&mut self, pki: &crate::certs::TestPki) {
        self.pki_names =
            pki.members().into_iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect();
    }

    /// A certificate by name if it is a member of the PKI the agent shares, else inline.
    fn cert_for(&self, bytes: &[u8]) -> Cert {
        if self.hello.can("pki")
            && let Some((name, _)) = self.pki_names.iter().find(|(_, b)| b == bytes)
        {
            return Cert { pki: Some(name.clone()), ..Cert::default() };
        }
        Cert::inline(bytes)
    }

    /// The DUT's hello.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Starts a clean session: every client destroyed, build options and the global
    /// CA given to the agent (if it can take them).
    pub async fn reset(
        &mut self,
        sdkconfig: Vec<String>,
        global_ca: Option<&[u8]>,
        seed: u64,
    ) -> Result<(), DutError> {
        let global_ca = global_ca.filter(|_| self.hello.can("global_ca")).map(|b| self.cert_for(b));
        self.link
            .request(
                Op::Reset { sdkconfig, global_ca, seed: Some(seed) },
                "reset",
                Some(REQUEST_TIMEOUT),
            )
            .await
            .map(|_| ())
    }
}

fn placeholder_hello() -> Hello {
    Hello {
        proto: super::line::PROTOCOL_VERSION,
        agent: String::new(),
        chip: String::new(),
        idf: String::new(),
        client: String::new(),
        heap: 0,
        sdkconfig: serde_json::Map::new(),
        max_line: DEFAULT_MAX_LINE,
        inline_max: 0,
        abilities: Vec::new(),
    }
}

/// ` (the process exited: STATUS)` once a subprocess that closed its end has exited
/// (waiting up to 1 s), else nothing.
async fn exit_status(child: &Mutex<Option<tokio::process::Child>>) -> String {
    for _ in 0..50 {
        let status = match child.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(c) => c.try_wait().ok().flatten(),
            None => return String::new(),
        };
        if let Some(st) = status {
            return format!(" (the process exited: {st})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    String::new()
}

async fn stderr_loop(
    mut e: tokio::process::ChildStderr,
    state: Arc<Mutex<State>>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut sp = LineSplitter::new(DEFAULT_MAX_LINE);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = e.read(&mut buf).await.unwrap_or(0);
        let lines = if n == 0 { sp.flush().into_iter().collect() } else { sp.push(&buf[..n]) };
        for l in lines {
            let text = match l {
                RawLine::Line(b) => String::from_utf8_lossy(&b).into_owned(),
                RawLine::TooLong { start, .. } => format!("{}…", String::from_utf8_lossy(&start)),
            };
            lock(&state).push_log(format!("stderr: {text}"));
            let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
            if t.len() >= 3 {
                t.pop_front();
            }
            t.push_back(excerpt(text.as_bytes()));
        }
        if n == 0 {
            return;
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    state: Arc<Mutex<State>>,
    tx: mpsc::UnboundedSender<DutReport>,
    overflow: Arc<watch::Sender<bool>>,
    child: Arc<Mutex<Option<tokio::process::Child>>>,
) {
    let mut sp = LineSplitter::new(super::line::MAX_MAX_LINE);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                lock(&state).fail_all(&format!("reading failed: {e}"));
                return;
            }
        };
        let lines = if n == 0 { sp.flush().into_iter().collect() } else { sp.push(&buf[..n]) };
        for raw in lines {
            on_line(raw, &state, &tx, &overflow);
        }
        if n == 0 {
            let why =
                format!("the DUT closed the link (end of stream){}", exit_status(&child).await);
            lock(&state).fail_all(&why);
            return;
        }
    }
}

fn on_line(
    raw: RawLine,
    state: &Arc<Mutex<State>>,
    tx: &mpsc::UnboundedSender<DutReport>,
    overflow: &Arc<watch::Sender<bool>>,
) {
    let mut st = lock(state);
    let line = match raw {
        RawLine::Line(l) => l,
        RawLine::TooLong { start, len } => {
            if start.starts_with(super::line::MARKER_ANY) {
                let max = st.max_line;
                st.garble(&Garble::TooLong { max, len }, excerpt(&start));
            } else {
                st.push_log(format!("{}…", String::from_utf8_lossy(&start)));
            }
            return;
        }
    };
    let max = st.max_line;
    let (seq, msg) = match decode::<AgentMsg>(&line, max) {
        Received::Log(l) => {
            st.push_log(String::from_utf8_lossy(&l).into_owned());
            return;
        }
        Received::Garbled(g, quote) => {
            if let Garble::OtherVersion(v) = &g {
                let why = format!(
                    "the DUT speaks agent protocol {v}, this wsim speaks {}",
                    super::line::PROTOCOL_VERSION
                );
                st.fail_all(&why);
                st.hellos = None;
            }
            st.garble(&g, quote);
            return;
        }
        Received::Msg { seq, msg } => (seq, msg),
    };
    let boot = seq == 0 && matches!(msg, AgentMsg::Hello(_));
    // Before the first hello, lines are a previous session's tail (a serial port keeps
    // the agent's stream across opens): no gaps counted, nothing acted on.
    if !st.greeted && !matches!(msg, AgentMsg::Hello(_)) {
        st.last_seq = Some(seq);
        return;
    }
    match st.last_seq {
        _ if boot || !st.greeted => {}
        Some(last) if last.wrapping_add(1) != seq => st.gaps += 1,
        _ => {}
    }
    st.last_seq = Some(seq);
    match msg {
        AgentMsg::Hello(h) => {
            if let Err(why) = h.check_version() {
                st.fail_all(&why);
                st.hellos = None;
                return;
            }
            if boot && st.greeted {
                st.rebooted = true;
                st.fail_all("the DUT rebooted (a hello with sequence number 0)");
            }
            st.greeted = true;
            if let Some(h_tx) = &st.hellos {
                let _ = h_tx.send(h);
            }
        }
        AgentMsg::Resp(r) => {
            if let Some(w) = st.responses.remove(&r.id) {
                let _ = w.send(r);
            }
        }
        AgentMsg::Done(r) => {
            if let Some(w) = st.completions.remove(&r.id) {
                let _ = w.send(r);
            }
        }
        AgentMsg::Event(e) => match e.into_dut() {
            Ok(ev) => {
                st.events += 1;
                if st.events > st.event_limit {
                    overflow.send_if_modified(|v| !std::mem::replace(v, true));
                    return;
                }
                let _ = tx.send(DutReport::Event(ev));
            }
            Err(why) => st.garble(&Garble::Body(why), excerpt(&line)),
        },
        AgentMsg::Hcall(c) => {
            let _ = tx.send(DutReport::Call(HandlerCall {
                client: c.client,
                at_ms: c.ms,
                reaction: c.reaction,
                function: c.function,
                returned: c.ret,
            }));
        }
    }
}

impl Dut for AgentDut {
    fn describe(&self) -> String {
        format!("{} via {}", self.hello.describe(), self.link.what)
    }

    fn create_client<'a>(
        &'a mut self,
        name: &'a str,
        config: &'a Config,
        reactions: &'a [ReactionSpec],
    ) -> DutFuture<'a, bool> {
        Box::pin(async move {
            let reactions: Vec<WireReaction> =
                reactions.iter().map(WireReaction::from_spec).collect();
            let mut w = self.link.writer.lock().await;
            let mut op = Op::Init {
                client: name.to_string(),
                config: config_to_wire(config, |b| self.cert_for(b)),
                reactions: reactions.clone(),
            };
            // Certificates that make the line too long are staged first.
            let body =
                serde_json::to_string(&HostMsg::Req(Request { id: w.next_id, op: op.clone() }))
                    .map_err(|e| DutError::Protocol(e.to_string()))?;
            if encoded_len(w.seq, &body) > lock(&self.link.state).max_line {
                let mut certs = Vec::new();
                for c in [&config.cert_pem, &config.client_cert, &config.client_key]
                    .into_iter()
                    .flatten()
                {
                    let named = self.cert_for(c);
                    certs.push(if named.pki.is_some() {
                        named
                    } else {
                        Cert { buf: Some(self.link.stage(&mut w, c).await?), ..Cert::default() }
                    });
                }
                let mut it = certs.into_iter();
                op = Op::Init {
                    client: name.to_string(),
                    config: config_to_wire(config, |_| it.next().unwrap_or_default()),
                    reactions,
                };
            }
            let r = self.link.request_locked(&mut w, op, "init", Some(REQUEST_TIMEOUT)).await?;
            let r = r
                .result()
                .map_err(|reason| DutError::Refused { request: "init".into(), reason })?;
            Ok(r != 0)
        })
    }

    fn call(&self, name: &str, command: ClientCommand) -> CallFuture {
        let (link, name, tick_ms) = (self.link.clone(), name.to_string(), self.tick_ms);
        Box::pin(async move {
            let what = command.name();
            let bound = call_bound(&command, tick_ms);
            let mut w = link.writer.lock().await;
            let call = link.wire_call(&mut w, &command).await?;
            let op = Op::Call { client: name, call, background: false };
            let r = link.request_locked(&mut w, op, what, bound).await?;
            r.result().map_err(|reason| DutError::Refused { request: what.to_string(), reason })
        })
    }

    fn call_background(
        &self,
        name: &str,
        command: ClientCommand,
    ) -> DutFuture<'static, CallFuture> {
        if !self.hello.can("background") {
            let f = self.call(name, command);
            return Box::pin(async move { Ok(f) });
        }
        let (link, name) = (self.link.clone(), name.to_string());
        Box::pin(async move {
            let what = command.name();
            let (done_tx, done_rx) = oneshot::channel();
            let mut w = link.writer.lock().await;
            let call = link.wire_call(&mut w, &command).await?;
            let (tx, rx) = oneshot::channel();
            let id = w.next_id;
            lock(&link.state).completions.insert(id, done_tx);
            link.send(&mut w, Op::Call { client: name, call, background: true }, Some((false, tx)))
                .await?;
            let accepted = tokio::time::timeout(REQUEST_TIMEOUT, rx)
                .await
                .map_err(|_| DutError::Timeout {
                    request: what.to_string(),
                    ms: REQUEST_TIMEOUT.as_millis() as u64,
                })?
                .map_err(|_| link.unreachable())?;
            drop(w);
            if let Err(reason) = accepted.result() {
                lock(&link.state).completions.remove(&id);
                return Err(DutError::Refused { request: what.to_string(), reason });
            }
            let link2 = link.clone();
            let fut: CallFuture = Box::pin(async move {
                let r = done_rx.await.map_err(|_| link2.unreachable())?;
                r.result().map_err(|reason| DutError::Refused { request: what.to_string(), reason })
            });
            Ok(fut)
        })
    }

    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<DutReport> {
        &mut self.rx
    }

    fn shutdown(&mut self) -> CallFuture {
        let link = self.link.clone();
        // The session ends with the link anyway (the agent destroys its clients when
        // its input ends), so a DUT that does not answer costs little here.
        Box::pin(async move {
            link.request(Op::DestroyAll, "destroy_all", Some(SHUTDOWN_TIMEOUT)).await
        })
    }

    fn set_event_limit(&mut self, limit: usize) {
        lock(&self.link.state).event_limit = limit;
    }

    fn overflow(&self) -> watch::Receiver<bool> {
        self.overflow.subscribe()
    }

    fn failures(&self) -> Vec<String> {
        let st = lock(&self.link.state);
        let mut out = Vec::new();
        if st.dead.is_some() {
            drop(st);
            out.push(format!("the DUT was lost: {}", self.link.dead_reason()));
            let st = lock(&self.link.state);
            return with_link_problems(out, &st);
        }
        with_link_problems(out, &st)
    }

    fn log(&self) -> Vec<String> {
        lock(&self.link.state).log.iter().cloned().collect()
    }
}

fn with_link_problems(mut out: Vec<String>, st: &State) -> Vec<String> {
    if st.garbled > 0 {
        out.push(format!(
            "{} garbled line(s) from the DUT (not acted on), e.g. {}",
            st.garbled,
            st.garbled_quoted.join("; ")
        ));
    }
    if st.gaps > 0 {
        out.push(format!("{} gap(s) in the DUT's sequence numbers: lines were lost", st.gaps));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dut::agent::{AgentOptions, serve_agent};
    use crate::esp::{EventId, Profile, Sdkconfig};
    use crate::server::{ServerHandle, ServerKind, SubprotocolPolicy};

    fn agent_opts(inline_max: usize) -> AgentOptions {
        AgentOptions {
            profile: Profile::Idf6,
            pki: None,
            max_line: DEFAULT_MAX_LINE,
            inline_max,
            sdkconfig: Sdkconfig::default(),
        }
    }

    /// A driver talking to `wsim agent`'s engine over an in-memory pipe, with extra
    /// bytes (log lines, garbage) written into the agent-to-host direction.
    async fn pair(inline_max: usize) -> AgentDut {
        let (host, agent) = tokio::io::duplex(1 << 16);
        let (ar, aw) = tokio::io::split(agent);
        tokio::spawn(serve_agent(ar, aw, agent_opts(inline_max)));
        let (hr, hw) = tokio::io::split(host);
        AgentDut::start("duplex".into(), hr, Box::new(hw), None, None, 10).await.unwrap()
    }

    async fn next_event(dut: &mut AgentDut, want: EventId) -> crate::dut::DutEvent {
        loop {
            let r = tokio::time::timeout(Duration::from_secs(10), dut.events().recv())
                .await
                .expect("an event in time")
                .expect("the stream is open");
            if let DutReport::Event(e) = r
                && e.event.event == want
            {
                return e;
            }
        }
    }

    #[tokio::test]
    async fn large_sends_are_staged_and_large_events_come_as_digests() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut server =
            ServerHandle::serve("echo", l, ServerKind::Echo(SubprotocolPolicy::None), None)
                .unwrap();
        let mut dut = pair(64).await;
        assert_eq!(dut.hello().chip, "host");
        assert_eq!(dut.hello().profile(), Profile::Idf6);
        dut.reset(vec!["CONFIG_FREERTOS_HZ=1000".into()], None, 7).await.unwrap();
        let cfg =
            Config { uri: Some(format!("ws://{addr}/")), buffer_size: 20_000, ..Config::default() };
        assert!(dut.create_client("a", &cfg, &[]).await.unwrap());
        // Certificates too long for one line are staged before the init.
        let big_certs = Config {
            uri: Some(format!("wss://{addr}/")),
            cert_pem: Some(vec![b'A'; 6000]),
            client_cert: Some(vec![b'B'; 3000]),
            client_key: Some(Vec::new()),
            ..Config::default()
        };
        assert!(dut.create_client("certs", &big_certs, &[]).await.unwrap());
        assert_eq!(dut.call("a", ClientCommand::Start).await.unwrap(), 0);
        next_event(&mut dut, EventId::Connected).await;
        // Small: inline both ways.
        let r = dut.call("a", ClientCommand::SendText { data: b"hi".to_vec(), timeout: 1000 });
        assert_eq!(r.await.unwrap(), 2);
        let e = next_event(&mut dut, EventId::Data).await;
        assert_eq!((e.event.data.as_slice(), e.digest.as_deref()), (&b"hi"[..], None));
        // 10 000 bytes: staged in several `data` requests, echoed as one DATA event
        // whose payload comes as its digest.
        let big: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let r = dut.call("a", ClientCommand::SendBin { data: big.clone(), timeout: 1000 });
        assert_eq!(r.await.unwrap(), 10_000);
        let e = next_event(&mut dut, EventId::Data).await;
        assert_eq!(e.event.data_len, 10_000);
        assert!(e.event.data.is_empty());
        assert_eq!(e.digest.as_deref(), Some(super::super::message::sha256_hex(&big).as_str()));
        // A background call is taken at once and completes later.
        let done = dut
            .call_background("a", ClientCommand::SendText { data: b"bg".to_vec(), timeout: 1000 })
            .await
            .unwrap();
        assert_eq!(dut.call("a", ClientCommand::IsConnected).await.unwrap(), 1);
        assert_eq!(done.await.unwrap(), 2);
        // Errors of the request itself are refusals, not return values.
        let err = dut.call("nobody", ClientCommand::Start).await.unwrap_err();
        assert!(matches!(err, DutError::Refused { .. }), "{err}");
        assert_eq!(dut.shutdown().await.unwrap(), 0);
        assert!(dut.failures().is_empty(), "{:?}", dut.failures());
        server.stop();
    }

    /// A scripted agent: what it writes, and whether it keeps its end open.
    async fn scripted(out: &'static [u8]) -> Result<AgentDut, DutError> {
        let (host, mut agent) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            agent.write_all(out).await.unwrap();
            // Keep the agent's end open, reading and ignoring.
            let mut sink = vec![0u8; 4096];
            while agent.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        let (hr, hw) = tokio::io::split(host);
        AgentDut::start("script".into(), hr, Box::new(hw), None, None, 10).await
    }

    fn hello_line(proto: u32) -> String {
        let mut h = agent_opts(64).hello();
        h.proto = proto;
        super::super::message::encode(0, &AgentMsg::Hello(h))
    }

    #[tokio::test]
    async fn a_hello_of_another_version_is_refused_with_both_versions() {
        let line: &'static str = Box::leak(hello_line(2).into_boxed_str());
        let err = scripted(line.as_bytes()).await.err().expect("refused");
        let msg = err.to_string();
        assert!(msg.contains("protocol 2") && msg.contains("speaks 1"), "{msg}");
        let err = scripted(b"boot\n@W2 0 00000000 {}\n").await.err().expect("refused");
        assert!(
            err.to_string().contains("protocol \"2\"") || err.to_string().contains("protocol 2"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn log_lines_and_garbage_before_the_hello_are_kept_and_counted() {
        let mut text =
            String::from("I (12) boot: ESP-IDF v5.5\n@W1 1 deadbeef {\"t\":\"x\"}\n@W1 trunc");
        text.push('\n');
        text.push_str(&hello_line(1));
        let text: &'static str = Box::leak(text.into_boxed_str());
        let dut = scripted(text.as_bytes()).await.unwrap();
        assert_eq!(dut.log(), vec!["I (12) boot: ESP-IDF v5.5".to_string()]);
        let f = dut.failures();
        assert!(f.iter().any(|l| l.contains("2 garbled line(s)")), "{f:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_dut_is_unreachable_within_the_bound() {
        let err = scripted(b"").await.err().expect("no hello");
        assert!(err.to_string().contains("no hello within 10 s"), "{err}");
        let err = scripted(b"rst:0x1 (POWERON_RESET)\n").await.err().expect("no hello");
        assert!(err.to_string().contains("1 log line(s)"), "{err}");
    }

    #[tokio::test]
    async fn a_dut_that_goes_away_fails_every_wait_at_once() {
        let (host, mut agent) = tokio::io::duplex(1 << 16);
        let hello = hello_line(1);
        tokio::spawn(async move {
            agent.write_all(hello.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(agent);
        });
        let (hr, hw) = tokio::io::split(host);
        let dut = AgentDut::start("gone".into(), hr, Box::new(hw), None, None, 10).await.unwrap();
        let t0 = std::time::Instant::now();
        let err = dut.call("a", ClientCommand::Start).await.unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, DutError::Unreachable(_)), "{err}");
        assert!(err.to_string().contains("end of stream"), "{err}");
        assert!(dut.failures().iter().any(|f| f.contains("the DUT was lost")));
    }

    #[tokio::test]
    async fn a_reboot_and_lost_lines_are_failures() {
        let (host, mut agent) = tokio::io::duplex(1 << 16);
        let mut h = agent_opts(64).hello();
        h.chip = "esp32".into();
        let hello0 = super::super::message::encode(0, &AgentMsg::Hello(h.clone()));
        let resp = |seq, id| super::super::message::encode(seq, &AgentMsg::Resp(Resp::ok(id, 0)));
        let (hr, hw) = tokio::io::split(host);
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let script = tokio::spawn(async move {
            agent.write_all(hello0.as_bytes()).await.unwrap();
            let _ = go_rx.await;
            // Line 1 lost: the answer to request 2 comes as line 2; then a boot hello.
            agent.write_all(resp(2, 2).as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            agent.write_all(hello0.as_bytes()).await.unwrap();
            let mut sink = vec![0u8; 4096];
            while agent.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        let dut = AgentDut::start("script".into(), hr, Box::new(hw), None, None, 10).await.unwrap();
        let _ = go_tx.send(());
        // Request 2 (1 was the hello request) is answered, with a gap before it.
        assert_eq!(dut.call("a", ClientCommand::IsConnected).await.unwrap(), 0);
        // The reboot ends every later wait at once.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let err = dut.call("a", ClientCommand::Start).await.unwrap_err();
        assert!(err.to_string().contains("rebooted"), "{err}");
        let f = dut.failures();
        assert!(f.iter().any(|l| l.contains("rebooted")), "{f:?}");
        assert!(f.iter().any(|l| l.contains("1 gap(s)")), "{f:?}");
        script.abort();
    }

    #[test]
    fn dut_specs_parse() {
        assert_eq!(DutSpec::parse("host").unwrap(), DutSpec::Host);
        assert_eq!(DutSpec::parse("exec:wsim agent").unwrap(), DutSpec::Exec("wsim agent".into()));
        assert_eq!(DutSpec::parse("tcp:127.0.0.1:7").unwrap(), DutSpec::Tcp("127.0.0.1:7".into()));
        for bad in
            ["", "exec:", "exec:  ", "tcp:", "tcp:host", "tcp::80", "tcp:h:0", "tcp:h:x", "serial"]
        {
            assert!(DutSpec::parse(bad).is_err(), "{bad}");
        }
        let s = DutSpec::parse("serial:/dev/ttyUSB0@921600,reset").unwrap();
        assert_eq!(s.to_string(), "serial:/dev/ttyUSB0@921600,reset");
        assert!(s.one_at_a_time());
        let r = DutSpec::parse("rfc2217://lab:4000?baud=9600").unwrap();
        assert_eq!(r.to_string(), "rfc2217://lab:4000?baud=9600");
        assert!(r.one_at_a_time());
        assert_eq!((r.kind(), DutSpec::Host.kind()), ("external", "host"));
        for bad in ["serial:", "serial:@9600", "rfc2217://", "rfc2217://lab", "serial:/x,reboot"] {
            assert!(DutSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(DutSpec::Tcp("a:1".into()).one_at_a_time());
        assert!(!DutSpec::Exec("x".into()).one_at_a_time());
    }
}
