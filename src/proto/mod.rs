//! The one WebSocket wire codec for everything but the client model: a permissive
//! frame-header parser and encoder with typed opcodes, an incremental frame decoder that
//! never allocates by a length the peer only claims, masking, the accept key and the
//! HTTP header-end scan.
//!
//! Permissive means it represents whatever bytes arrive (reserved opcodes, RSV bits,
//! non-minimal lengths, lengths with the top bit set) so servers, the recorder and the
//! frame faults can pass them on or record them; judging them is the caller's business.
//! The client model (`crate::esp`) keeps its own C-faithful parser on purpose.

mod frame;
mod handshake;
mod mask;

pub use frame::{
    Decoded, FrameDecoder, FrameHeader, LengthForm, MAX_HEADER_LEN, Opcode, RawHeader, encode_frame,
};
pub use handshake::{HeaderScan, ScanState, WS_GUID, accept_key, find_header_end};
pub use mask::apply_mask;
