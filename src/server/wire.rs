//! Server-side framing (unmasked frames out, masked client frames in) and the record of
//! what crossed the wire.

use serde::Serialize;

/// An unmasked frame header with `b0` (FIN, RSV, opcode) claiming `len` payload bytes,
/// in the shortest length form.
pub fn frame_header(b0: u8, len: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(10);
    h.push(b0);
    if len <= 125 {
        h.push(len as u8);
    } else if len < 65536 {
        h.push(126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h
}

/// An unmasked server frame with `b0` (FIN, RSV, opcode) and `payload`.
pub fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = frame_header(b0, payload.len() as u64);
    f.extend_from_slice(payload);
    f
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
    /// The unmasked payload.
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// Payload length.
    pub len: usize,
}

/// Splits complete client frames off the front of `buf`.
pub fn parse_client_frames(buf: &mut Vec<u8>) -> Vec<ClientFrame> {
    let mut out = Vec::new();
    loop {
        if buf.len() < 2 {
            return out;
        }
        let masked = buf[1] & 0x80 != 0;
        let (len, mut at) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
            127 if buf.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                (u64::from_be_bytes(b) as usize, 10)
            }
            126 | 127 => return out,
            n => (n as usize, 2),
        };
        let mask_at = at;
        if masked {
            at += 4;
        }
        if buf.len() < at + len {
            return out;
        }
        let mut payload = buf[at..at + len].to_vec();
        if masked {
            let m = [buf[mask_at], buf[mask_at + 1], buf[mask_at + 2], buf[mask_at + 3]];
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= m[i & 3];
            }
        }
        out.push(ClientFrame {
            fin: buf[0] & 0x80 != 0,
            rsv: buf[0] & 0x70,
            opcode: buf[0] & 0x0F,
            masked,
            len,
            payload,
        });
        buf.drain(..at + len);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_masked_frames_and_keeps_partial_ones() {
        let mask = [1, 2, 3, 4];
        let payload: Vec<u8> = b"hello".iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        let mut buf = vec![0x81, 0x85];
        buf.extend_from_slice(&mask);
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(&[0x88, 0x80, 0, 0]);
        let frames = parse_client_frames(&mut buf);
        assert_eq!(frames.len(), 1);
        assert_eq!(
            (frames[0].opcode, frames[0].fin, &frames[0].payload[..]),
            (1, true, &b"hello"[..])
        );
        assert_eq!(buf, vec![0x88, 0x80, 0, 0], "the incomplete close frame stays");
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(server_frame(0x81, b"a"), vec![0x81, 1, b'a']);
        assert_eq!(&server_frame(0x82, &[0; 300])[..4], &[0x82, 126, 1, 44]);
        assert_eq!(&server_frame(0x82, &[0; 70000])[..2], &[0x82, 127]);
    }
}
