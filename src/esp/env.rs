//! What a client runs in: how it opens byte streams and where its random bytes come
//! from. The real world uses OS sockets; a simulated world supplies its own connector
//! and a seeded generator, so that runs repeat exactly.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::transport::{Connector, TcpConnector};

/// A seeded random generator shared by the clients of one world (for masks and
/// `Sec-WebSocket-Key` nonces, the device's `getrandom`).
#[derive(Debug, Clone)]
pub struct SharedRng(Arc<Mutex<ChaCha20Rng>>);

impl SharedRng {
    /// A generator seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        SharedRng(Arc::new(Mutex::new(ChaCha20Rng::seed_from_u64(seed))))
    }

    fn fill(&self, out: &mut [u8]) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).fill_bytes(out);
    }

    /// Four random bytes (a frame mask).
    pub fn bytes4(&self) -> [u8; 4] {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        b
    }

    /// Sixteen random bytes (a handshake nonce).
    pub fn bytes16(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b
    }
}

/// The world a client lives in.
#[derive(Clone)]
pub struct Env {
    /// Opens the client's byte streams.
    pub connector: Arc<dyn Connector>,
    /// The random source.
    pub rng: SharedRng,
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

    /// A custom connector with a fixed seed.
    pub fn new(connector: Arc<dyn Connector>, seed: u64) -> Self {
        Env { connector, rng: SharedRng::seeded(seed), next_id: Arc::new(AtomicU32::new(1)) }
    }
}
