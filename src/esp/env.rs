//! What a client runs in: how it opens byte streams and where its random bytes come
//! from. The real world uses OS sockets; a simulated world supplies its own connector
//! and a seeded generator, so that runs repeat exactly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::sdkconfig::Sdkconfig;
pub use crate::net::SharedRng;
use crate::transport::{Connector, TcpConnector};

/// The world a client lives in.
#[derive(Clone)]
pub struct Env {
    /// Opens the client's byte streams.
    pub connector: Arc<dyn Connector>,
    /// The random source.
    pub rng: SharedRng,
    /// The build options the firmware was built with.
    pub sdkconfig: Sdkconfig,
    next_id: Arc<AtomicU32>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

impl Env {
    /// Real TCP sockets and a generator seeded from the operating system.
    pub fn real() -> Self {
        let mut seed = [0u8; 8];
        // Without OS entropy the masks still work; they are only less random.
        let _ = getrandom::getrandom(&mut seed);
        Env::real_seeded(u64::from_le_bytes(seed))
    }

    /// Real TCP sockets with a fixed seed for masks and keys.
    pub fn real_seeded(seed: u64) -> Self {
        Env::new(Arc::new(TcpConnector), seed)
    }

    /// The next client id in this world (1, 2, …).
    pub fn next_client_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// A custom connector drawing from a shared generator.
    pub fn with_rng(connector: Arc<dyn Connector>, rng: SharedRng) -> Self {
        Env {
            connector,
            rng,
            sdkconfig: Sdkconfig::default(),
            next_id: Arc::new(AtomicU32::new(1)),
        }
    }

    /// A custom connector with a fixed seed.
    pub fn new(connector: Arc<dyn Connector>, seed: u64) -> Self {
        Env::with_rng(connector, SharedRng::seeded(seed))
    }

    /// The same world, built with `sdkconfig`.
    pub fn with_sdkconfig(mut self, sdkconfig: Sdkconfig) -> Self {
        self.sdkconfig = sdkconfig;
        self
    }
}
