//! IDF-version profiles: the behaviours that differ between ESP-IDF releases (spec §5.6).

use serde::{Deserialize, Serialize};

/// Which ESP-IDF `tcp_transport` the model behaves like.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum Profile {
    /// IDF ≥ 6.0.2 / master: frame validation, whole control payloads, the header walk
    /// with `HEADER_RECEIVED`, the prefix accept check, oversized-length rejection.
    #[default]
    #[serde(rename = "idf6")]
    Idf6,
    /// IDF ≤ 5.5.4: no frame validation, chunked control payloads, `strcasestr` header
    /// look-up with an exact accept check, no `HEADER_RECEIVED`.
    #[serde(rename = "idf5.5")]
    Idf55,
}

impl Profile {
    /// Every profile, newest first.
    pub const ALL: [Profile; 2] = [Profile::Idf6, Profile::Idf55];

    /// The profile's name as the CLI and scenario files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Idf6 => "idf6",
            Profile::Idf55 => "idf5.5",
        }
    }

    /// Parses a profile name.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Protocol violations (RSV bits, reserved opcodes, fragmented or oversized control
    /// frames, 64-bit lengths of 2^31 and more) fail the read.
    pub fn validates_frames(self) -> bool {
        self == Profile::Idf6
    }

    /// Control-frame payloads are read whole rather than in `buffer_size` chunks.
    pub fn reads_control_whole(self) -> bool {
        self == Profile::Idf6
    }

    /// `ws_poll_read` reports the handshake leftover (bytes that came with the 101) as
    /// readable; IDF 5.5 polls only the socket, so such a frame waits for more bytes.
    pub fn polls_leftover(self) -> bool {
        self == Profile::Idf6
    }

    /// `ws_read_header` polls the socket before reading a header, so a header still in
    /// the handshake leftover waits for socket bytes (IDF 5.5).
    pub fn polls_socket_before_header(self) -> bool {
        self == Profile::Idf55
    }

    /// A payload read that times out ends the frame: one empty chunk, and what comes
    /// later is read as a new header (IDF 5.5).
    pub fn forgets_frame_after_payload_timeout(self) -> bool {
        self == Profile::Idf55
    }

    /// The handshake fails when its read fills the buffer (`>= WS_BUFFER_SIZE - 1`),
    /// even with the blank line inside (IDF 5.5; master checks `>`).
    pub fn rejects_full_handshake_read(self) -> bool {
        self == Profile::Idf55
    }

    /// Response headers are walked line by line, raising `HEADER_RECEIVED`, with the
    /// prefix (`strncmp`) accept check.
    pub fn walks_headers(self) -> bool {
        self == Profile::Idf6
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
