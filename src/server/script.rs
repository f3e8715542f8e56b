//! The scripted server: a handshake that can be broken on purpose, then whatever the
//! scenario's steps tell it to write, with optional automatic replies.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::io::ServerIo;
use super::record::REQUEST_LIMIT;
use super::record::Recorded;
use crate::proto::{Decoded, FrameDecoder, FrameHeader, HeaderScan, Opcode, ScanState, accept_key};

/// What the server puts in `Sec-WebSocket-Accept`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AcceptMode {
    /// The correct value.
    #[default]
    Valid,
    /// No header at all.
    Missing,
    /// A well-formed but wrong value.
    Wrong,
    /// The header with an empty value.
    Empty,
    /// The first N characters of the correct value.
    Prefix(usize),
    /// The header without the space after the colon.
    NoSpace,
    /// The correct header twice.
    Twice,
    /// This exact value.
    Value(String),
}

/// How the server answers one handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HandshakeReply {
    /// The status code.
    pub status: u16,
    /// The reason phrase (default: the usual one for the status).
    pub reason: Option<String>,
    /// The accept header (default: valid for 101, missing for any other status, as a
    /// plain HTTP error page has none).
    pub accept: Option<AcceptMode>,
    /// Extra header lines, without CRLF.
    pub headers: Vec<String>,
    /// A `Location` header (for redirects); `{name}` placeholders are resolved by the runner.
    pub location: Option<String>,
    /// Pads the header block with an `X-Pad` header of this many bytes.
    pub pad: usize,
    /// Writes the response in pieces of these sizes (the rest in one last piece).
    pub split: Vec<usize>,
    /// Milliseconds to wait between the pieces, and before a single write.
    pub delay_ms: u64,
    /// Closes the connection after the response (default: when the status is not 101).
    pub close_after: Option<bool>,
    /// Bytes written right after the response, in the same write (frames that race
    /// the upgrade).
    pub trailing: Vec<u8>,
}

impl Default for HandshakeReply {
    fn default() -> Self {
        HandshakeReply {
            status: 101,
            reason: None,
            accept: None,
            headers: Vec::new(),
            location: None,
            pad: 0,
            split: Vec::new(),
            delay_ms: 0,
            close_after: None,
            trailing: Vec::new(),
        }
    }
}

fn reason_for(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

impl HandshakeReply {
    /// The response bytes for a request carrying `key`.
    pub fn render(&self, key: Option<&str>) -> Vec<u8> {
        let reason = self.reason.clone().unwrap_or_else(|| reason_for(self.status).to_string());
        let mut r = format!("HTTP/1.1 {} {}\r\n", self.status, reason);
        if self.status == 101 {
            r.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
        }
        let good = key.map(accept_key).unwrap_or_default();
        let default = if self.status == 101 { AcceptMode::Valid } else { AcceptMode::Missing };
        match self.accept.as_ref().unwrap_or(&default) {
            AcceptMode::Valid => r.push_str(&format!("Sec-WebSocket-Accept: {good}\r\n")),
            AcceptMode::Missing => {}
            AcceptMode::Wrong => {
                r.push_str("Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n")
            }
            AcceptMode::Empty => r.push_str("Sec-WebSocket-Accept: \r\n"),
            AcceptMode::Prefix(n) => {
                let p: String = good.chars().take(*n).collect();
                r.push_str(&format!("Sec-WebSocket-Accept: {p}\r\n"));
            }
            AcceptMode::NoSpace => r.push_str(&format!("Sec-WebSocket-Accept:{good}\r\n")),
            AcceptMode::Twice => r.push_str(&format!(
                "Sec-WebSocket-Accept: {good}\r\nSec-WebSocket-Accept: {good}\r\n"
            )),
            AcceptMode::Value(v) => r.push_str(&format!("Sec-WebSocket-Accept: {v}\r\n")),
        }
        if let Some(l) = &self.location {
            r.push_str(&format!("Location: {l}\r\n"));
        }
        for h in &self.headers {
            r.push_str(h);
            r.push_str("\r\n");
        }
        if self.pad > 0 {
            r.push_str(&format!("X-Pad: {}\r\n", "p".repeat(self.pad)));
        }
        r.push_str("\r\n");
        let mut bytes = r.into_bytes();
        bytes.extend_from_slice(&self.trailing);
        bytes
    }

    fn closes(&self) -> bool {
        self.close_after.unwrap_or(self.status != 101)
    }
}

/// How the scripted server behaves between steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptBehaviour {
    /// Handshake replies by connection index; the last one repeats.
    pub handshakes: Vec<HandshakeReply>,
    /// Answer a PING with a PONG carrying its payload.
    pub reply_ping: bool,
    /// Answer a CLOSE with a CLOSE carrying the same payload, then close TCP.
    pub reply_close: bool,
    /// Echo text, binary and continuation frames back as they came.
    pub echo: bool,
}

impl Default for ScriptBehaviour {
    fn default() -> Self {
        ScriptBehaviour { handshakes: Vec::new(), reply_ping: true, reply_close: true, echo: false }
    }
}

/// What a step tells the current connection to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnAction {
    /// Write these byte chunks, each flushed, `gap_ms` apart.
    Write {
        /// The chunks.
        chunks: Vec<Vec<u8>>,
        /// The pause between chunks.
        gap_ms: u64,
        /// The chunks include a CLOSE: the client's CLOSE is then the reply, and only
        /// the TCP close follows it.
        sends_close: bool,
    },
    /// Close the connection with FIN.
    Drop,
    /// Close the connection with RST.
    Reset,
}

const HANDSHAKE_LIMIT: Duration = Duration::from_secs(30);

/// Reads the client's header block (at most [`REQUEST_LIMIT`] bytes, within
/// [`HANDSHAKE_LIMIT`]); returns it and the bytes that came after it.
async fn read_request<S: ServerIo>(stream: &mut Recorded<S>) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut scan = HeaderScan::new(REQUEST_LIMIT);
    let end = tokio::time::timeout(HANDSHAKE_LIMIT, async {
        let mut tmp = [0u8; 2048];
        loop {
            let n = match stream.read(&mut tmp).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => n,
            };
            buf.extend_from_slice(&tmp[..n]);
            match scan.feed(&tmp[..n]) {
                ScanState::Pending => {}
                ScanState::Done(at) => return Some(buf.len() - n + at),
                ScanState::TooLong => return None,
            }
        }
    })
    .await
    .ok()??;
    let rest = buf.split_off(end);
    Some((String::from_utf8_lossy(&buf).into_owned(), rest))
}

/// Serves one scripted connection (`index` counts connections from 0).
pub async fn serve_script<S: ServerIo>(
    mut stream: Recorded<S>,
    behaviour: ScriptBehaviour,
    index: usize,
    mut actions: mpsc::UnboundedReceiver<ConnAction>,
) {
    let Some((request, early)) = read_request(&mut stream).await else { return };
    let key = request.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("Sec-WebSocket-Key").then(|| v.trim().to_string())
    });
    let reply = behaviour
        .handshakes
        .get(index)
        .or(behaviour.handshakes.last())
        .cloned()
        .unwrap_or_default();
    let bytes = reply.render(key.as_deref());
    let mut pieces = Vec::new();
    let mut at = 0usize;
    for &n in &reply.split {
        let end = at.saturating_add(n).min(bytes.len());
        pieces.push(&bytes[at..end]);
        at = end;
    }
    pieces.push(&bytes[at..]);
    for p in pieces.into_iter().filter(|p| !p.is_empty()) {
        if reply.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(reply.delay_ms)).await;
        }
        if stream.write_all(p).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
    if reply.closes() {
        let _ = stream.shutdown().await;
        // Wait for the client's close so the log sees it.
        drain_until_closed(&mut stream).await;
        return;
    }
    let mut replies = Replies::new(behaviour);
    if replies.handle(&mut stream, &early).await.is_break() {
        return;
    }
    let mut tmp = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            biased;
            // A reply being streamed is not cut by a step's frames.
            action = actions.recv(), if !replies.mid_reply => match action {
                None => return,
                Some(ConnAction::Write { chunks, gap_ms, sends_close }) => {
                    replies.close_sent |= sends_close;
                    for (i, c) in chunks.iter().enumerate() {
                        if i > 0 && gap_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(gap_ms)).await;
                        }
                        if stream.write_all(c).await.is_err() || stream.flush().await.is_err() {
                            return;
                        }
                    }
                }
                Some(ConnAction::Drop) => {
                    let _ = stream.shutdown().await;
                    drain_until_closed(&mut stream).await;
                    return;
                }
                Some(ConnAction::Reset) => {
                    stream.set_reset_on_drop();
                    return;
                }
            },
            n = stream.read(&mut tmp) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                if replies.handle(&mut stream, &tmp[..n]).await.is_break() {
                    return;
                }
            }
        }
    }
}

/// The most of one reply held back until its frame is complete; a longer reply is
/// written as it arrives.
const REPLY_BUFFER: usize = 1 << 20;

/// The automatic replies of a scripted connection: PONG for PING, CLOSE for CLOSE, echo
/// of data frames (same length, payload unmasked). A reply is written in one piece once
/// the client's frame is complete, as long as it fits [`REPLY_BUFFER`]; a longer one is
/// written as the frame arrives, so a frame of any claimed length costs bounded memory.
struct Replies {
    behaviour: ScriptBehaviour,
    close_sent: bool,
    decoder: FrameDecoder,
    /// The client frame being read: its header, and whether it is being answered.
    current: Option<(FrameHeader, bool)>,
    /// The reply held back so far.
    out: Vec<u8>,
    /// Part of the current reply is already on the wire: a step's frames must wait,
    /// or they would land inside it.
    mid_reply: bool,
}

impl Replies {
    fn new(behaviour: ScriptBehaviour) -> Self {
        Replies {
            behaviour,
            close_sent: false,
            decoder: FrameDecoder::new(),
            current: None,
            out: Vec::new(),
            mid_reply: false,
        }
    }

    async fn write<S: ServerIo>(&mut self, stream: &mut Recorded<S>) -> std::io::Result<()> {
        if !self.out.is_empty() {
            stream.write_all(&self.out).await?;
            stream.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Handles bytes from the client; `Break` when the connection is over.
    async fn handle<S: ServerIo>(
        &mut self,
        stream: &mut Recorded<S>,
        mut bytes: &[u8],
    ) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        loop {
            let (used, got) = self.decoder.next(bytes);
            bytes = &bytes[used..];
            match got {
                None => return Continue(()),
                Some(Decoded::Header { header, .. }) => {
                    let b0 = match header.opcode {
                        Opcode::Ping if self.behaviour.reply_ping => Some(0x8A),
                        Opcode::Close if self.behaviour.reply_close && !self.close_sent => {
                            Some(0x88)
                        }
                        Opcode::Continuation | Opcode::Text | Opcode::Binary
                            if self.behaviour.echo =>
                        {
                            Some(header.opcode.as_u8() | if header.fin { 0x80 } else { 0 })
                        }
                        _ => None,
                    };
                    self.current = Some((header, b0.is_some()));
                    if let Some(b0) = b0 {
                        self.out.extend_from_slice(&FrameHeader::from_b0(b0, header.len).encode());
                    }
                }
                Some(Decoded::Payload { bytes, offset }) => {
                    if let Some((h, true)) = self.current {
                        let at = self.out.len();
                        self.out.extend_from_slice(bytes);
                        if let Some(m) = h.mask {
                            crate::proto::apply_mask(m, offset, &mut self.out[at..]);
                        }
                        if self.out.len() >= REPLY_BUFFER {
                            self.mid_reply = true;
                            if self.write(stream).await.is_err() {
                                return Break(());
                            }
                        }
                    }
                }
                Some(Decoded::End) => {
                    self.mid_reply = false;
                    if self.write(stream).await.is_err() {
                        return Break(());
                    }
                    let closing = self.current.take().is_some_and(|(h, _)| {
                        h.opcode == Opcode::Close && (self.behaviour.reply_close || self.close_sent)
                    });
                    if closing {
                        let _ = stream.shutdown().await;
                        drain_until_closed(stream).await;
                        return Break(());
                    }
                }
            }
        }
    }
}

/// After our FIN: reads until the client closes too (bounded), so the log records it.
async fn drain_until_closed<S: ServerIo>(stream: &mut Recorded<S>) {
    let mut tmp = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut tmp).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}
