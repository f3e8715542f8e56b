//! The handshake's wire pieces: the `Sec-WebSocket-Accept` value and the scan for the end
//! of an HTTP header block (`\r\n\r\n`), incremental and bounded.

use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID RFC 6455 §1.3 appends to the client's key.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// The offset just past the first `\r\n\r\n` in `buf`, if there is one.
pub fn find_header_end(buf: &[u8]) -> Option<usize> {
    match HeaderScan::new(usize::MAX).feed(buf) {
        ScanState::Done(at) => Some(at),
        ScanState::Pending | ScanState::TooLong => None,
    }
}

/// Where a [`HeaderScan`] stands after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanState {
    /// No end yet, and still within the limit.
    Pending,
    /// The block ended; the number is the offset in the chunk just fed where what follows
    /// the block begins (0 for every chunk after the one holding the end).
    Done(usize),
    /// More than the limit arrived without an end; the scan stops here for good.
    TooLong,
}

/// Finds the end of a header block across chunks, in constant memory, giving up once
/// more than `limit` bytes have passed without one.
#[derive(Debug, Clone)]
pub struct HeaderScan {
    limit: usize,
    seen: usize,
    matched: u8,
    state: ScanState,
}

impl HeaderScan {
    /// A scan that accepts blocks of at most `limit` bytes (terminator included).
    pub fn new(limit: usize) -> Self {
        HeaderScan { limit, seen: 0, matched: 0, state: ScanState::Pending }
    }

    /// Feeds the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> ScanState {
        match self.state {
            ScanState::Done(_) => return ScanState::Done(0),
            ScanState::TooLong => return ScanState::TooLong,
            ScanState::Pending => {}
        }
        const END: &[u8; 4] = b"\r\n\r\n";
        for (i, &b) in chunk.iter().enumerate() {
            if self.seen >= self.limit {
                self.state = ScanState::TooLong;
                return self.state;
            }
            self.seen += 1;
            // The only overlap of the pattern with itself is a leading CR.
            self.matched = if b == END[self.matched as usize] {
                self.matched + 1
            } else {
                u8::from(b == b'\r')
            };
            if self.matched == 4 {
                self.state = ScanState::Done(i + 1);
                return self.state;
            }
        }
        ScanState::Pending
    }

    /// Whether the block has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.state, ScanState::Done(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_of_rfc_6455() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn the_end_is_found_across_chunks() {
        let mut h = HeaderScan::new(1024);
        assert_eq!(h.feed(b"HTTP/1.1 101 OK\r\nA: b\r\n\r"), ScanState::Pending);
        assert_eq!(h.feed(b"\nframe"), ScanState::Done(1));
        assert_eq!(h.feed(b"more"), ScanState::Done(0));
        assert!(h.is_done());
        assert_eq!(find_header_end(b"a\r\n\r\r\n\r\nb"), Some(8));
        assert_eq!(find_header_end(b"a\r\n\r\nb\r\n\r\n"), Some(5));
        assert_eq!(find_header_end(b"a\n\n\r\n"), None);
    }

    #[test]
    fn a_block_over_the_limit_is_too_long_for_good() {
        let mut h = HeaderScan::new(8);
        assert_eq!(h.feed(b"abcd"), ScanState::Pending);
        assert_eq!(h.feed(b"\r\n\r\n"), ScanState::Done(4), "exactly the limit is fine");
        let mut h = HeaderScan::new(8);
        assert_eq!(h.feed(b"abcde\r\n\r\n"), ScanState::TooLong);
        assert_eq!(h.feed(b"\r\n\r\n"), ScanState::TooLong);
    }
}
