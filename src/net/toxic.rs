//! Faults on byte streams, with toxiproxy's names and semantics, plus WebSocket-aware
//! faults on frames. Policy only: the link (`link.rs`) applies them.

use serde::{Deserialize, Serialize};

/// Which way a toxic acts, in toxiproxy's terms.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the server to the client (what the client receives).
    #[default]
    Downstream,
    /// From the client to the server (what the client sends).
    Upstream,
}

/// One toxic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Toxic {
    /// Delays every chunk by `latency_ms` ± `jitter_ms` (drawn from the world's RNG).
    Latency {
        /// The delay.
        latency_ms: u64,
        /// The spread around it.
        #[serde(default)]
        jitter_ms: u64,
    },
    /// Limits the rate to `rate_kbps` kilobytes per second.
    Bandwidth {
        /// KB/s (1 KB = 1000 bytes, as toxiproxy).
        rate_kbps: u64,
    },
    /// Splits data into pieces of `average_size` ± `size_variation` bytes, `delay_us`
    /// apart.
    Slicer {
        /// Mean piece size.
        average_size: usize,
        /// Spread of the piece size.
        #[serde(default)]
        size_variation: usize,
        /// Pause between pieces in microseconds.
        #[serde(default)]
        delay_us: u64,
    },
    /// Closes the connection once `bytes` bytes have passed in this direction.
    LimitData {
        /// The limit.
        bytes: u64,
    },
    /// Resets the connection (RST) `timeout_ms` after the toxic applies.
    ResetPeer {
        /// The delay (0: at once).
        #[serde(default)]
        timeout_ms: u64,
    },
    /// Stops all data; closes the connection after `timeout_ms` (0: never, a black hole).
    Timeout {
        /// The delay before the close (0: never).
        #[serde(default)]
        timeout_ms: u64,
    },
    /// Delays the close (FIN) by `delay_ms`.
    SlowClose {
        /// The delay.
        delay_ms: u64,
    },
    /// The link is down: data waits until the toxic is removed.
    Down,
    /// WebSocket-aware faults on the frames of this direction (after the handshake).
    Frames(FrameFault),
}

/// WebSocket-aware faults, counted in frames (0-based) after the HTTP handshake.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrameFault {
    /// Frames (by index) that are not delivered.
    #[serde(default)]
    pub suppress: Vec<usize>,
    /// Every frame is held this long.
    #[serde(default)]
    pub delay_ms: u64,
    /// Raw bytes (a frame) delivered after frame `after`.
    #[serde(default)]
    pub inject: Option<Injection>,
    /// After frame `after`, a CLOSE with `code` is delivered and the connection closed.
    #[serde(default)]
    pub close: Option<CloseInjection>,
    /// The connection is closed (FIN) once this many frames have passed.
    #[serde(default)]
    pub drop_after: Option<usize>,
    /// Frame `frame` stops after `bytes` of its bytes; the rest never comes.
    #[serde(default)]
    pub stall: Option<Stall>,
}

/// Bytes injected after a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Injection {
    /// After which frame (0-based).
    pub after: usize,
    /// The bytes, in hex.
    pub hex: String,
}

/// A CLOSE injected after a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseInjection {
    /// After which frame (0-based).
    pub after: usize,
    /// The close code.
    pub code: u16,
}

/// A frame that stalls part-way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stall {
    /// Which frame (0-based).
    pub frame: usize,
    /// How many of its bytes get through.
    pub bytes: usize,
}

/// Faults on whole connections to a server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFault {
    /// Refuse these connection attempts (1-based: 2 refuses the second).
    #[serde(default)]
    pub refuse: Vec<usize>,
    /// Connection attempts never complete (the client's connect times out).
    #[serde(default)]
    pub blackhole: bool,
}

/// A toxic placed on a server's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToxic {
    /// Its name (for removal).
    pub name: String,
    /// Its direction.
    pub direction: Direction,
    /// What it does.
    pub toxic: Toxic,
}
