//! The in-memory network: named hosts, listeners by port, connections made of two
//! pipes joined by toxic pumps. Runs on virtual time when the runtime's clock is paused.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::link::{ResetHook, new_ctl, pump};
use super::rng::SharedRng;
use super::toxic::{ActiveToxic, ConnectionFault, Direction};
use crate::transport::{BoxStream, ConnectFailure, ConnectFuture, Connector, codes};

/// Bytes a pipe holds before a writer waits.
const PIPE_CAPACITY: usize = 64 * 1024;

/// One end of a simulated connection.
pub struct SimStream {
    inner: DuplexStream,
    reset: Arc<AtomicBool>,
    reset_on_drop: Arc<AtomicBool>,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream").field("reset", &self.reset.load(Ordering::SeqCst)).finish()
    }
}

fn reset_error() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::ConnectionReset)
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset_error()));
        }
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if r.is_ready() && self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset_error()));
        }
        r
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        if self.reset_on_drop.load(Ordering::SeqCst) {
            self.reset.store(true, Ordering::SeqCst);
        }
    }
}

impl SimStream {
    /// Makes dropping this end reset the connection (RST) instead of closing it.
    pub fn set_reset_on_drop(&self) {
        self.reset_on_drop.store(true, Ordering::SeqCst);
    }
}

/// Accepts simulated connections on one host and port.
#[derive(Debug)]
pub struct SimListener {
    addr: std::net::SocketAddr,
    rx: mpsc::UnboundedReceiver<SimStream>,
}

impl SimListener {
    /// The next connection (`None` once the network is gone).
    pub async fn accept(&mut self) -> Option<SimStream> {
        self.rx.recv().await
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

struct Port {
    tx: mpsc::UnboundedSender<SimStream>,
    toxics: watch::Sender<Vec<ActiveToxic>>,
    faults: ConnectionFault,
    attempts: usize,
}

/// The simulated network of one world.
#[derive(Clone)]
pub struct SimNet {
    ports: Arc<Mutex<BTreeMap<u16, Port>>>,
    rng: SharedRng,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNet").finish_non_exhaustive()
    }
}

/// The address every simulated server has (on its own port).
pub const SIM_HOST: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;

impl SimNet {
    /// An empty network drawing from `rng`.
    pub fn new(rng: SharedRng) -> Self {
        SimNet { ports: Arc::default(), rng }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u16, Port>> {
        self.ports.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Listens on `port` of the simulated host; returns the listener and the handle on
    /// its links' toxics.
    pub fn listen(&self, port: u16) -> (SimListener, watch::Sender<Vec<ActiveToxic>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let toxics = watch::Sender::new(Vec::new());
        self.lock().insert(
            port,
            Port { tx, toxics: toxics.clone(), faults: ConnectionFault::default(), attempts: 0 },
        );
        (SimListener { addr: (SIM_HOST, port).into(), rx }, toxics)
    }

    /// Sets the connection faults of a port.
    pub fn set_connection_fault(&self, port: u16, fault: ConnectionFault) {
        if let Some(p) = self.lock().get_mut(&port) {
            p.faults = fault;
        }
    }

    /// Resolves a host name: the loopback names and literals are the simulated host;
    /// anything else does not exist.
    fn resolve(host: &str) -> bool {
        matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
    }

    async fn connect_port(&self, host: &str, port: u16) -> Result<BoxStream, ConnectFailure> {
        if !Self::resolve(host) {
            return Err(ConnectFailure::Dns(host.to_string()));
        }
        let (tx, toxics, blackhole) = {
            let mut ports = self.lock();
            let Some(p) = ports.get_mut(&port) else {
                return Err(ConnectFailure::Refused(codes::ECONNREFUSED));
            };
            p.attempts += 1;
            if p.faults.refuse.contains(&p.attempts) {
                return Err(ConnectFailure::Refused(codes::ECONNREFUSED));
            }
            (p.tx.clone(), p.toxics.subscribe(), p.faults.blackhole)
        };
        if blackhole {
            std::future::pending::<()>().await;
        }
        let (client_end, a) = tokio::io::duplex(PIPE_CAPACITY);
        let (b, server_end) = tokio::io::duplex(PIPE_CAPACITY);
        // One flag for the connection: a reset is seen by both ends.
        let reset = Arc::new(AtomicBool::new(false));
        let client =
            SimStream { inner: client_end, reset: reset.clone(), reset_on_drop: Arc::default() };
        let server =
            SimStream { inner: server_end, reset: reset.clone(), reset_on_drop: Arc::default() };
        let ctl = new_ctl();
        let on_reset: ResetHook = Arc::new(move || reset.store(true, Ordering::SeqCst));
        let (a_rd, a_wr) = tokio::io::split(a);
        let (b_rd, b_wr) = tokio::io::split(b);
        let now = Instant::now();
        tokio::spawn(pump(
            a_rd,
            b_wr,
            Direction::Upstream,
            toxics.clone(),
            ctl.clone(),
            self.rng.clone(),
            on_reset.clone(),
            now,
        ));
        tokio::spawn(pump(
            b_rd,
            a_wr,
            Direction::Downstream,
            toxics,
            ctl,
            self.rng.clone(),
            on_reset,
            now,
        ));
        tx.send(server).map_err(|_| ConnectFailure::Refused(codes::ECONNREFUSED))?;
        Ok(Box::new(client))
    }
}

impl Connector for SimNet {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(self.connect_port(host, port))
    }
}
