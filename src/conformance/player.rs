//! The fuzzing server for one case on any byte stream: writes the case's frames
//! (whole, chopped or synchronised), validates and records what the client sends,
//! runs the case's timers (`killAfter`, `closeAfter`, delayed steps, the close
//! handshake timeout) and the close handshake, and returns what it saw once the
//! connection is gone. Memory is bounded whatever the client sends: messages are kept
//! as length, SHA-1 and first bytes, the wire log has a row limit.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::catalogue::{
    Case, End, Event, FrameSpec, Payload, PayloadBuilder, Plan, Step, render_payload,
};
use super::handshake::Request;
use super::judge::{Observation, Status};
use super::utf8::Utf8Stream;
use crate::proto::{Decoded, FrameDecoder, FrameHeader, Opcode, apply_mask, encode_frame};

/// Rows a wire log keeps; later traffic is not logged (a `["WLM", false]` row says so).
pub const WIRELOG_ROWS: usize = 2000;
/// Octets of a payload a wire log row shows.
const WIRELOG_OCTETS: usize = 64;
/// Events recorded at most: expected lists are far shorter, so a longer record can
/// never match, and a client that floods pongs cannot fill memory.
pub const MAX_RECEIVED: usize = 1024;
/// The close handshake timeout (`closeHandshakeTimeout`).
pub const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a drop waits for queued bytes to go out.
const DROP_FLUSH: Duration = Duration::from_secs(2);

/// Everything the fuzzer saw of one case's connection.
#[derive(Debug, Clone, Default)]
pub struct CaseRecord {
    /// The judged facts.
    pub obs: Observation,
    /// The close the fuzzer sent: code and reason.
    pub local_close: Option<(Option<u16>, String)>,
    /// The client's close reason.
    pub remote_close_reason: Option<String>,
    /// Why the close was not clean.
    pub was_not_clean_reason: Option<String>,
    /// The fuzzer gave up waiting for the close reply.
    pub was_close_handshake_timeout: bool,
    /// Milliseconds from open to TCP loss.
    pub duration_ms: u64,
    /// The client's request.
    pub http_request: String,
    /// The fuzzer's response.
    pub http_response: String,
    /// Frames received / sent by opcode.
    pub rx_frame_stats: BTreeMap<u8, u64>,
    /// Frames sent by opcode.
    pub tx_frame_stats: BTreeMap<u8, u64>,
    /// Reads by size.
    pub rx_octet_stats: BTreeMap<usize, u64>,
    /// Writes by size.
    pub tx_octet_stats: BTreeMap<usize, u64>,
    /// The wire log rows.
    pub wirelog: Vec<Value>,
}

/// PONGs not yet written to a peer above which its PINGs are no longer answered and
/// its connection is dropped (each PONG is at most 127 bytes: about 1 MiB).
const MAX_UNREAD_REPLIES: usize = 8192;

enum Out {
    /// A PONG answering the peer's PING.
    Reply(Vec<u8>),
    Bytes(Vec<u8>, bool),
    Chopped(Vec<u8>, usize),
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Step(Option<&'static str>),
    Kill,
    CloseAfter,
    Flow,
    CloseHandshake,
}

struct Msg {
    binary: bool,
    data: PayloadBuilder,
    utf8: Utf8Stream,
}

struct Frame {
    header: FrameHeader,
    head: Vec<u8>,
    control: Vec<u8>,
}

/// Sequence (9.7/9.8) progress.
struct Seq {
    sent: u32,
    expect: Payload,
}

struct Conn<'a> {
    case: &'a Case,
    rec: CaseRecord,
    out: mpsc::UnboundedSender<Out>,
    decoder: FrameDecoder,
    frame: Option<Frame>,
    msg: Option<Msg>,
    steps: std::collections::VecDeque<Step>,
    timers: Vec<(Instant, Timer)>,
    sent_close: bool,
    got_close: bool,
    failed: bool,
    drop_now: bool,
    /// PONGs handed to the writer and not yet written: a peer that pings and never
    /// reads makes them pile up.
    pending_replies: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The frame being written is such a reply.
    writing_reply: bool,
    wirelog: bool,
    seq: Option<Seq>,
    t0: Instant,
}

/// Plays `case` on `stream`, whose request `req` was read already (`leftover`: bytes
/// that followed it); answers with 101 first.
pub async fn play<S>(
    case: &Case,
    stream: S,
    req: &Request,
    leftover: Vec<u8>,
    reads: &[usize],
) -> CaseRecord
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut rec = CaseRecord {
        http_request: req.raw.clone(),
        http_response: req.response_101(),
        ..Default::default()
    };
    for r in reads {
        *rec.rx_octet_stats.entry(*r).or_default() += 1;
    }
    if wr.write_all(rec.http_response.as_bytes()).await.is_err() {
        return rec;
    }
    *rec.tx_octet_stats.entry(rec.http_response.len()).or_default() += 1;
    rec.obs.open = true;
    let (tx, rx) = mpsc::unbounded_channel();
    let pending_replies = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = tokio::spawn(write_loop(wr, rx, pending_replies.clone()));
    let mut c = Conn {
        case,
        rec,
        out: tx,
        decoder: FrameDecoder::new(),
        frame: None,
        msg: None,
        steps: Default::default(),
        timers: Vec::new(),
        sent_close: false,
        got_close: false,
        failed: false,
        drop_now: false,
        pending_replies,
        writing_reply: false,
        wirelog: case.wirelog,
        seq: None,
        t0: Instant::now(),
    };
    c.start();
    if !leftover.is_empty() {
        c.incoming(&leftover);
    }
    let mut buf = vec![0u8; 64 * 1024];
    while !c.drop_now {
        let next = c.timers.iter().map(|(t, _)| *t).min();
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    *c.rec.rx_octet_stats.entry(n).or_default() += 1;
                    c.incoming(&buf[..n]);
                }
            },
            _ = sleep_until_opt(next) => c.fire(),
        }
    }
    let dropped = c.drop_now;
    let mut rec = c.finish();
    rec.obs.dropped_by_me = dropped;
    // The writer ends once every sender is gone or it is told to shut down; a client
    // that reads nothing more cannot hold the case.
    let mut writer = writer;
    if tokio::time::timeout(DROP_FLUSH, &mut writer).await.is_err() {
        writer.abort();
    }
    drop(rd);
    rec
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Out>,
    pending_replies: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    while let Some(o) = rx.recv().await {
        let ok = match o {
            Out::Reply(b) => {
                let r = wr.write_all(&b).await.is_ok();
                pending_replies.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                r
            }
            Out::Bytes(b, sync) => {
                let r = wr.write_all(&b).await.is_ok();
                if sync {
                    let _ = wr.flush().await;
                    tokio::task::yield_now().await;
                }
                r
            }
            Out::Chopped(b, n) => {
                let mut ok = true;
                for piece in b.chunks(n.max(1)) {
                    if wr.write_all(piece).await.is_err() {
                        ok = false;
                        break;
                    }
                    let _ = wr.flush().await;
                    tokio::task::yield_now().await;
                }
                ok
            }
            Out::Shutdown => break,
        };
        if !ok {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

fn hex_head(b: &[u8], len: usize) -> String {
    let h: String = b.iter().take(WIRELOG_OCTETS).map(|x| format!("{x:02x}")).collect();
    if len > WIRELOG_OCTETS { format!("{h} ...") } else { h }
}

fn frame_text(head: &[u8], len: u64) -> Value {
    let p = Payload { len, sha1: [0; 20], head: head.to_vec() };
    json!([len, render_payload(&p)])
}

/// Valid close codes for the fuzzer (autobahn 0.10.9): 1012–1014 are not.
fn valid_close_code(c: u16) -> bool {
    matches!(c, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

impl Conn<'_> {
    fn log(&mut self, row: Value) {
        if !self.wirelog {
            return;
        }
        if self.rec.wirelog.len() + 1 >= WIRELOG_ROWS {
            self.rec.wirelog.push(json!(["WLM", false]));
            self.wirelog = false;
            return;
        }
        self.rec.wirelog.push(row);
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn is_open(&self) -> bool {
        !self.sent_close && !self.got_close && !self.drop_now
    }

    fn timer(&mut self, ms: u64, t: Timer) {
        let at = self.now() + Duration::from_millis(ms);
        self.timers.push((at, t));
    }

    fn write(&mut self, bytes: Vec<u8>, sync: bool, chop: Option<usize>) {
        match chop {
            Some(n) => {
                for p in bytes.chunks(n.max(1)) {
                    *self.rec.tx_octet_stats.entry(p.len()).or_default() += 1;
                    let row = json!(["TO", [p.len(), hex_head(p, p.len())], true]);
                    self.log(row);
                }
                let _ = self.out.send(Out::Chopped(bytes, n));
            }
            None => {
                *self.rec.tx_octet_stats.entry(bytes.len()).or_default() += 1;
                let row = json!(["TO", [bytes.len(), hex_head(&bytes, bytes.len())], sync]);
                self.log(row);
                let out = if self.writing_reply {
                    self.pending_replies.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Out::Reply(bytes)
                } else {
                    Out::Bytes(bytes, sync)
                };
                let _ = self.out.send(out);
            }
        }
    }

    fn send_frame(&mut self, f: &FrameSpec) {
        let h = FrameHeader::from_b0(
            (u8::from(f.fin) << 7) | ((f.rsv & 7) << 4) | (f.opcode & 0x0F),
            f.payload.len() as u64,
        );
        let row = json!([
            "TF",
            frame_text(&f.payload[..f.payload.len().min(WIRELOG_OCTETS)], f.payload.len() as u64),
            f.opcode,
            f.fin,
            f.rsv,
            null,
            null,
            f.chop,
            f.sync
        ]);
        self.log(row);
        *self.rec.tx_frame_stats.entry(f.opcode).or_default() += 1;
        if f.opcode < 3 && self.is_open() {
            self.rec.obs.tx_data_frames[f.opcode as usize] += 1;
        }
        if f.opcode == 8 && f.rsv == 0 && f.fin && !self.sent_close {
            // A scripted close is the fuzzer's close (one with RSV bits is only bytes
            // on the wire, as Autobahn's raw `sendFrame` is: 3.7).
            let (code, reason) = parse_close(&f.payload);
            self.note_close_sent(code, reason);
        }
        self.write(encode_frame(&h, &f.payload), f.sync, f.chop);
    }

    fn note_close_sent(&mut self, code: Option<u16>, reason: String) {
        if self.sent_close {
            return;
        }
        self.sent_close = true;
        if !self.got_close {
            self.rec.obs.closed_by_me = true;
            self.timer(CLOSE_HANDSHAKE_TIMEOUT.as_millis() as u64, Timer::CloseHandshake);
            self.log(json!(["TI", CLOSE_HANDSHAKE_TIMEOUT.as_secs_f64()]));
        }
        self.rec.local_close = Some((code, reason));
    }

    /// Sends a close (`sendClose`): nothing if one was sent already.
    fn close(&mut self, code: Option<u16>, reason: &str) {
        if self.sent_close {
            return;
        }
        let payload = match code {
            Some(c) => [&c.to_be_bytes()[..], reason.as_bytes()].concat(),
            None => Vec::new(),
        };
        self.send_frame(&FrameSpec {
            opcode: 8,
            payload,
            fin: true,
            rsv: 0,
            chop: None,
            sync: false,
        });
    }

    /// `failConnection`: the fuzzer closes because of the client (or its kill timer).
    fn fail(&mut self, code: u16, reason: &str) {
        if self.failed || self.drop_now {
            return;
        }
        self.failed = true;
        self.rec.obs.failed_by_me = true;
        if self.sent_close {
            return;
        }
        if self.got_close {
            // The client's close came first but was invalid: answer, then drop.
            self.close(Some(code), reason);
            self.rec.obs.closed_by_me = true;
            self.drop_now = true;
            return;
        }
        self.close(Some(code), reason);
    }

    fn start(&mut self) {
        let case = self.case;
        match &case.plan {
            Plan::Script { steps, .. } => {
                self.steps = steps.iter().cloned().collect();
                self.run_steps();
            }
            Plan::Limits { binary, pattern, len, frame, chop, timeout_ms } => {
                let payload = super::catalogue::repeat(pattern, *len);
                let op = if *binary { 2 } else { 1 };
                let bytes = if *frame == 0 {
                    encode_frame(
                        &FrameHeader::new(Opcode::from_u8(op), payload.len() as u64),
                        &payload,
                    )
                } else {
                    fragment(&payload, op, *frame, &mut self.rec.tx_frame_stats)
                };
                if *frame == 0 {
                    *self.rec.tx_frame_stats.entry(op).or_default() += 1;
                }
                self.write(bytes, false, if *chop > 0 { Some(*chop) } else { None });
                self.timer(*timeout_ms, Timer::Flow);
            }
            Plan::Sequence { binary, len, timeout_ms, .. } => {
                let payload = vec![if *binary { 0xfe } else { b'*' }; *len];
                self.seq = Some(Seq { sent: 0, expect: Payload::of(&payload) });
                self.send_next();
                self.timer(*timeout_ms, Timer::Flow);
            }
            Plan::Deflate => self.close(Some(1000), ""),
        }
    }

    fn send_next(&mut self) {
        let Plan::Sequence { binary, len, .. } = &self.case.plan else { return };
        let payload = vec![if *binary { 0xfe } else { b'*' }; *len];
        let op = if *binary { 2 } else { 1 };
        *self.rec.tx_frame_stats.entry(op).or_default() += 1;
        if let Some(s) = &mut self.seq {
            s.sent += 1;
        }
        self.write(
            encode_frame(&FrameHeader::new(Opcode::from_u8(op), payload.len() as u64), &payload),
            false,
            None,
        );
    }

    fn run_steps(&mut self) {
        while let Some(step) = self.steps.pop_front() {
            match step {
                Step::Frame(f) => self.send_frame(&f),
                Step::Raw(b) => self.write(b, true, None),
                Step::Fragmented { payload, binary, frame } => {
                    let op = if binary { 2 } else { 1 };
                    let total = payload.len().div_ceil(frame.max(1)).max(1);
                    for (i, chunk) in payload.chunks(frame.max(1)).enumerate() {
                        let f = FrameSpec {
                            opcode: if i == 0 { op } else { 0 },
                            payload: chunk.to_vec(),
                            fin: i + 1 == total,
                            rsv: 0,
                            chop: None,
                            sync: false,
                        };
                        self.send_frame(&f);
                    }
                }
                Step::Delay { ms, tag } => {
                    self.log(json!(["CT", ms as f64 / 1000.0, tag]));
                    self.timer(ms, Timer::Step(tag));
                    return;
                }
            }
        }
        if let Plan::Script { end, .. } = &self.case.plan {
            match *end {
                End::KillAfter(ms) => {
                    self.log(json!(["KL", ms as f64 / 1000.0]));
                    self.timer(ms, Timer::Kill);
                }
                End::CloseAfter(ms) => {
                    self.log(json!(["TI", ms as f64 / 1000.0]));
                    self.timer(ms, Timer::CloseAfter);
                }
            }
        }
    }

    fn fire(&mut self) {
        let now = self.now();
        let Some(i) = self
            .timers
            .iter()
            .enumerate()
            .filter(|(_, (t, _))| *t <= now)
            .min_by_key(|(_, (t, _))| *t)
            .map(|(i, _)| i)
        else {
            return;
        };
        let (_, t) = self.timers.remove(i);
        match t {
            Timer::Step(tag) => {
                self.log(json!(["CTE", tag]));
                if self.is_open() {
                    if let Some(tag) = tag {
                        self.record(Event::Timeout(tag));
                    }
                    self.run_steps();
                }
            }
            Timer::Kill => {
                self.log(json!(["KLE"]));
                if !self.drop_now && !self.sent_close {
                    self.fail(1001, "Going Away");
                }
            }
            Timer::CloseAfter | Timer::Flow => {
                self.log(json!(["TIE"]));
                if self.is_open() {
                    self.close(None, "");
                }
            }
            Timer::CloseHandshake => {
                if !self.drop_now && !self.got_close {
                    self.rec.was_close_handshake_timeout = true;
                    self.rec.was_not_clean_reason = Some(
                        "WebSocket closing handshake timeout (peer did not respond in time)".into(),
                    );
                    self.drop_now = true;
                }
            }
        }
    }

    fn record(&mut self, e: Event) {
        let finishable =
            matches!(self.case.plan, Plan::Script { .. }) && !matches!(e, Event::Timeout(_));
        if self.rec.obs.received.len() >= MAX_RECEIVED {
            return;
        }
        self.rec.obs.received.push(e);
        // finishWhenDone: every expected list is met and the fuzzer is to close.
        if finishable
            && self.case.expected_close.closed_by_me
            && !self.case.expected.is_empty()
            && self.case.expected.iter().all(|(_, ev)| *ev == self.rec.obs.received)
            && self.is_open()
        {
            let code = self.case.expected_close.codes.first().copied();
            self.close(code, "");
        }
    }

    fn incoming(&mut self, bytes: &[u8]) {
        let row = json!(["RO", [bytes.len(), hex_head(bytes, bytes.len())]]);
        self.log(row);
        let mut input = bytes;
        loop {
            if self.drop_now {
                return;
            }
            let (n, got) = self.decoder.next(input);
            input = &input[n..];
            match got {
                None => return,
                Some(Decoded::Header { header, .. }) => self.on_header(header),
                Some(Decoded::Payload { bytes, offset }) => {
                    let mut piece = bytes.to_vec();
                    if let Some(m) = self.frame.as_ref().and_then(|f| f.header.mask) {
                        apply_mask(m, offset, &mut piece);
                    }
                    self.on_payload(&piece);
                }
                Some(Decoded::End) => self.on_end(),
            }
        }
    }

    fn on_header(&mut self, h: FrameHeader) {
        *self.rec.rx_frame_stats.entry(h.opcode.as_u8()).or_default() += 1;
        self.frame = Some(Frame { header: h, head: Vec::new(), control: Vec::new() });
        if self.failed {
            return;
        }
        let problem = if h.mask.is_none() {
            Some("unmasked client-to-server frame")
        } else if h.rsv != 0 {
            Some("RSV != 0 and no extension negotiated")
        } else if matches!(h.opcode, Opcode::Reserved(_)) {
            Some("received frame with reserved opcode")
        } else if h.opcode.is_control() && (!h.fin || h.len > 125) {
            Some("fragmented or oversized control frame")
        } else if h.opcode == Opcode::Continuation && self.msg.is_none() {
            Some("received continuation data frame outside fragmented message")
        } else if matches!(h.opcode, Opcode::Text | Opcode::Binary) && self.msg.is_some() {
            Some("received non-continuation data frame while inside fragmented message")
        } else {
            None
        };
        if let Some(p) = problem {
            self.fail(1002, p);
            return;
        }
        if matches!(h.opcode, Opcode::Text | Opcode::Binary) {
            let data = if matches!(self.case.plan, Plan::Limits { .. }) {
                PayloadBuilder::length_only()
            } else {
                PayloadBuilder::default()
            };
            self.msg =
                Some(Msg { binary: h.opcode == Opcode::Binary, data, utf8: Utf8Stream::new() });
        }
    }

    fn on_payload(&mut self, piece: &[u8]) {
        let Some(f) = &mut self.frame else { return };
        let room = WIRELOG_OCTETS.saturating_sub(f.head.len());
        f.head.extend_from_slice(&piece[..room.min(piece.len())]);
        if self.failed {
            return;
        }
        if f.header.opcode.is_control() {
            f.control.extend_from_slice(piece);
            return;
        }
        let Some(m) = &mut self.msg else { return };
        m.data.push(piece);
        if !m.binary
            && let Err(at) = m.utf8.feed(piece)
        {
            {
                let reason = format!(
                    "encountered invalid UTF-8 while processing text message at payload octet index {at}"
                );
                self.fail(1007, &reason);
            }
        }
    }

    fn on_end(&mut self) {
        let Some(f) = self.frame.take() else { return };
        let h = f.header;
        let mask = h.mask.map(|m| m.iter().map(|b| format!("{b:02x}")).collect::<String>());
        self.log(json!([
            "RF",
            frame_text(&f.head, h.len),
            h.opcode.as_u8(),
            h.fin,
            h.rsv,
            h.mask.is_some(),
            mask
        ]));
        if self.failed && h.opcode != Opcode::Close {
            return;
        }
        match h.opcode {
            Opcode::Ping => {
                let unread = self.pending_replies.load(std::sync::atomic::Ordering::SeqCst);
                if unread >= MAX_UNREAD_REPLIES {
                    // The peer pings and does not read: its PONGs would queue without
                    // end, so its connection is dropped instead.
                    self.drop_now = true;
                    return;
                }
                if !self.sent_close {
                    self.writing_reply = true;
                    self.send_frame(&FrameSpec {
                        opcode: 10,
                        payload: f.control.clone(),
                        fin: true,
                        rsv: 0,
                        chop: None,
                        sync: false,
                    });
                    self.writing_reply = false;
                }
                self.record(Event::Ping(Payload::of(&f.control)));
            }
            Opcode::Pong => self.record(Event::Pong(Payload::of(&f.control))),
            Opcode::Close => self.on_close(&f.control),
            _ if h.fin => {
                let Some(m) = self.msg.take() else { return };
                if !m.binary && !m.utf8.is_complete() {
                    let at = m.data.len();
                    self.fail(1007, &format!("encountered invalid UTF-8 while processing text message at payload octet index {at}"));
                    return;
                }
                let (binary, payload) = (m.binary, m.data.finish());
                self.on_message(payload, binary);
            }
            _ => {}
        }
    }

    fn on_message(&mut self, payload: Payload, binary: bool) {
        match &self.case.plan {
            Plan::Limits { binary: want, len, .. } => {
                let (want, len) = (*want, *len);
                if self.rec.obs.flow.is_none() {
                    let ok = binary == want && payload.len == len as u64;
                    let ms = self.t0.elapsed().as_millis();
                    self.rec.obs.flow = Some(if ok {
                        (
                            Status::Ok,
                            format!(
                                "Received echo of the right type and length {len} after {ms} ms."
                            ),
                        )
                    } else {
                        (
                            Status::Failed,
                            format!(
                                "Received {} message of length {}, expected {} of length {len}.",
                                kind(binary),
                                payload.len,
                                kind(want)
                            ),
                        )
                    });
                    self.close(Some(1000), "");
                }
            }
            Plan::Sequence { binary: want, count, .. } => {
                let (want, count) = (*want, *count);
                let Some(s) = &self.seq else { return };
                let (sent, right) = (s.sent, binary == want && payload == s.expect);
                if self.rec.obs.flow.is_some() {
                    return;
                }
                if !right {
                    self.rec.obs.flow = Some((
                        Status::Failed,
                        format!("Echo {sent} of {count} was not the message sent."),
                    ));
                    self.close(Some(1000), "");
                } else if sent >= count {
                    let ms = self.t0.elapsed().as_millis();
                    self.rec.obs.flow =
                        Some((Status::Ok, format!("Received all {count} echoes in {ms} ms.")));
                    self.close(Some(1000), "");
                } else if self.is_open() {
                    self.send_next();
                }
            }
            _ => self.record(Event::Message { payload, binary }),
        }
    }

    fn on_close(&mut self, p: &[u8]) {
        if self.got_close {
            return;
        }
        if p.len() == 1 {
            self.got_close = true;
            self.fail(1002, "received close frame with payload length 1");
            return;
        }
        let (code, reason) = parse_close(p);
        let mut utf8 = Utf8Stream::new();
        let reason_ok = p.len() < 2 || (utf8.feed(&p[2..]).is_ok() && utf8.is_complete());
        if code.is_some_and(|c| !valid_close_code(c)) {
            self.got_close = true;
            self.fail(1002, "invalid close code");
            return;
        }
        if !reason_ok {
            self.got_close = true;
            self.fail(1007, "invalid close reason (non-UTF-8 payload)");
            return;
        }
        self.got_close = true;
        self.rec.obs.remote_close_code = code;
        self.rec.remote_close_reason = if p.len() > 2 { Some(reason) } else { None };
        if !self.sent_close {
            self.close(Some(1000), "");
        }
        self.rec.obs.was_clean = true;
        self.drop_now = true;
    }

    fn finish(mut self) -> CaseRecord {
        self.rec.duration_ms = self.t0.elapsed().as_millis() as u64;
        if !self.rec.obs.was_clean && self.rec.was_not_clean_reason.is_none() {
            self.rec.was_not_clean_reason = Some(if self.drop_now {
                "I dropped the WebSocket TCP connection".into()
            } else {
                "peer dropped the TCP connection without previous WebSocket closing handshake"
                    .into()
            });
        }
        if self.drop_now {
            let _ = self.out.send(Out::Shutdown);
        }
        self.rec
    }
}

fn kind(binary: bool) -> &'static str {
    if binary { "binary" } else { "text" }
}

/// A close payload's code and reason (lossy).
fn parse_close(p: &[u8]) -> (Option<u16>, String) {
    if p.len() < 2 {
        return (None, String::new());
    }
    (Some(u16::from_be_bytes([p[0], p[1]])), String::from_utf8_lossy(&p[2..]).into_owned())
}

/// A message split into frames of `size` bytes, encoded back to back.
fn fragment(payload: &[u8], op: u8, size: usize, stats: &mut BTreeMap<u8, u64>) -> Vec<u8> {
    let chunks: Vec<&[u8]> = payload.chunks(size.max(1)).collect();
    let mut out = Vec::with_capacity(payload.len() + chunks.len() * 14);
    let last = chunks.len().saturating_sub(1);
    for (i, c) in chunks.iter().enumerate() {
        let o = if i == 0 { op } else { 0 };
        *stats.entry(o).or_default() += 1;
        let mut h = FrameHeader::new(Opcode::from_u8(o), c.len() as u64);
        h.fin = i == last;
        out.extend_from_slice(&h.encode());
        out.extend_from_slice(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{CaseId, find, parse_request};
    use tokio::io::duplex;

    fn case(id: &str) -> &'static Case {
        find(&CaseId::parse(id).unwrap()).unwrap()
    }

    fn request() -> Request {
        parse_request(b"GET /runCase?case=1&agent=t HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap()
    }

    fn masked(op: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = FrameHeader::new(Opcode::from_u8(op), payload.len() as u64);
        h.mask = Some([1, 2, 3, 4]);
        encode_frame(&h, payload)
    }

    /// A client that reads everything and never writes: killAfter(1) sends 1001, the
    /// close handshake times out 1 s later, all in virtual time.
    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_killed_with_1001_then_dropped_after_the_close_timeout() {
        let (server, mut client) = duplex(1 << 20);
        let reader = tokio::spawn(async move {
            let mut v = Vec::new();
            let _ = client.read_to_end(&mut v).await;
            v
        });
        let rec = play(case("1.1.1"), server, &request(), Vec::new(), &[100]).await;
        assert!(rec.obs.closed_by_me && rec.obs.failed_by_me && rec.obs.dropped_by_me);
        assert!(!rec.obs.was_clean && rec.was_close_handshake_timeout);
        assert_eq!(rec.local_close, Some((Some(1001), "Going Away".to_string())));
        assert_eq!(rec.duration_ms, 2000);
        let wire = reader.await.unwrap();
        assert!(wire.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(wire.ends_with(&[
            0x81, 0x00, 0x88, 0x0c, 0x03, 0xe9, b'G', b'o', b'i', b'n', b'g', b' ', b'A', b'w',
            b'a', b'y'
        ]));
    }

    /// A peer that floods PINGs and never reads is dropped once its unread PONGs reach
    /// the bound, instead of queueing replies without end.
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_pings_and_never_reads_is_dropped() {
        let (server, mut client) = duplex(4096);
        let flood = tokio::spawn(async move {
            let ping = masked(9, b"0123456789");
            for _ in 0..(MAX_UNREAD_REPLIES + 2000) {
                if client.write_all(&ping).await.is_err() {
                    break;
                }
            }
            client
        });
        let rec = play(case("1.1.1"), server, &request(), Vec::new(), &[100]).await;
        assert!(rec.obs.dropped_by_me, "dropped");
        assert!(!rec.obs.was_clean);
        // At once, not by the case's own kill and close-handshake timeout later.
        assert!(!rec.was_close_handshake_timeout);
        assert_eq!(rec.duration_ms, 0);
        drop(flood.await.unwrap());
    }

    /// An echo, then the fuzzer's close (finishWhenDone) answered: clean, code 1000.
    #[tokio::test(start_paused = true)]
    async fn an_echo_finishes_the_case_and_a_close_reply_makes_it_clean() {
        let (server, mut client) = duplex(1 << 20);
        let peer = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            // The 101 and the text frame `*`×125.
            while !got.windows(2).any(|w| w == [0x81, 0x7d]) {
                let n = client.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            client.write_all(&masked(1, &[b'*'; 125])).await.unwrap();
            // Wait for the close, answer it.
            let mut seen = Vec::new();
            loop {
                let n = client.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                if seen.windows(4).any(|w| w == [0x88, 0x02, 0x03, 0xe8]) {
                    client.write_all(&masked(8, &1000u16.to_be_bytes())).await.unwrap();
                    break;
                }
            }
        });
        let rec = play(case("1.1.2"), server, &request(), Vec::new(), &[100]).await;
        peer.await.unwrap();
        let v = crate::conformance::judge(case("1.1.2"), &rec.obs);
        assert_eq!((v.behavior, v.behavior_close), (Status::Ok, Status::Ok));
        assert!(rec.obs.was_clean && rec.obs.closed_by_me && !rec.obs.failed_by_me);
        assert_eq!(rec.obs.remote_close_code, Some(1000));
        assert_eq!(rec.rx_frame_stats.get(&1), Some(&1));
    }

    /// Protocol violations of the client's frames make the fuzzer fail the connection.
    #[tokio::test(start_paused = true)]
    async fn an_unmasked_frame_and_bad_utf8_are_failed_by_the_fuzzer() {
        for (bytes, code) in [
            (encode_frame(&FrameHeader::new(Opcode::Text, 2), b"hi"), 1002u16),
            (masked(1, &[0xce, 0xba, 0xff]), 1007),
            (masked(8, &1005u16.to_be_bytes()), 1002),
        ] {
            let (server, mut client) = duplex(1 << 20);
            client.write_all(&bytes).await.unwrap();
            let keep = tokio::spawn(async move {
                let mut v = Vec::new();
                let _ = client.read_to_end(&mut v).await;
            });
            let rec = play(case("2.1"), server, &request(), Vec::new(), &[100]).await;
            assert!(rec.obs.failed_by_me && rec.obs.closed_by_me, "{bytes:02x?}");
            assert_eq!(rec.local_close.as_ref().and_then(|(c, _)| *c), Some(code), "{bytes:02x?}");
            keep.await.unwrap();
        }
    }
}
