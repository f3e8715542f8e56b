//! The real-world TCP proxy: sits between a client and a server on loopback and passes
//! the bytes through the same toxic pumps as the simulated network.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::link::{ResetHook, new_ctl, pump};
use super::rng::SharedRng;
use super::toxic::{ActiveToxic, ConnectionFault, Direction};

/// How long an accept loop waits after a failed `accept` (descriptors exhausted, or
/// another error) before it tries again, instead of spinning on a ready listener.
pub const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// A running proxy in front of one server.
pub struct Proxy {
    addr: SocketAddr,
    toxics: watch::Sender<Vec<ActiveToxic>>,
    faults: Arc<Mutex<ConnectionFault>>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, rng: SharedRng) -> std::io::Result<Proxy> {
        Proxy::start_on(std::net::Ipv4Addr::LOCALHOST.into(), upstream, rng).await
    }

    /// Listens on a free port of `bind` (`wsim run --bind`) and forwards to `upstream`.
    pub async fn start_on(
        bind: std::net::IpAddr,
        upstream: SocketAddr,
        rng: SharedRng,
    ) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind((bind, 0)).await?;
        let addr = listener.local_addr()?;
        let toxics = watch::Sender::new(Vec::new());
        let faults: Arc<Mutex<ConnectionFault>> = Arc::default();
        let mut tasks = JoinSet::new();
        let (tox, f) = (toxics.clone(), faults.clone());
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            let mut attempts = 0usize;
            loop {
                let client = match listener.accept().await {
                    Ok((client, _)) => client,
                    Err(_) => {
                        // Out of descriptors (EMFILE/ENFILE) or a transient error: the
                        // listener stays ready, so retrying at once would spin.
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                attempts += 1;
                let fault = f.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if fault.refuse.contains(&attempts) || fault.blackhole {
                    // A real listener cannot refuse once it accepted: reset instead.
                    let _ = client.set_zero_linger();
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream).await else {
                    let _ = client.set_zero_linger();
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (toxics, rng) = (tox.subscribe(), rng.clone());
                conns.spawn(async move { relay(client, server, toxics, rng).await });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Proxy { addr, toxics, faults, tasks })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The handle on the toxics of every connection through the proxy.
    pub fn toxics(&self) -> &watch::Sender<Vec<ActiveToxic>> {
        &self.toxics
    }

    /// Sets the connection faults.
    pub fn set_connection_fault(&self, fault: ConnectionFault) {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    toxics: watch::Receiver<Vec<ActiveToxic>>,
    rng: SharedRng,
) {
    // Second handles on both sockets, for the reset hook: with SO_LINGER 0 the final
    // close (when both pumps have let go of their halves) sends RST.
    let Some((client, c_handle)) = with_handle(client) else { return };
    let Some((server, s_handle)) = with_handle(server) else { return };
    let on_reset: ResetHook = Arc::new(move || {
        for h in [&c_handle, &s_handle] {
            let _ = socket2::SockRef::from(h).set_linger(Some(std::time::Duration::ZERO));
        }
    });
    let (c_rd, c_wr) = client.into_split();
    let (s_rd, s_wr) = server.into_split();
    let ctl = new_ctl();
    let now = Instant::now();
    let up = pump(
        c_rd,
        s_wr,
        Direction::Upstream,
        toxics.clone(),
        ctl.clone(),
        rng.clone(),
        on_reset.clone(),
        now,
    );
    let down = pump(s_rd, c_wr, Direction::Downstream, toxics, ctl, rng, on_reset, now);
    tokio::join!(up, down);
}

/// The stream back, plus a second handle on the same socket.
fn with_handle(s: TcpStream) -> Option<(TcpStream, std::net::TcpStream)> {
    let std = s.into_std().ok()?;
    let handle = std.try_clone().ok()?;
    Some((TcpStream::from_std(std).ok()?, handle))
}
