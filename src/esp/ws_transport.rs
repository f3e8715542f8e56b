//! `transport_ws`: the upgrade handshake over the esp transport, frame reads with the
//! device's chunking and timeout rules, and masked frame writes (spec §5).

use super::env::SharedRng;
use super::frame::{self, OP_NONE};
use super::handshake::{self, RequestParams, Verdict, WS_BUFFER_SIZE};
use super::profile::Profile;
use crate::transport::{EspReader, EspTransport, EspWriter};

/// What the handshake sends besides host and port (pushed in at `start()`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsSettings {
    /// The request path (with query).
    pub path: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// `Sec-WebSocket-Protocol`.
    pub subprotocol: Option<String>,
    /// `Authorization` value.
    pub auth: Option<String>,
    /// Extra header lines (`esp_transport_ws_set_headers`).
    pub headers: Option<String>,
}

/// The ws transport of one client between two `start()` calls.
#[derive(Debug)]
pub struct WsTransport {
    /// The TCP or SSL transport underneath.
    pub inner: EspTransport,
    /// Handshake settings.
    pub settings: WsSettings,
    /// The HTTP status of the last parsed response; never reset (spec §5.2 item 7).
    pub http_status_code: i32,
    profile: Profile,
}

/// The result of `esp_transport_connect` on the ws transport.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// Upgraded.
    Connected(WsReader, WsWriter),
    /// A redirect: connect returned the status; the socket is left open (the device
    /// leaks it), so the caller keeps it alive.
    Redirect {
        /// Where to go.
        location: String,
        /// The old connection, not closed.
        leaked: Box<(WsReader, WsWriter)>,
    },
    /// Failed (-1); the reason is what the device logs.
    Failed(&'static str),
}

impl WsTransport {
    /// A ws transport over `inner`.
    pub fn new(inner: EspTransport, settings: WsSettings, profile: Profile) -> Self {
        WsTransport { inner, settings, http_status_code: 0, profile }
    }

    /// Connects, upgrades, and returns the header lines that raise `HEADER_RECEIVED`
    /// (they are reported even when the upgrade then fails).
    pub async fn connect(
        &mut self,
        host: &str,
        port: u16,
        timeout_ms: i32,
        rng: &SharedRng,
    ) -> (ConnectOutcome, Vec<Vec<u8>>) {
        let Some(conn) = self.inner.connect(host, port, timeout_ms).await else {
            return (ConnectOutcome::Failed("transport connect failed"), Vec::new());
        };
        let (mut reader, mut writer) = (conn.reader, conn.writer);
        let key = handshake::make_key(rng.bytes16());
        let params = RequestParams {
            path: &self.settings.path,
            host,
            port,
            user_agent: &self.settings.user_agent,
            subprotocol: self.settings.subprotocol.as_deref(),
            auth: self.settings.auth.as_deref(),
            headers: self.settings.headers.as_deref(),
        };
        let Some(request) = handshake::build_request(&params, &key) else {
            writer.close().await;
            return (ConnectOutcome::Failed("Error in request generation"), Vec::new());
        };
        if writer.write(request.as_bytes(), Some(timeout_ms.max(0) as u64)).await <= 0 {
            writer.close().await;
            return (ConnectOutcome::Failed("Error write"), Vec::new());
        }
        // Read until the blank line, in a buffer one byte short of WS_BUFFER_SIZE.
        let mut buf = vec![0u8; WS_BUFFER_SIZE - 1];
        let mut len = 0;
        let header_end = loop {
            if let Some(p) = buf[..len].windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if len == buf.len() {
                writer.close().await;
                return (ConnectOutcome::Failed("Response headers too large"), Vec::new());
            }
            let n = reader.read(&mut buf[len..], timeout_ms).await;
            if n <= 0 {
                writer.close().await;
                return (
                    ConnectOutcome::Failed("Error read response for Upgrade header"),
                    Vec::new(),
                );
            }
            len += n as usize;
        };
        // IDF 5.5 rejects a read that filled the buffer even when the blank line is in
        // it (`header_len >= WS_BUFFER_SIZE - 1`, T55:307); master checks `>`.
        if self.profile.rejects_full_handshake_read() && len >= buf.len() {
            writer.close().await;
            return (ConnectOutcome::Failed("Header size exceeded buffer size"), Vec::new());
        }
        let response = handshake::judge_response(&buf[..header_end], &key, self.profile);
        // `get_http_status_code`: -1 when no `HTTP/… NNN` status parses (T:147-164, 294).
        self.http_status_code = response.status.unwrap_or(-1);
        let lines = response.header_lines;
        match response.verdict {
            Verdict::Upgraded => {
                // Bytes after the blank line are the first frames (spec §5.2 item 6).
                let mut r = WsReader::new(reader, self.profile);
                r.leftover = buf[header_end..len].to_vec();
                let w = WsWriter { io: writer, rng: rng.clone() };
                (ConnectOutcome::Connected(r, w), lines)
            }
            Verdict::Redirect(location) => {
                let r = WsReader::new(reader, self.profile);
                let w = WsWriter { io: writer, rng: rng.clone() };
                (ConnectOutcome::Redirect { location, leaked: Box::new((r, w)) }, lines)
            }
            Verdict::Failed(why) => {
                writer.close().await;
                (ConnectOutcome::Failed(why), lines)
            }
        }
    }
}

/// The piece size of [`WsReader::drain`].
const DRAIN_PIECE: usize = 4096;

/// The frame being read (`ws_transport_frame_state_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameState {
    /// Opcode, or [`OP_NONE`] when no header was read.
    opcode: u16,
    fin: bool,
    payload_len: i32,
    bytes_remaining: i64,
    mask: Option<[u8; 4]>,
}

/// The receive side of a ws connection.
#[derive(Debug)]
pub struct WsReader {
    io: EspReader,
    frame: FrameState,
    profile: Profile,
    /// What the handshake read took past the response (`ws->buffer`): reads take from
    /// it first and return only what it holds, as `esp_transport_read_internal` does.
    leftover: Vec<u8>,
    leftover_pos: usize,
}

enum Header {
    /// Nothing arrived before the timeout.
    None,
    /// A header was read.
    Read,
}

impl WsReader {
    fn new(io: EspReader, profile: Profile) -> Self {
        WsReader {
            io,
            frame: FrameState {
                opcode: OP_NONE,
                fin: false,
                payload_len: 0,
                bytes_remaining: 0,
                mask: None,
            },
            profile,
            leftover: Vec::new(),
            leftover_pos: 0,
        }
    }

    /// `esp_transport_read_internal`: the handshake leftover while there is one (no more
    /// than it holds, even if the socket has more), else the socket.
    async fn read_internal(&mut self, buf: &mut [u8], timeout_ms: i32) -> i32 {
        let left = self.leftover.len() - self.leftover_pos;
        if left == 0 || buf.is_empty() {
            return self.io.read(buf, timeout_ms).await;
        }
        let n = left.min(buf.len());
        buf[..n].copy_from_slice(&self.leftover[self.leftover_pos..self.leftover_pos + n]);
        self.leftover_pos += n;
        if self.leftover_pos == self.leftover.len() {
            self.leftover = Vec::new();
            self.leftover_pos = 0;
        }
        n as i32
    }

    /// `esp_transport_ws_get_read_opcode`.
    pub fn read_opcode(&self) -> u16 {
        self.frame.opcode
    }

    /// `esp_transport_ws_get_fin_flag`.
    pub fn fin(&self) -> bool {
        self.frame.fin
    }

    /// `esp_transport_ws_get_read_payload_len`.
    pub fn payload_len(&self) -> i32 {
        self.frame.payload_len
    }

    /// `ws_poll_read`: on IDF 6 a handshake leftover counts as readable; IDF 5.5 polls
    /// only the socket.
    pub async fn poll_read(&mut self, timeout_ms: i32) -> i32 {
        if self.profile.polls_leftover() && self.leftover.len() > self.leftover_pos {
            return 1;
        }
        self.io.poll_read(timeout_ms).await
    }

    /// `esp_transport_ws_poll_connection_closed`.
    pub async fn poll_connection_closed(&mut self, timeout_ms: i32) -> i32 {
        self.io.poll_connection_closed(timeout_ms).await
    }

    /// Reads exactly `buf.len()` bytes; `first_may_time_out` lets the very first read
    /// time out quietly (no header yet). Returns the read result that stopped it.
    async fn read_exact(
        &mut self,
        buf: &mut [u8],
        timeout_ms: i32,
        first_may_time_out: bool,
    ) -> Result<bool, i32> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.read_internal(&mut buf[got..], timeout_ms).await;
            if n < 0 {
                return Err(n);
            }
            if n == 0 {
                if got == 0 && first_may_time_out {
                    return Ok(false);
                }
                // A timeout part-way through a header is an error.
                return Err(-1);
            }
            got += n as usize;
        }
        Ok(true)
    }

    /// Reads and discards `len` payload bytes with `read_exact`'s rules (each read
    /// bounded by `timeout_ms`; a timeout, the peer's close or an error ends it early),
    /// through one buffer of at most [`DRAIN_PIECE`] bytes (on the heap, so the task's
    /// future stays small), so nothing is allocated for what the peer only claims.
    async fn drain(&mut self, len: u64, timeout_ms: i32) {
        let mut sink = vec![0u8; len.min(DRAIN_PIECE as u64) as usize];
        let mut left = len;
        while left > 0 {
            let piece = left.min(DRAIN_PIECE as u64) as usize;
            if self.read_exact(&mut sink[..piece], timeout_ms, false).await.is_err() {
                return;
            }
            left -= piece as u64;
        }
    }

    async fn read_header(&mut self, timeout_ms: i32) -> Result<Header, i32> {
        if self.profile.polls_socket_before_header() {
            // IDF 5.5's ws_read_header polls the socket before reading (T55:532): bytes
            // left over from the handshake wait until the socket has some too.
            match self.io.poll_read(timeout_ms).await {
                p if p < 0 => return Err(p),
                0 => return Ok(Header::None),
                _ => {}
            }
        }
        let mut h = [0u8; 2];
        if !self.read_exact(&mut h, timeout_ms, true).await? {
            return Ok(Header::None);
        }
        let fin = h[0] & 0x80 != 0;
        let rsv = h[0] & 0x70;
        let opcode = h[0] & 0x0F;
        let masked = h[1] & 0x80 != 0;
        let len7 = u64::from(h[1] & 0x7F);
        let len = match len7 {
            126 => {
                let mut b = [0u8; 2];
                self.read_exact(&mut b, timeout_ms, false).await?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                self.read_exact(&mut b, timeout_ms, false).await?;
                u64::from_be_bytes(b)
            }
            n => n,
        };
        // IDF 5.5 keeps the length in an `int`: a 64-bit length with a non-zero upper
        // half is 0xFFFFFFFF (-1), and one of 2^31 or more is negative (T55:558-571).
        let c_len: i64 = match len7 {
            127 if len >> 32 != 0 => -1,
            127 => i64::from(len as u32 as i32),
            _ => len as i64,
        };
        // IDF 5.5 reads the mask only for a non-empty payload (T55:576).
        let reads_mask = masked && (self.profile.validates_frames() || c_len != 0);
        let mask = if reads_mask {
            let mut m = [0u8; 4];
            self.read_exact(&mut m, timeout_ms, false).await?;
            Some(m)
        } else {
            None
        };
        if !self.profile.validates_frames() && c_len < 0 {
            // ws_read_header returns the negative length, and the read fails with it.
            return Err(c_len as i32);
        }
        if self.profile.validates_frames() {
            let control = frame::is_control(opcode);
            if rsv != 0 || frame::is_reserved(opcode) || (control && !fin) || len >> 31 != 0 {
                return Err(-1);
            }
            if control && len > 125 {
                // The payload is drained before the read fails, in fixed-size pieces:
                // the length is only what the peer claims (up to 2^31 - 1 here).
                self.drain(len, timeout_ms).await;
                return Err(-1);
            }
        }
        // Both profiles have failed a length of 2^31 or more by now.
        let payload_len = len as i32;
        self.frame = FrameState {
            opcode: u16::from(opcode),
            fin,
            payload_len,
            bytes_remaining: i64::from(payload_len.max(0)),
            mask,
        };
        Ok(Header::Read)
    }

    /// `esp_transport_read` on the ws transport (`ws_read`): the next chunk of the
    /// current frame, or the header and first chunk of a new one. Returns the chunk
    /// length, 0 on a timeout (with [`WsReader::read_opcode`] `== OP_NONE` when no
    /// header arrived), or a negative error.
    pub async fn read(&mut self, buf: &mut [u8], timeout_ms: i32) -> i32 {
        if self.frame.bytes_remaining <= 0 {
            match self.read_header(timeout_ms).await {
                Err(e) => {
                    self.frame.bytes_remaining = 0;
                    return e;
                }
                Ok(Header::None) => {
                    self.frame.opcode = OP_NONE;
                    return 0;
                }
                Ok(Header::Read) => {}
            }
            if self.frame.payload_len <= 0 {
                return 0;
            }
            let opcode = self.frame.opcode as u8;
            if frame::is_control(opcode) && self.profile.reads_control_whole() {
                let len = self.frame.payload_len as usize;
                self.frame.bytes_remaining = 0;
                if len > buf.len() {
                    return -1;
                }
                if let Err(e) = self.read_exact(&mut buf[..len], timeout_ms, false).await {
                    return e.min(-1);
                }
                if let Some(m) = self.frame.mask {
                    frame::apply_mask(&mut buf[..len], m);
                }
                return len as i32;
            }
        }
        let want = buf.len().min(self.frame.bytes_remaining as usize);
        let n = self.read_internal(&mut buf[..want], timeout_ms).await;
        if n < 0 {
            self.frame.bytes_remaining = 0;
            return n;
        }
        if n == 0 {
            if self.profile.forgets_frame_after_payload_timeout() {
                // IDF 5.5's ws_read forgets the frame after a payload timeout (T55:671-675):
                // the caller sees one empty chunk, and the late bytes are read as a header.
                self.frame.bytes_remaining = 0;
            }
            // IDF 6 keeps the frame position (spec §5.3).
            return 0;
        }
        if let Some(m) = self.frame.mask {
            frame::apply_mask(&mut buf[..n as usize], m);
        }
        self.frame.bytes_remaining -= i64::from(n);
        n
    }
}

/// The send side of a ws connection.
#[derive(Debug)]
pub struct WsWriter {
    io: EspWriter,
    rng: SharedRng,
}

impl WsWriter {
    /// `esp_transport_ws_send_raw` / `_ws_write`: one masked frame with `b0` (opcode
    /// and FIN), header and payload in two writes; the payload is masked in `scratch`
    /// (the client's TX buffer). Returns the payload bytes written, 0 on timeout, or a
    /// negative error.
    pub async fn send_frame(
        &mut self,
        b0: u8,
        payload: &[u8],
        timeout_ms: Option<u64>,
        scratch: &mut Vec<u8>,
    ) -> i32 {
        let poll = self.io.poll_write();
        if poll <= 0 {
            return poll;
        }
        let mask = self.rng.bytes4();
        let header = frame::client_header(b0, payload.len(), mask);
        let n = self.io.write(&header, timeout_ms).await;
        if n != header.len() as i32 {
            return if n == 0 { 0 } else { -1 };
        }
        if payload.is_empty() {
            return 0;
        }
        scratch.clear();
        scratch.extend_from_slice(payload);
        frame::apply_mask(scratch, mask);
        self.io.write(scratch, timeout_ms).await
    }

    /// [`WsWriter::send_frame`] for a payload of `total` bytes of which only `head` is
    /// known: the rest is zeros. Written in pieces of at most [`DRAIN_PIECE`] bytes, so a
    /// length the peer chose (the IDF 5.5 PONG of a long PING) allocates nothing.
    pub async fn send_frame_padded(
        &mut self,
        b0: u8,
        head: &[u8],
        total: usize,
        timeout_ms: Option<u64>,
    ) -> i32 {
        let poll = self.io.poll_write();
        if poll <= 0 {
            return poll;
        }
        let mask = self.rng.bytes4();
        let header = frame::client_header(b0, total, mask);
        let n = self.io.write(&header, timeout_ms).await;
        if n != header.len() as i32 {
            return if n == 0 { 0 } else { -1 };
        }
        let mut piece = Vec::with_capacity(total.min(DRAIN_PIECE));
        let mut at = 0usize;
        while at < total {
            let end = (at + DRAIN_PIECE).min(total);
            piece.clear();
            piece.extend((at..end).map(|i| head.get(i).copied().unwrap_or(0) ^ mask[i % 4]));
            let n = self.io.write(&piece, timeout_ms).await;
            if n != piece.len() as i32 {
                return if n == 0 { 0 } else { -1 };
            }
            at = end;
        }
        total as i32
    }

    /// `esp_transport_close` on the send side.
    pub async fn close(&mut self) {
        self.io.close().await;
    }
}
