//! A running server: a loopback listener (or an address the user names), optional TLS,
//! echo or scripted connections, and the record of every connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::echo::{SubprotocolPolicy, serve_echo};
use super::io::ServerIo;
use super::record::Recorder;
use super::script::{ConnAction, ScriptBehaviour, serve_script};
use super::wire::ConnectionLog;
use crate::net::SimListener;

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

/// A running server.
pub struct ServerHandle {
    name: String,
    addr: SocketAddr,
    tls: bool,
    recorder: Recorder,
    current: Arc<Mutex<Option<mpsc::UnboundedSender<ConnAction>>>>,
    scripted: bool,
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
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| ServerError::Bind { addr: bind, source })?;
        Self::serve(name, listener, kind, tls)
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
        Ok(Self::spawn(name, addr, Accepting::Tcp(listener), kind, tls))
    }

    /// Starts serving on a listener of the simulated network.
    pub fn serve_sim(
        name: &str,
        listener: SimListener,
        kind: ServerKind,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ServerHandle {
        let addr = listener.local_addr();
        Self::spawn(name, addr, Accepting::Sim(listener), kind, tls)
    }

    fn spawn(
        name: &str,
        addr: SocketAddr,
        mut accepting: Accepting,
        kind: ServerKind,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ServerHandle {
        let recorder = Recorder::new();
        let current: Arc<Mutex<Option<mpsc::UnboundedSender<ConnAction>>>> = Arc::default();
        let scripted = matches!(kind, ServerKind::Script(_));
        let mut tasks = JoinSet::new();
        let is_tls = tls.is_some();
        let (rec, cur) = (recorder.clone(), current.clone());
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            let mut index = 0usize;
            loop {
                let ctx =
                    ConnContext { rec: rec.clone(), kind: kind.clone(), tls: tls.clone(), index };
                let (tx, rx) = mpsc::unbounded_channel();
                // Actions go to the newest connection, from the moment it is accepted.
                let make_current = || {
                    if scripted {
                        *cur.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
                    }
                };
                match &mut accepting {
                    Accepting::Tcp(l) => {
                        let Ok((tcp, _)) = l.accept().await else { continue };
                        let _ = tcp.set_nodelay(true);
                        make_current();
                        conns.spawn(ctx.run(tcp, rx));
                    }
                    Accepting::Sim(l) => {
                        let Some(s) = l.accept().await else { return };
                        make_current();
                        conns.spawn(ctx.run(s, rx));
                    }
                }
                index += 1;
                while conns.try_join_next().is_some() {}
            }
        });
        ServerHandle {
            name: name.to_string(),
            addr,
            tls: is_tls,
            recorder,
            current,
            scripted,
            tasks,
        }
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
                if pred(&self.recorder.snapshot()) {
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

/// What one connection needs.
struct ConnContext {
    rec: Recorder,
    kind: ServerKind,
    tls: Option<Arc<rustls::ServerConfig>>,
    index: usize,
}

impl ConnContext {
    async fn run<S: ServerIo>(self, stream: S, rx: mpsc::UnboundedReceiver<ConnAction>) {
        match self.tls {
            None => serve(self.rec.wrap(stream), self.kind, self.index, rx).await,
            Some(cfg) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                if let Ok(Ok(s)) =
                    tokio::time::timeout(Duration::from_secs(30), acceptor.accept(stream)).await
                {
                    serve(self.rec.wrap(s), self.kind, self.index, rx).await;
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
) {
    match kind {
        ServerKind::Echo(policy) => serve_echo(stream, policy).await,
        ServerKind::Script(b) => serve_script(stream, b, index, rx).await,
    }
}
