//! The world's one random source: seeded, shared, and the only place random draws come
//! from (frame masks, handshake nonces, fault jitter).

use std::sync::{Arc, Mutex};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

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

    /// A random `u64` (for fault draws).
    pub fn u64(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).next_u64()
    }

    /// Sixteen random bytes (a handshake nonce).
    pub fn bytes16(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b
    }
}
