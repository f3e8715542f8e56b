//! Server-side framing (unmasked frames out, masked client frames in) and the record of
//! what crossed the wire.

use serde::Serialize;

use crate::proto::{Decoded, FrameDecoder, FrameHeader, apply_mask, encode_frame};

/// An unmasked frame header with `b0` (FIN, RSV, opcode) claiming `len` payload bytes,
/// in the shortest length form. A thin wrapper over [`crate::proto`].
pub fn frame_header(b0: u8, len: u64) -> Vec<u8> {
    FrameHeader::from_b0(b0, len).encode().to_vec()
}

/// An unmasked server frame with `b0` (FIN, RSV, opcode) and `payload`. A thin wrapper
/// over [`crate::proto::encode_frame`].
pub fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    encode_frame(&FrameHeader::from_b0(b0, payload.len() as u64), payload)
}

/// A frame as it crossed the wire (the client's unmasked; the server's as sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientFrame {
    /// FIN bit.
    pub fin: bool,
    /// RSV bits (`b0 & 0x70`).
    pub rsv: u8,
    /// Opcode.
    pub opcode: u8,
    /// Whether the mask bit was set.
    pub masked: bool,
    /// The unmasked payload, or its first part when `truncated`.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// Payload length (as the header claimed it; the frame is recorded once that many
    /// bytes arrived).
    pub len: usize,
    /// The recorder kept only the first `payload.len()` bytes of the payload (its
    /// memory cap was reached).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// Collects whole frames from one direction of a stream as bytes arrive, keeping at most
/// as many payload bytes as its caller's budget allows: memory follows what is kept,
/// never what a header claims.
#[derive(Debug, Default)]
pub struct FrameCollector {
    decoder: FrameDecoder,
    current: Option<(FrameHeader, ClientFrame)>,
}

impl FrameCollector {
    /// A collector at the start of a frame.
    pub fn new() -> Self {
        FrameCollector::default()
    }

    /// Feeds `bytes`; pushes each frame completed by them onto `out`. `budget` is how
    /// many more payload bytes may be kept, and shrinks by what is kept.
    pub fn feed(&mut self, bytes: &[u8], budget: &mut usize, out: &mut Vec<ClientFrame>) {
        self.decoder.feed(bytes, |ev| match ev {
            Decoded::Header { header, .. } => {
                let frame = ClientFrame {
                    fin: header.fin,
                    rsv: header.b0() & 0x70,
                    opcode: header.opcode.as_u8(),
                    masked: header.mask.is_some(),
                    payload: Vec::new(),
                    len: usize::try_from(header.len).unwrap_or(usize::MAX),
                    truncated: false,
                };
                self.current = Some((header, frame));
            }
            Decoded::Payload { bytes, offset } => {
                let Some((h, f)) = &mut self.current else { return };
                // Only a prefix is kept: once a piece is cut, nothing after it is.
                let keep = if f.truncated { 0 } else { bytes.len().min(*budget) };
                if keep < bytes.len() {
                    f.truncated = true;
                }
                if keep > 0 {
                    let at = f.payload.len();
                    f.payload.extend_from_slice(&bytes[..keep]);
                    if let Some(m) = h.mask {
                        apply_mask(m, offset, &mut f.payload[at..]);
                    }
                    *budget -= keep;
                }
            }
            Decoded::End => {
                if let Some((_, f)) = self.current.take() {
                    out.push(f);
                }
            }
        });
    }
}

/// Which way bytes went, seen from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the client to the server.
    Rx,
    /// From the server to the client.
    Tx,
}

/// One entry of a connection's wire log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WireEntry {
    /// Milliseconds since the server started.
    pub t_ms: u64,
    /// Direction.
    pub dir: Direction,
    /// Byte count.
    pub len: usize,
    /// The first 64 bytes in hex (`…` appended when longer).
    pub hex: String,
}

impl WireEntry {
    /// An entry for `bytes`.
    pub fn new(t_ms: u64, dir: Direction, bytes: &[u8]) -> Self {
        let mut hex: String = bytes.iter().take(64).map(|b| format!("{b:02x}")).collect();
        if bytes.len() > 64 {
            hex.push('…');
        }
        WireEntry { t_ms, dir, len: bytes.len(), hex }
    }
}

/// Everything recorded about one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionLog {
    /// The client's handshake request, verbatim.
    pub request: String,
    /// The frames the client sent, in order.
    pub frames: Vec<ClientFrame>,
    /// The frames the server sent after its handshake answer, in order.
    pub server_frames: Vec<ClientFrame>,
    /// Whether the client closed the connection (EOF or reset seen).
    pub client_closed: bool,
    /// Bytes each way, with times.
    pub wire: Vec<WireEntry>,
    /// Wire-log entries not kept because the recorder's cap was reached (the log is
    /// truncated after the entries it has).
    #[serde(skip_serializing_if = "is_zero")]
    pub wire_dropped: u64,
    /// Frames (either way) not kept because the recorder's cap was reached.
    #[serde(skip_serializing_if = "is_zero")]
    pub frames_dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8], budget: usize) -> (Vec<ClientFrame>, FrameCollector) {
        let (mut c, mut b, mut out) = (FrameCollector::new(), budget, Vec::new());
        c.feed(bytes, &mut b, &mut out);
        (out, c)
    }

    #[test]
    fn collects_masked_frames_and_keeps_partial_ones() {
        let mut h = FrameHeader::new(crate::proto::Opcode::Text, 5);
        h.mask = Some([1, 2, 3, 4]);
        let mut buf = encode_frame(&h, b"hello");
        buf.extend_from_slice(&[0x88, 0x80, 0, 0]);
        let (mut c, mut budget, mut frames) = (FrameCollector::new(), 100, Vec::new());
        c.feed(&buf, &mut budget, &mut frames);
        assert_eq!(frames.len(), 1, "the incomplete close frame waits");
        assert_eq!(
            (frames[0].opcode, frames[0].fin, frames[0].masked, &frames[0].payload[..]),
            (1, true, true, &b"hello"[..])
        );
        c.feed(&[0, 0], &mut budget, &mut frames);
        assert_eq!((frames.len(), frames[1].opcode, frames[1].len), (2, 8, 0));
        assert_eq!(budget, 95);
    }

    #[test]
    fn payload_beyond_the_budget_is_not_kept_but_the_length_is() {
        let f = server_frame(0x82, &[9; 1000]);
        let (frames, _) = collect(&[f.clone(), f].concat(), 1500);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            (frames[0].len, frames[0].payload.len(), frames[0].truncated),
            (1000, 1000, false)
        );
        assert_eq!(
            (frames[1].len, frames[1].payload.len(), frames[1].truncated),
            (1000, 500, true)
        );
    }

    #[test]
    fn a_frame_claiming_two_to_the_64_is_never_recorded_nor_allocated() {
        let mut f = frame_header(0x82, u64::MAX);
        f.extend_from_slice(&[0; 4096]);
        let (frames, c) = collect(&f, usize::MAX);
        assert!(frames.is_empty());
        let kept = c.current.as_ref().map(|(_, f)| f.payload.len());
        assert_eq!(kept, Some(4096), "only what arrived is kept");
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(server_frame(0x81, b"a"), vec![0x81, 1, b'a']);
        assert_eq!(&server_frame(0x82, &[0; 300])[..4], &[0x82, 126, 1, 44]);
        assert_eq!(&server_frame(0x82, &[0; 70000])[..2], &[0x82, 127]);
        assert_eq!(frame_header(0x81, 10), vec![0x81, 10]);
    }
}
