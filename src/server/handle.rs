//! A running server: a loopback listener (or an address the user names), optional TLS,
//! echo or scripted connections, the record of its connections within limits, time
//! limits on idle connections, and the panics of its tasks kept for the runner.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::echo::{EchoLimits, SubprotocolPolicy, serve_echo};
use super::io::{Observe, ServerIo, Tap};
use super::record::{RecordLimits, Recorder};
use super::script::{ConnAction, ScriptBehaviour, serve_script};
use super::wire::ConnectionLog;
use crate::net::{ACCEPT_BACKOFF, SimListener};

/// What kind of server to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerKind {
    /// The echo server with a subprotocol policy.
    Echo(SubprotocolPolicy),
    /// The scripted server.
    Script(ScriptBehaviour),
}

/// Why a server could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// An action needs a connection and there is none.
    #[error("server {0:?} has no open connection to act on")]
    NoConnection(String),
    /// Actions apply to scripted servers only.
    #[error("server {0:?} is an echo server; only scripted servers take actions")]
    NotScripted(String),
}

/// How a server treats its connections: what it records, and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// What the recorder may keep over all connections.
    pub record: RecordLimits,
    /// A connection with no byte in or out for this long is closed (`None`: never).
    /// This also ends half-open connections, whose peer is gone without a FIN.
    pub idle_timeout: Option<Duration>,
    /// The time limit of the TLS and WebSocket handshakes of the echo server.
    pub handshake_timeout: Duration,
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// The echo server's message and frame size limits (`None`: tungstenite's own).
    pub echo: Option<EchoLimits>,
}

impl ServerOptions {
    /// For scenario servers: a full (capped) record, no idle limit (a scenario may keep
    /// a connection quiet on purpose), the handshake limit of the scripted server.
    pub fn scenario() -> Self {
        ServerOptions {
            record: RecordLimits::SCENARIO,
            idle_timeout: None,
            handshake_timeout: Duration::from_secs(30),
            max_connections: usize::MAX,
            echo: None,
        }
    }

    /// For `wsim serve`: no record at all, idle connections closed after `idle`, the
    /// handshake within `handshake`, at most `max_connections` at once.
    pub fn long_running(idle: Duration, handshake: Duration, max_connections: usize) -> Self {
        ServerOptions {
            record: RecordLimits::NONE,
            idle_timeout: Some(idle),
            handshake_timeout: handshake,
            max_connections,
            echo: Some(EchoLimits::default()),
        }
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions::scenario()
    }
}

/// The first panic of a server's tasks, kept so it cannot vanish.
#[derive(Debug, Clone, Default)]
struct Failure(Arc<Mutex<Option<String>>>);

impl Failure {
    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `fut`; a panic in it is recorded (the first one wins) instead of lost.
    async fn guard(self, what: String, fut: impl std::future::Future<Output = ()>) {
        if let Err(p) = AssertUnwindSafe(fut).catch_unwind().await {
            let msg = crate::text::panic_message(p.as_ref());
            let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(format!("{what} panicked: {msg}"));
        }
    }
}

/// Counts a server's open connections; a connection's guard lives as long as its task.
#[derive(Debug, Clone, Default)]
struct OpenCount(Arc<AtomicUsize>);

struct OpenGuard(Arc<AtomicUsize>);

impl OpenCount {
    fn enter(&self) -> OpenGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        OpenGuard(self.0.clone())
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running server.
pub struct ServerHandle {
    name: String,
    addr: SocketAddr,
    tls: bool,
    recorder: Recorder,
    current: Arc<Mutex<Option<mpsc::UnboundedSender<ConnAction>>>>,
    scripted: bool,
    failure: Failure,
    open: OpenCount,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("name", &self.name).field("addr", &self.addr).finish()
    }
}

impl ServerHandle {
    /// Binds `bind` and starts serving.
    pub async fn start(
        name: &str,
        bind: SocketAddr,
        kind: ServerKind,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<ServerHandle, ServerError> {
        Self::start_with(name, bind, kind, tls, ServerOptions::scenario()).await
    }

    /// Binds `bind` and starts serving with `options`.
    pub async fn start_with(
        name: &str,
        bind: SocketAddr,
        kind: ServerKind,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: ServerOptions,
    ) -> Result<ServerHandle, ServerError> {
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| ServerError::Bind { addr: bind, source })?;
        let addr =
            listener.local_addr().map_err(|source| ServerError::Bind { addr: bind, source })?;
        Ok(Self::spawn(name, addr, Accepting::Tcp(listener), kind, tls, options))
    }

    /// Starts serving on a listener that is already bound.
    pub fn serve(
        name: &str,
        listener: TcpListener,
        kind: ServerKind,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<ServerHandle, ServerError> {
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let addr =
            listener.local_addr().map_err(|source| ServerError::Bind { addr: bind, source })?;
        Ok(Self::spawn(name, addr, Accepting::Tcp(listener), kind, tls, ServerOptions::scenario()))
    }

    /// Starts serving on a listener of the simulated network.
    pub fn serve_sim(
        name: &str,
        listener: SimListener,
        kind: ServerKind,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ServerHandle {
        let addr = listener.local_addr();
        Self::spawn(name, addr, Accepting::Sim(listener), kind, tls, ServerOptions::scenario())
    }

    fn spawn(
        name: &str,
        addr: SocketAddr,
        mut accepting: Accepting,
        kind: ServerKind,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: ServerOptions,
    ) -> ServerHandle {
        let recorder = Recorder::with_limits(options.record);
        let current: Arc<Mutex<Option<mpsc::UnboundedSender<ConnAction>>>> = Arc::default();
        let scripted = matches!(kind, ServerKind::Script(_));
        let mut tasks = JoinSet::new();
        let is_tls = tls.is_some();
        let (failure, open) = (Failure::default(), OpenCount::default());
        let (rec, cur, fail, count) =
            (recorder.clone(), current.clone(), failure.clone(), open.clone());
        let server = name.to_string();
        let accept_loop = async move {
            let mut conns = JoinSet::new();
            let mut index = 0usize;
            let mut failing = false;
            loop {
                let accepted = tokio::select! {
                    // Fixed order: no draw from tokio's RNG in the simulated world.
                    biased;
                    // Finished connections are reaped at once: nothing of them stays.
                    Some(_) = conns.join_next(), if !conns.is_empty() => continue,
                    a = accepting.accept() => a,
                };
                let stream = match accepted {
                    Accepted::Closed => return,
                    Accepted::Failed(e) => {
                        // Out of descriptors (EMFILE/ENFILE) or a transient error: the
                        // listener stays ready, so retrying at once would spin.
                        if !failing {
                            eprintln!(
                                "wsim: server {server}: accept failed ({e}); retrying every {} ms",
                                ACCEPT_BACKOFF.as_millis()
                            );
                            failing = true;
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                    Accepted::Stream(s) => s,
                };
                failing = false;
                if count.get() >= options.max_connections {
                    drop(stream);
                    continue;
                }
                let ctx = ConnContext {
                    rec: rec.clone(),
                    kind: kind.clone(),
                    tls: tls.clone(),
                    index,
                    options: options.clone(),
                };
                let (tx, rx) = mpsc::unbounded_channel();
                // Actions go to the newest connection, from the moment it is accepted.
                if scripted {
                    *cur.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
                }
                let guard = count.enter();
                let what = format!("server {server:?}, connection {index}");
                let conn = async move {
                    let _open = guard;
                    match stream {
                        AcceptedStream::Tcp(s) => ctx.run(s, rx).await,
                        AcceptedStream::Sim(s) => ctx.run(s, rx).await,
                    }
                };
                conns.spawn(fail.clone().guard(what, conn));
                index += 1;
            }
        };
        let what = format!("server {name:?}, accept loop");
        tasks.spawn(failure.clone().guard(what, accept_loop));
        ServerHandle {
            name: name.to_string(),
            addr,
            tls: is_tls,
            recorder,
            current,
            scripted,
            failure,
            open,
            tasks,
        }
    }

    /// The first panic in one of the server's tasks (a connection or the accept loop),
    /// naming where and why; `None` while none panicked. A panic is a server failure,
    /// never a pass nor the DUT's fault.
    pub fn failure(&self) -> Option<String> {
        self.failure.get()
    }

    /// Connections being served right now.
    pub fn open_connections(&self) -> usize {
        self.open.get()
    }

    /// Connections served but not recorded (over the recorder's connection limit, or
    /// every connection of a server that records nothing).
    pub fn unrecorded_connections(&self) -> u64 {
        self.recorder.dropped_connections()
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The `ws://` or `wss://` URL prefix of the server (`scheme://host:port`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}", self.addr)
    }

    /// The record of every connection so far.
    pub fn connections(&self) -> Vec<ConnectionLog> {
        self.recorder.snapshot()
    }

    /// Waits (at most `limit`) until `pred` holds for the connections; returns whether it did.
    pub async fn wait_until(
        &self,
        limit: Duration,
        pred: impl Fn(&[ConnectionLog]) -> bool,
    ) -> bool {
        let mut rx = self.recorder.subscribe();
        let check = async {
            loop {
                if self.recorder.with_logs(&pred) {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(limit, check).await.is_ok()
    }

    /// Sends an action to the newest connection of a scripted server.
    pub fn act(&self, action: ConnAction) -> Result<(), ServerError> {
        if !self.scripted {
            return Err(ServerError::NotScripted(self.name.clone()));
        }
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        match cur.as_ref() {
            Some(tx) if tx.send(action).is_ok() => Ok(()),
            _ => Err(ServerError::NoConnection(self.name.clone())),
        }
    }

    /// Stops the server and drops its connections.
    pub fn stop(&mut self) {
        self.tasks.abort_all();
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

/// Where a server's connections come from.
enum Accepting {
    Tcp(TcpListener),
    Sim(SimListener),
}

/// What one `accept` gave.
enum Accepted {
    Stream(AcceptedStream),
    Failed(std::io::Error),
    Closed,
}

enum AcceptedStream {
    Tcp(tokio::net::TcpStream),
    Sim(crate::net::SimStream),
}

impl Accepting {
    async fn accept(&mut self) -> Accepted {
        match self {
            Accepting::Tcp(l) => match l.accept().await {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    Accepted::Stream(AcceptedStream::Tcp(tcp))
                }
                Err(e) => Accepted::Failed(e),
            },
            Accepting::Sim(l) => match l.accept().await {
                Some(s) => Accepted::Stream(AcceptedStream::Sim(s)),
                None => Accepted::Closed,
            },
        }
    }
}

/// What one connection needs.
struct ConnContext {
    rec: Recorder,
    kind: ServerKind,
    tls: Option<Arc<rustls::ServerConfig>>,
    index: usize,
    options: ServerOptions,
}

impl ConnContext {
    async fn run<S: ServerIo>(self, stream: S, rx: mpsc::UnboundedReceiver<ConnAction>) {
        let activity = Activity::new();
        let stream = Tap::new(stream, activity.clone());
        let serving = async {
            match self.tls {
                None => {
                    serve(self.rec.wrap(stream), self.kind, self.index, rx, &self.options).await
                }
                Some(cfg) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                    let limit = self.options.handshake_timeout;
                    if let Ok(Ok(s)) = tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        serve(self.rec.wrap(s), self.kind, self.index, rx, &self.options).await;
                    }
                }
            }
        };
        match self.options.idle_timeout {
            None => serving.await,
            Some(idle) => {
                tokio::select! {
                    biased;
                    _ = serving => {}
                    _ = activity.idle_for(idle) => {}
                }
            }
        }
    }
}

async fn serve<S: ServerIo>(
    stream: super::record::Recorded<S>,
    kind: ServerKind,
    index: usize,
    rx: mpsc::UnboundedReceiver<ConnAction>,
    options: &ServerOptions,
) {
    match kind {
        ServerKind::Echo(policy) => {
            serve_echo(stream, policy, options.handshake_timeout, options.echo).await
        }
        ServerKind::Script(b) => serve_script(stream, b, index, rx).await,
    }
}

/// When a connection last moved a byte, in milliseconds from its start.
#[derive(Debug, Clone)]
struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Activity { start: Instant::now(), last_ms: Arc::default() }
    }

    fn touch(&self) {
        self.last_ms.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Returns once no byte has moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let due = last + idle;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

impl Observe for Activity {
    fn read(&mut self, _: &[u8]) {
        self.touch();
    }

    fn read_ended(&mut self) {}

    fn wrote(&mut self, _: &[u8]) {
        self.touch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_recorded_with_its_cause() {
        let failure = Failure::default();
        failure.clone().guard("connection 3".into(), async {}).await;
        assert_eq!(failure.get(), None);
        let boom = async { panic!("frame length overflow") };
        failure.clone().guard("connection 4".into(), boom).await;
        let code = 7;
        let again = async move { panic!("second {code}") };
        failure.clone().guard("connection 5".into(), again).await;
        assert_eq!(
            failure.get().as_deref(),
            Some("connection 4 panicked: frame length overflow"),
            "the first panic wins"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn activity_pushes_the_idle_deadline() {
        let a = Activity::new();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        a.touch();
        a.idle_for(Duration::from_secs(5)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(8));
    }

    #[test]
    fn open_count_follows_guards() {
        let c = OpenCount::default();
        let (g1, g2) = (c.enter(), c.enter());
        assert_eq!(c.get(), 2);
        drop((g1, g2));
        assert_eq!(c.get(), 0);
    }
}
