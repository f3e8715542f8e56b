//! Autobahn|Testsuite's fuzzingserver catalogue as data: 517 cases in table-driven
//! families, each with what the fuzzer sends, what it expects back and how the case
//! ends (`../shared/spec/autobahn.md` §1).

use std::sync::OnceLock;

use sha1::{Digest, Sha1};

use super::id::CaseId;

/// A payload as the judge compares it: its length and SHA-1, and its first bytes for
/// the report (a 16 MiB echo is never held whole).
#[derive(Clone, PartialEq, Eq)]
pub struct Payload {
    /// Length in bytes.
    pub len: u64,
    /// SHA-1 of the whole payload.
    pub sha1: [u8; 20],
    /// The first [`Payload::HEAD`] bytes.
    pub head: Vec<u8>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes: {})", self.len, render_payload(self))
    }
}

impl Payload {
    /// Bytes kept for reports.
    pub const HEAD: usize = 256;

    /// The payload of `bytes`.
    pub fn of(bytes: &[u8]) -> Payload {
        let mut b = PayloadBuilder::default();
        b.push(bytes);
        b.finish()
    }
}

/// Builds a [`Payload`] from pieces as they arrive, in constant memory.
#[derive(Default, Clone)]
pub struct PayloadBuilder {
    len: u64,
    sha1: Sha1,
    head: Vec<u8>,
    no_hash: bool,
}

impl PayloadBuilder {
    /// A builder that keeps length and head only (its SHA-1 stays that of nothing):
    /// for messages judged by length alone (9.1–9.6).
    pub fn length_only() -> Self {
        PayloadBuilder { no_hash: true, ..Default::default() }
    }

    /// Adds the next piece.
    pub fn push(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if !self.no_hash {
            self.sha1.update(bytes);
        }
        let room = Payload::HEAD.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    /// Bytes so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payload.
    pub fn finish(self) -> Payload {
        Payload { len: self.len, sha1: self.sha1.finalize().into(), head: self.head }
    }
}

/// How a payload appears in `expected`/`received`: text up to 60 characters (then
/// `" ..."`), and bytes that are not UTF-8 as `0x` + hex.
pub fn render_payload(p: &Payload) -> String {
    let complete = p.len as usize == p.head.len();
    // A head cut inside a character is still text up to the cut.
    let text = match std::str::from_utf8(&p.head) {
        Ok(t) => Some(t),
        Err(e) if !complete && e.error_len().is_none() => {
            std::str::from_utf8(&p.head[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(t) => {
            let n = t.chars().count();
            if n > 60 || !complete {
                let cut: String = t.chars().take(60).collect();
                format!("{cut} ...")
            } else {
                t.to_string()
            }
        }
        None => {
            let hex: String = p.head.iter().take(30).map(|b| format!("{b:02x}")).collect();
            if p.len > 30 { format!("0x{hex} ...") } else { format!("0x{hex}") }
        }
    }
}

/// An event the fuzzer records (`received`) or expects (`expected`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete text or binary message.
    Message {
        /// Its payload.
        payload: Payload,
        /// Binary (not text).
        binary: bool,
    },
    /// A ping.
    Ping(Payload),
    /// A pong.
    Pong(Payload),
    /// A delayed step of the case ran while the connection was open.
    Timeout(&'static str),
}

impl Event {
    /// A text message.
    pub fn text(s: &[u8]) -> Event {
        Event::Message { payload: Payload::of(s), binary: false }
    }
    /// A binary message.
    pub fn binary(s: &[u8]) -> Event {
        Event::Message { payload: Payload::of(s), binary: true }
    }
    /// A pong.
    pub fn pong(s: &[u8]) -> Event {
        Event::Pong(Payload::of(s))
    }

    /// The JSON form of Autobahn's reports: `["message", p, binary]`, `["pong", p]`, ….
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Event::Message { payload, binary } => {
                json!(["message", render_payload(payload), binary])
            }
            Event::Ping(p) => json!(["ping", render_payload(p)]),
            Event::Pong(p) => json!(["pong", render_payload(p)]),
            Event::Timeout(t) => json!(["timeout", t]),
        }
    }
}

/// One frame the fuzzer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSpec {
    /// Opcode (any four-bit value).
    pub opcode: u8,
    /// Payload.
    pub payload: Vec<u8>,
    /// FIN bit.
    pub fin: bool,
    /// RSV bits (0–7).
    pub rsv: u8,
    /// Written in pieces of this many bytes, each its own write.
    pub chop: Option<usize>,
    /// Written as one write of its own.
    pub sync: bool,
}

/// One step of a scripted case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A frame.
    Frame(FrameSpec),
    /// Raw bytes (a piece of a frame), as one write.
    Raw(Vec<u8>),
    /// A message split into frames of at most `frame` bytes (the server's
    /// `autoFragmentSize`).
    Fragmented {
        /// Payload.
        payload: Vec<u8>,
        /// Binary.
        binary: bool,
        /// Bytes per frame.
        frame: usize,
    },
    /// Waits; then, if the connection is still open, records `("timeout", tag)` when it
    /// has a tag, and goes on.
    Delay {
        /// Milliseconds.
        ms: u64,
        /// The tag recorded.
        tag: Option<&'static str>,
    },
}

/// How a scripted case ends once its steps are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `killAfter`: after the time, fail the connection with close 1001.
    KillAfter(u64),
    /// `closeAfter`: after the time, send an empty close.
    CloseAfter(u64),
}

/// What a case does once the connection is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Frames and delays, then an ending.
    Script {
        /// Steps in order.
        steps: Vec<Step>,
        /// The ending, started after the last step.
        end: End,
    },
    /// 9.1–9.6: one big message; OK when an echo of the right type and length arrives
    /// within the time, then close 1000; otherwise `closeAfter(timeout)`.
    Limits {
        /// Binary.
        binary: bool,
        /// The repeated pattern.
        pattern: &'static [u8],
        /// Message length.
        len: usize,
        /// Split into frames of this size (0: one frame).
        frame: usize,
        /// Written in chops of this size (0: not chopped).
        chop: usize,
        /// Milliseconds.
        timeout_ms: u64,
    },
    /// 9.7/9.8: `count` messages one after another, each sent once the previous echo
    /// arrived; any wrong echo fails.
    Sequence {
        /// Binary.
        binary: bool,
        /// Message length.
        len: usize,
        /// Messages.
        count: u32,
        /// Milliseconds.
        timeout_ms: u64,
    },
    /// 12/13: needs permessage-deflate; without it the case is UNIMPLEMENTED and the
    /// fuzzer closes with 1000 at once.
    Deflate,
}

/// What the client must do about closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedClose {
    /// The fuzzer sends the first close.
    pub closed_by_me: bool,
    /// Close codes the client may send (none: always fine).
    pub codes: Vec<u16>,
    /// Close frames must go both ways.
    pub require_clean: bool,
    /// A close by the wrong endpoint fails `behavior` too.
    pub wrong_endpoint_fatal: bool,
}

impl ExpectedClose {
    /// "me,[1000],clean".
    pub fn me_clean() -> Self {
        ExpectedClose {
            closed_by_me: true,
            codes: vec![1000],
            require_clean: true,
            wrong_endpoint_fatal: false,
        }
    }
    /// "peer,[code]": the client must fail the connection.
    pub fn peer(code: u16) -> Self {
        ExpectedClose {
            closed_by_me: false,
            codes: vec![code],
            require_clean: false,
            wrong_endpoint_fatal: false,
        }
    }
    /// The fuzzer closes, the client's code must be in `codes`, clean or not.
    pub fn me(codes: &[u16], clean: bool) -> Self {
        ExpectedClose {
            closed_by_me: true,
            codes: codes.to_vec(),
            require_clean: clean,
            wrong_endpoint_fatal: false,
        }
    }
}

/// How the verdict is reached beyond comparing events and close behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Events and close, as in §1.1.
    Events,
    /// 7.x: a WRONG CODE close fails `behavior` too.
    CloseCodeFatal,
    /// 7.1.6, 7.13.x: always INFORMATIONAL.
    Informational,
    /// 10.1.1: also checks the fuzzer's own frame counts.
    FrameCount,
    /// 9.x: the plan's own outcome.
    Flow,
    /// 12/13.
    Deflate,
}

/// One case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its id.
    pub id: CaseId,
    /// What the fuzzer does (HTML in reports).
    pub description: String,
    /// What a conforming client does (HTML in reports).
    pub expectation: String,
    /// What the fuzzer does once open.
    pub plan: Plan,
    /// Event lists by outcome (`OK`, `NON-STRICT`); empty for 9, 12 and 13.
    pub expected: Vec<(&'static str, Vec<Event>)>,
    /// The close expectation.
    pub expected_close: ExpectedClose,
    /// The verdict rule.
    pub rule: Rule,
    /// Whether the duration is part of the verdict's display (9.x, 12/13).
    pub report_time: bool,
    /// Whether the wire log is kept (not for 9.x).
    pub wirelog: bool,
}

impl Case {
    /// The description up to its first `<`, whitespace collapsed (`/getCaseInfo`).
    pub fn short_description(&self) -> String {
        let d = self.description.split('<').next().unwrap_or("");
        d.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Whether the fuzzer waits on its own clock for long (9.x).
    pub fn max_wait_ms(&self) -> u64 {
        match &self.plan {
            Plan::Script { steps, end } => {
                let delays: u64 = steps
                    .iter()
                    .map(|s| if let Step::Delay { ms, .. } = s { *ms } else { 0 })
                    .sum();
                let e = match end {
                    End::KillAfter(t) | End::CloseAfter(t) => *t,
                };
                delays + e
            }
            Plan::Limits { timeout_ms, .. } | Plan::Sequence { timeout_ms, .. } => *timeout_ms,
            Plan::Deflate => 0,
        }
    }
}

/// The category names, by number.
pub fn category_name(cat: u16) -> &'static str {
    match cat {
        1 => "Framing",
        2 => "Pings/Pongs",
        3 => "Reserved Bits",
        4 => "Opcodes",
        5 => "Fragmentation",
        6 => "UTF-8 Handling",
        7 => "Close Handling",
        9 => "Limits/Performance",
        10 => "Misc",
        12 => "WebSocket Compression (different payloads)",
        13 => "WebSocket Compression (different parameters)",
        _ => "",
    }
}

/// Every case, sorted by id.
pub fn catalogue() -> &'static [Case] {
    static CAT: OnceLock<Vec<Case>> = OnceLock::new();
    CAT.get_or_init(build)
}

/// The case with this id.
pub fn find(id: &CaseId) -> Option<&'static Case> {
    let cat = catalogue();
    cat.binary_search_by(|c| c.id.cmp(id)).ok().map(|i| &cat[i])
}

// ---- building blocks -------------------------------------------------------------

const TEXT: u8 = 1;
const BIN: u8 = 2;
const CONT: u8 = 0;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

fn frame(opcode: u8, payload: &[u8]) -> FrameSpec {
    FrameSpec { opcode, payload: payload.to_vec(), fin: true, rsv: 0, chop: None, sync: false }
}

impl FrameSpec {
    fn fin(mut self, fin: bool) -> Self {
        self.fin = fin;
        self
    }
    fn rsv(mut self, rsv: u8) -> Self {
        self.rsv = rsv;
        self
    }
    fn chop(mut self, n: usize) -> Self {
        self.chop = Some(n);
        self
    }
    fn sync(mut self) -> Self {
        self.sync = true;
        self
    }
    fn step(self) -> Step {
        Step::Frame(self)
    }
}

/// How a group of frames is written.
#[derive(Clone, Copy)]
enum Write {
    Plain,
    Sync,
    Chop1,
}

fn w(f: FrameSpec, how: Write) -> Step {
    match how {
        Write::Plain => f.step(),
        Write::Sync => f.sync().step(),
        Write::Chop1 => f.chop(1).step(),
    }
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason);
    v
}

/// `pattern` repeated to `len` bytes.
pub fn repeat(pattern: &[u8], len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    while v.len() < len && !pattern.is_empty() {
        let n = pattern.len().min(len - v.len());
        v.extend_from_slice(&pattern[..n]);
    }
    v
}

fn id(s: &str) -> CaseId {
    CaseId::parse(s).unwrap_or(CaseId(vec![0]))
}

struct B {
    id: String,
    description: String,
    expectation: String,
    plan: Plan,
    expected: Vec<(&'static str, Vec<Event>)>,
    close: ExpectedClose,
    rule: Rule,
}

impl B {
    fn new(
        id: impl Into<String>,
        description: impl Into<String>,
        expectation: impl Into<String>,
    ) -> B {
        B {
            id: id.into(),
            description: description.into(),
            expectation: expectation.into(),
            plan: Plan::Deflate,
            expected: Vec::new(),
            close: ExpectedClose::me_clean(),
            rule: Rule::Events,
        }
    }
    fn script(mut self, steps: Vec<Step>, end: End) -> B {
        self.plan = Plan::Script { steps, end };
        self
    }
    fn ok(mut self, events: Vec<Event>) -> B {
        self.expected.push(("OK", events));
        self
    }
    fn non_strict(mut self, events: Vec<Event>) -> B {
        self.expected.push(("NON-STRICT", events));
        self
    }
    fn close(mut self, c: ExpectedClose) -> B {
        self.close = c;
        self
    }
    fn rule(mut self, r: Rule) -> B {
        self.rule = r;
        self
    }
    fn done(self) -> Case {
        let timed =
            matches!(self.plan, Plan::Limits { .. } | Plan::Sequence { .. } | Plan::Deflate);
        Case {
            id: id(&self.id),
            description: self.description,
            expectation: self.expectation,
            wirelog: !matches!(self.plan, Plan::Limits { .. } | Plan::Sequence { .. }),
            plan: self.plan,
            expected: self.expected,
            expected_close: self.close,
            rule: self.rule,
            report_time: timed,
        }
    }
}

const FAIL: &str = "The connection is failed immediately (1002/Protocol Error), since the peer did not negotiate an extension or the frame violates the protocol.";

fn build() -> Vec<Case> {
    let mut v = Vec::with_capacity(517);
    framing(&mut v);
    pings(&mut v);
    reserved(&mut v);
    opcodes(&mut v);
    fragmentation(&mut v);
    utf8(&mut v);
    closing(&mut v);
    limits(&mut v);
    misc(&mut v);
    deflate(&mut v);
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// Category 1.
fn framing(v: &mut Vec<Case>) {
    let sizes = [0usize, 125, 126, 127, 128, 65535, 65536, 65536];
    for (sub, op, pat, kind) in [(1, TEXT, b"*" as &[u8], "text"), (2, BIN, &[0xFE][..], "binary")]
    {
        for (i, &n) in sizes.iter().enumerate() {
            let payload = repeat(pat, n);
            let mut f = frame(op, &payload);
            let mut d = format!("Send {kind} message with payload of length {n}.");
            if i == 7 {
                f = f.chop(997);
                d = format!(
                    "Send {kind} message with payload of length {n}. Sent out data in chops of 997 octets."
                );
            }
            let echo = if op == TEXT { Event::text(&payload) } else { Event::binary(&payload) };
            let kill = if i >= 5 { 10_000 } else { 1000 };
            v.push(
                B::new(format!("1.{sub}.{}", i + 1), d, format!("Receive echo'ed {kind} message (with payload as sent). Clean close with normal code."))
                    .script(vec![f.step()], End::KillAfter(kill))
                    .ok(vec![echo])
                    .done(),
            );
        }
    }
}

/// Category 2.
fn pings(v: &mut Vec<Case>) {
    let simple: [(&str, Vec<u8>, &str); 4] = [
        ("2.1", Vec::new(), "Send ping without payload."),
        ("2.2", b"Hello, world!".to_vec(), "Send ping with small text payload."),
        (
            "2.3",
            vec![0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff],
            "Send ping with small binary (non UTF-8) payload.",
        ),
        ("2.4", vec![0xfe; 125], "Send ping with binary payload of 125 octets."),
    ];
    for (i, p, d) in simple {
        v.push(
            B::new(i, d, "Pong (with payload as sent) is sent in reply to Ping. Clean close with normal code.")
                .script(vec![frame(PING, &p).step()], End::CloseAfter(1000))
                .ok(vec![Event::pong(&p)])
                .done(),
        );
    }
    v.push(
        B::new("2.5", "Send ping with binary payload of 126 octets.", "Connection is failed immediately (1002/Protocol Error), since control frames are only allowed to have payload up to and including 125 octets.")
            .script(vec![frame(PING, &[0xfe; 126]).step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
    );
    v.push(
        B::new("2.6", "Send ping with binary payload of 125 octets, send in octet-wise chops.", "Pong (with payload as sent) is sent in reply to Ping. Implementations must be TCP clean. Clean close with normal code.")
            .script(vec![frame(PING, &[0xfe; 125]).chop(1).step()], End::CloseAfter(2000))
            .ok(vec![Event::pong(&[0xfe; 125])])
            .done(),
    );
    let close1000 = frame(CLOSE, &close_payload(1000, b""));
    v.push(
        B::new("2.7", "Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.", "Nothing.")
            .script(vec![frame(PONG, b"").step(), close1000.clone().step()], End::CloseAfter(1000))
            .ok(vec![])
            .done(),
    );
    v.push(
        B::new("2.8", "Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.", "Nothing.")
            .script(vec![frame(PONG, b"unsolicited pong payload").step(), close1000.step()], End::CloseAfter(1000))
            .ok(vec![])
            .done(),
    );
    v.push(
        B::new("2.9", "Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.", "Nothing in reply to own Pong, but Pong with payload echo'ed in reply to Ping. Clean close with normal code.")
            .script(vec![frame(PONG, b"unsolicited pong payload").step(), frame(PING, b"ping payload").step()], End::CloseAfter(1000))
            .ok(vec![Event::pong(b"ping payload")])
            .done(),
    );
    for (i, chop) in [("2.10", false), ("2.11", true)] {
        let steps = (0..10)
            .map(|k| {
                let f = frame(PING, format!("payload-{k}").as_bytes());
                if chop { f.chop(1).step() } else { f.step() }
            })
            .collect();
        let d = if chop {
            "Send 10 Pings with payload. Send out octets in octet-wise chops."
        } else {
            "Send 10 Pings with payload."
        };
        v.push(
            B::new(i, d, "Pongs for our Pings with all the payloads. Note: This is not required by the Spec .. but we check for this behaviour anyway. Clean close with normal code.")
                .script(steps, End::CloseAfter(3000))
                .ok((0..10).map(|k| Event::pong(format!("payload-{k}").as_bytes())).collect())
                .done(),
        );
    }
}

/// Category 3.
fn reserved(v: &mut Vec<Case>) {
    let hello = b"Hello, world!";
    v.push(
        B::new("3.1", "Send small text message with <b>RSV = 1</b>.", FAIL)
            .script(vec![frame(TEXT, hello).rsv(1).step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
    );
    for (i, rsv, how, how_d) in [
        ("3.2", 2, Write::Plain, ""),
        ("3.3", 3, Write::Sync, ", send one frame after the other (synchronously)"),
        ("3.4", 4, Write::Chop1, ", send in octet-wise chops"),
    ] {
        v.push(
            B::new(
                i,
                format!("Send small text message, then send again with <b>RSV = {rsv}</b>, then send Ping{how_d}."),
                "Echo for first message is received, but then connection is failed immediately, since RSV must be 0, when no extension defining RSV meaning has been negotiated. The Pong is not received.",
            )
            .script(
                vec![w(frame(TEXT, hello), how), w(frame(TEXT, hello).rsv(rsv), how), w(frame(PING, hello), how)],
                End::KillAfter(1000),
            )
            .ok(vec![Event::text(hello)])
            .non_strict(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
        );
    }
    let bin: Vec<u8> = (0u8..8).collect();
    v.push(
        B::new("3.5", "Send small binary message with <b>RSV = 5</b>.", FAIL)
            .script(vec![frame(BIN, &bin).rsv(5).step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
    );
    v.push(
        B::new("3.6", "Send Ping with <b>RSV = 6</b>.", FAIL)
            .script(vec![frame(BIN, hello).rsv(6).step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
    );
    v.push(
        B::new("3.7", "Send Close with <b>RSV = 7</b>.", FAIL)
            .script(vec![frame(CLOSE, b"").rsv(7).step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
    );
}

/// Category 4.
fn opcodes(v: &mut Vec<Case>) {
    let hello = b"Hello, world!";
    for (sub, base, kind) in [(1, 3u8, "non-control"), (2, 11u8, "control")] {
        v.push(
            B::new(
                format!("4.{sub}.1"),
                format!("Send frame with reserved {kind} <b>Opcode = {base}</b>."),
                FAIL,
            )
            .script(vec![frame(base, b"").step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
        );
        v.push(
            B::new(
                format!("4.{sub}.2"),
                format!(
                    "Send frame with reserved {kind} <b>Opcode = {}</b> and non-empty payload.",
                    base + 1
                ),
                FAIL,
            )
            .script(vec![frame(base + 1, b"reserved opcode payload").step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
        );
        for k in 3..=5u8 {
            let op = base + k - 1;
            let (p, how, extra): (&[u8], Write, &str) = match k {
                3 => (b"", Write::Plain, ""),
                4 => (b"reserved opcode payload", Write::Plain, " and non-empty payload"),
                _ => (
                    b"reserved opcode payload",
                    Write::Chop1,
                    " and non-empty payload, all sent in octet-wise chops",
                ),
            };
            v.push(
                B::new(
                    format!("4.{sub}.{k}"),
                    format!("Send small text message, then send frame with reserved {kind} <b>Opcode = {op}</b>{extra}, then send Ping."),
                    "Echo for first message is received, but then connection is failed immediately, since reserved opcode frame is used. A Pong is not received.",
                )
                .script(vec![w(frame(TEXT, hello), how), w(frame(op, p), how), w(frame(PING, hello), how)], End::KillAfter(1000))
                .ok(vec![Event::text(hello)])
                .non_strict(vec![])
                .close(ExpectedClose::peer(1002))
                .done(),
            );
        }
    }
}

/// Category 5.
fn fragmentation(v: &mut Vec<Case>) {
    let (f1, f2) = (b"fragment1" as &[u8], b"fragment2" as &[u8]);
    for (i, op, name) in [("5.1", PING, "Ping"), ("5.2", PONG, "Pong")] {
        v.push(
            B::new(
                i,
                format!("Send {name} fragmented into 2 fragments."),
                "Connection is failed immediately, since control message MUST NOT be fragmented.",
            )
            .script(
                vec![frame(op, f1).fin(false).step(), frame(CONT, f2).step()],
                End::KillAfter(1000),
            )
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
        );
    }
    let hows = [
        (Write::Plain, ""),
        (Write::Sync, ", one fragment at a time"),
        (Write::Chop1, ", in octet-wise chops"),
    ];
    for (k, (how, d)) in hows.iter().enumerate() {
        v.push(
            B::new(
                format!("5.{}", 3 + k),
                format!("Send text Message fragmented into 2 fragments{d}."),
                "Message is processed and echo'ed back to us.",
            )
            .script(
                vec![w(frame(TEXT, f1).fin(false), *how), w(frame(CONT, f2), *how)],
                End::CloseAfter(1000),
            )
            .ok(vec![Event::text(b"fragment1fragment2")])
            .done(),
        );
    }
    for (k, (how, d)) in hows.iter().enumerate() {
        v.push(
            B::new(
                format!("5.{}", 6 + k),
                format!(
                    "Send text Message fragmented into 2 fragments, with one ping in-between{d}."
                ),
                "A pong is received, then the message is echo'ed back to us.",
            )
            .script(
                vec![
                    w(frame(TEXT, f1).fin(false), *how),
                    w(frame(PING, b"ping payload"), *how),
                    w(frame(CONT, f2), *how),
                ],
                End::CloseAfter(1000),
            )
            .ok(vec![Event::pong(b"ping payload"), Event::text(b"fragment1fragment2")])
            .done(),
        );
    }
    for (base, fin) in [(9, true), (12, false)] {
        for (k, (how, d)) in hows.iter().enumerate() {
            v.push(
                B::new(
                    format!("5.{}", base + k),
                    format!("Send unfragmented Text Message after Continuation Frame with FIN = {fin}, where there is nothing to continue, sent{d}."),
                    "The connection is failed immediately, since there is no message to continue.",
                )
                .script(
                    vec![w(frame(CONT, b"non-continuation payload").fin(fin), *how), w(frame(TEXT, b"Hello, world!"), *how)],
                    End::KillAfter(1000),
                )
                .ok(vec![])
                .close(ExpectedClose::peer(1002))
                .done(),
            );
        }
    }
    v.push(
        B::new("5.15", "Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.", "The connection is failed immediately, since there is no message to continue.")
            .script(
                vec![
                    frame(TEXT, f1).fin(false).step(),
                    frame(CONT, f2).step(),
                    frame(CONT, b"fragment3").fin(false).step(),
                    frame(TEXT, b"fragment4").step(),
                ],
                End::KillAfter(1000),
            )
            .ok(vec![Event::text(b"fragment1fragment2")])
            .non_strict(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
    );
    for (i, first_fin) in [("5.16", false), ("5.17", true)] {
        let mut steps = Vec::new();
        for _ in 0..2 {
            steps.push(frame(CONT, f1).fin(first_fin).step());
            steps.push(frame(TEXT, f2).fin(false).step());
            steps.push(frame(CONT, b"fragment3").step());
        }
        v.push(
            B::new(i, format!("Repeated 2x: Continuation Frame with FIN = {first_fin} (where there is nothing to continue), then text Message fragmented into 2 fragments."), "The connection is failed immediately, since there is no message to continue.")
                .script(steps, End::KillAfter(1000))
                .ok(vec![])
                .close(ExpectedClose::peer(1002))
                .done(),
        );
    }
    v.push(
        B::new("5.18", "Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.", "The connection is failed immediately, since all data frames after the initial data frame must have opcode 0.")
            .script(vec![frame(TEXT, f1).fin(false).step(), frame(TEXT, f2).step()], End::KillAfter(1000))
            .ok(vec![])
            .close(ExpectedClose::peer(1002))
            .done(),
    );
    for (i, how) in [("5.19", Write::Plain), ("5.20", Write::Sync)] {
        let d = if matches!(how, Write::Sync) { " All frames are sent one at a time." } else { "" };
        v.push(
            B::new(
                i,
                format!("Send text Message fragmented into 5 fragments, with 2 pings in-between: 3 frames and a ping, then a second later the remaining frames and the second ping.{d}"),
                "A pong is received, then a second one, then the message is echo'ed back to us.",
            )
            .script(
                vec![
                    w(frame(TEXT, b"fragment1").fin(false), how),
                    w(frame(CONT, b"fragment2").fin(false), how),
                    w(frame(PING, b"pongme 1!"), how),
                    Step::Delay { ms: 1000, tag: None },
                    w(frame(CONT, b"fragment3").fin(false), how),
                    w(frame(CONT, b"fragment4").fin(false), how),
                    w(frame(PING, b"pongme 2!"), how),
                    w(frame(CONT, b"fragment5"), how),
                ],
                End::CloseAfter(1000),
            )
            .ok(vec![Event::pong(b"pongme 1!"), Event::pong(b"pongme 2!"), Event::text(b"fragment1fragment2fragment3fragment4fragment5")])
            .done(),
        );
    }
}

const KOSME: &[u8] = &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).filter_map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The payloads of 6.5–6.23, by subcategory.
fn utf8_sequences() -> Vec<(u16, Vec<Vec<u8>>)> {
    let hx = |l: &[&str]| l.iter().map(|s| hex(s)).collect::<Vec<_>>();
    let mut out = vec![(
        5,
        vec![
            b"hello$world".to_vec(),
            b"hello\xC2\xA2world".to_vec(),
            b"hello\xE2\x82\xACworld".to_vec(),
            b"hello\xF0\xA4\xAD\xA2world".to_vec(),
            KOSME.to_vec(),
        ],
    )];
    out.push((6, (1..=11).map(|n| KOSME[..n].to_vec()).collect()));
    out.push((7, hx(&["00", "c280", "e0a080", "f0908080"])));
    out.push((8, hx(&["f888808080", "fc8480808080"])));
    out.push((9, hx(&["7f", "dfbf", "efbfbf", "f48fbfbf"])));
    out.push((10, hx(&["f7bfbfbf", "fbbfbfbfbf", "fdbfbfbfbfbf"])));
    out.push((11, hx(&["ed9fbf", "ee8080", "efbfbd", "f48fbfbf", "f4908080"])));
    let mut s12 = hx(&["80", "bf", "80bf", "80bf80", "80bf80bf", "80bf80bf80", "80bf80bf80bf"]);
    s12.push((0x80u8..=0xbe).collect());
    out.push((12, s12));
    let spaced = |r: std::ops::Range<u8>| r.flat_map(|b| [b, 0x20]).collect::<Vec<u8>>();
    out.push((
        13,
        vec![
            spaced(0xc0..0xdf),
            spaced(0xe0..0xef),
            spaced(0xf0..0xf7),
            spaced(0xf8..0xfb),
            spaced(0xfc..0xfd),
        ],
    ));
    let s14 = hx(&[
        "c0",
        "e080",
        "f08080",
        "f8808080",
        "fc80808080",
        "df",
        "efbf",
        "f7bfbf",
        "fbbfbfbf",
        "fdbfbfbfbf",
    ]);
    out.push((15, vec![s14.concat()]));
    out.push((14, s14));
    out.push((16, hx(&["fe", "ff", "fefeffff"])));
    out.push((17, hx(&["c0af", "e080af", "f08080af", "f8808080af", "fc80808080af"])));
    out.push((18, hx(&["c1bf", "e09fbf", "f08fbfbf", "f887bfbfbf", "fc83bfbfbfbf"])));
    out.push((19, hx(&["c080", "e08080", "f0808080", "f880808080", "fc8080808080"])));
    out.push((20, hx(&["eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf"])));
    out.push((
        21,
        hx(&[
            "eda080edb080",
            "eda080edbfbf",
            "edadbfedb080",
            "edadbfedbfbf",
            "edae80edb080",
            "edae80edbfbf",
            "edafbfedb080",
            "edafbfedbfbf",
        ]),
    ));
    let mut s22 = hx(&["efbfbe", "efbfbf"]);
    for plane in 1u8..=16 {
        for last in [0xbe, 0xbf] {
            s22.push(vec![0xf0 | (plane >> 2), 0x80 | ((plane & 3) << 4) | 0x0f, 0xbf, last]);
        }
    }
    out.push((22, s22));
    out.push((23, (0xb9u8..=0xbf).map(|b| vec![0xef, 0xbf, b]).collect()));
    out.sort_by_key(|(s, _)| *s);
    out
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Category 6.
fn utf8(v: &mut Vec<Case>) {
    let echo_ok = "The message is echo'ed back to us.";
    let e = |p: &[u8]| Event::text(p);
    // 6.1
    v.push(
        B::new(
            "6.1.1",
            "Send text message of length 0.",
            "A message is echo'ed back to us (with empty payload).",
        )
        .script(vec![frame(TEXT, b"").step()], End::CloseAfter(1000))
        .ok(vec![e(b"")])
        .done(),
    );
    v.push(
        B::new(
            "6.1.2",
            "Send fragmented text message, 3 fragments each of length 0.",
            "A message is echo'ed back to us (with empty payload).",
        )
        .script(
            vec![
                frame(TEXT, b"").fin(false).step(),
                frame(CONT, b"").fin(false).step(),
                frame(CONT, b"").step(),
            ],
            End::CloseAfter(1000),
        )
        .ok(vec![e(b"")])
        .done(),
    );
    v.push(B::new("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.", "A message is echo'ed back to us (with payload = payload of middle fragment).")
        .script(vec![frame(TEXT, b"").fin(false).step(), frame(CONT, b"middle frame payload").fin(false).step(), frame(CONT, b"").step()], End::CloseAfter(1000))
        .ok(vec![e(b"middle frame payload")]).done());
    // 6.2
    let hello = "Hello-µ@ßöäüàá-UTF-8!!".as_bytes();
    v.push(
        B::new("6.2.1", "Send a valid UTF-8 text message in one fragment.", echo_ok)
            .script(vec![frame(TEXT, hello).step()], End::CloseAfter(1000))
            .ok(vec![e(hello)])
            .done(),
    );
    let cut = "Hello-µ@ßöä".len();
    v.push(B::new("6.2.2", "Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary.", echo_ok)
        .script(vec![frame(TEXT, &hello[..cut]).fin(false).step(), frame(CONT, &hello[cut..]).step()], End::CloseAfter(1000))
        .ok(vec![e(hello)]).done());
    let octets = |p: &[u8]| -> Vec<Step> {
        p.iter()
            .enumerate()
            .map(|(i, b)| {
                frame(if i == 0 { TEXT } else { CONT }, &[*b]).fin(i + 1 == p.len()).step()
            })
            .collect()
    };
    v.push(B::new("6.2.3", "Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.", echo_ok)
        .script(octets(hello), End::CloseAfter(1000)).ok(vec![e(hello)]).done());
    v.push(B::new("6.2.4", format!("Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.<br><br>MESSAGE:<br>{}", hexs(KOSME)), echo_ok)
        .script(octets(KOSME), End::CloseAfter(1000)).ok(vec![e(KOSME)]).done());
    // 6.3
    let bad: Vec<u8> = [KOSME, &[0xed, 0xa0, 0x80], b"edited"].concat();
    let fatal = ExpectedClose {
        closed_by_me: false,
        codes: vec![1007],
        require_clean: false,
        wrong_endpoint_fatal: true,
    };
    let fail_fast = "The connection is failed immediately, since the payload is not valid UTF-8.";
    v.push(
        B::new(
            "6.3.1",
            format!(
                "Send invalid UTF-8 text message unfragmented.<br><br>MESSAGE:<br>{}",
                hexs(&bad)
            ),
            fail_fast,
        )
        .script(vec![frame(TEXT, &bad).step()], End::KillAfter(1000))
        .ok(vec![])
        .close(fatal.clone())
        .done(),
    );
    v.push(
        B::new(
            "6.3.2",
            format!(
                "Send invalid UTF-8 text message in fragments of 1 octet.<br><br>MESSAGE:<br>{}",
                hexs(&bad)
            ),
            fail_fast,
        )
        .script(octets(&bad), End::KillAfter(1000))
        .ok(vec![])
        .close(fatal.clone())
        .done(),
    );
    // 6.4: fail fast on the invalid part.
    let a = Event::Timeout("A");
    let b = Event::Timeout("B");
    let ff = "The first frame is accepted, we expect to timeout on the first wait. The 2nd frame should be rejected immediately (fail fast on UTF-8). If we timeout, we expect the connection is failed at least then, since the complete message payload is not valid UTF-8.";
    let parts_41: [&[u8]; 3] = [KOSME, &[0xf4, 0x90, 0x80, 0x80], b"edited"];
    let kos12: Vec<u8> = [KOSME, &[0xf4]].concat();
    let parts_42: [&[u8]; 3] = [&kos12, &[0x90], &[0x80, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64]];
    for (i, parts, d) in [
        (
            "6.4.1",
            parts_41,
            "Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid, then wait, then 3rd frame with rest. Note that PART1 and PART3 are valid UTF-8 in themselves, PART2 is a 0x110000 encoded as in the UTF-8 integer encoding scheme, but the codepoint is invalid (out of range).",
        ),
        (
            "6.4.2",
            parts_42,
            "Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid, then wait, then 3rd frame with rest. Note that PART1 and PART3 are valid UTF-8 in themselves, PART2 is a 0x90 which makes the sequence invalid.",
        ),
    ] {
        v.push(
            B::new(
                i,
                format!(
                    "{d}<br><br>MESSAGE PARTS:<br>PART1 = {}<br>PART2 = {}<br>PART3 = {}",
                    hexs(parts[0]),
                    hexs(parts[1]),
                    hexs(parts[2])
                ),
                ff,
            )
            .script(
                vec![
                    frame(TEXT, parts[0]).fin(false).step(),
                    Step::Delay { ms: 1000, tag: Some("A") },
                    frame(CONT, parts[1]).fin(false).step(),
                    Step::Delay { ms: 1000, tag: Some("B") },
                    frame(CONT, parts[2]).step(),
                ],
                End::KillAfter(1000),
            )
            .ok(vec![a.clone()])
            .non_strict(vec![a.clone(), b.clone()])
            .close(fatal.clone())
            .done(),
        );
    }
    for (i, parts, d) in [
        (
            "6.4.3",
            parts_41,
            "Same as Case 6.4.1, but in 1 frame, the payload chopped into 3 writes.",
        ),
        (
            "6.4.4",
            parts_42,
            "Same as Case 6.4.2, but in 1 frame, the payload chopped into 3 writes.",
        ),
    ] {
        let payload = parts.concat();
        let mut whole =
            crate::proto::FrameHeader::new(crate::proto::Opcode::Text, payload.len() as u64)
                .encode()
                .to_vec();
        let head_len = whole.len();
        whole.extend_from_slice(&payload);
        let (p1, rest) = whole.split_at(head_len + parts[0].len());
        let (p2, p3) = rest.split_at(parts[1].len());
        v.push(
            B::new(
                i,
                format!(
                    "{d}<br><br>MESSAGE PARTS:<br>PART1 = {}<br>PART2 = {}<br>PART3 = {}",
                    hexs(parts[0]),
                    hexs(parts[1]),
                    hexs(parts[2])
                ),
                ff,
            )
            .script(
                vec![
                    Step::Raw(p1.to_vec()),
                    Step::Delay { ms: 1000, tag: Some("A") },
                    Step::Raw(p2.to_vec()),
                    Step::Delay { ms: 1000, tag: Some("B") },
                    Step::Raw(p3.to_vec()),
                ],
                End::KillAfter(1000),
            )
            .ok(vec![a.clone()])
            .non_strict(vec![a.clone(), b.clone()])
            .close(fatal.clone())
            .done(),
        );
    }
    // 6.5–6.23: one text message each.
    for (sub, list) in utf8_sequences() {
        for (k, p) in list.iter().enumerate() {
            let valid = std::str::from_utf8(p).is_ok();
            let id = format!("6.{sub}.{}", k + 1);
            let d = format!(
                "Send a text message with payload which is {} UTF-8 in one fragment.<br><br>Payload: 0x{}",
                if valid { "valid" } else { "not valid" },
                hexs(p)
            );
            let bcase = B::new(
                id,
                d,
                if valid {
                    "The message is echo'ed back to us."
                } else {
                    "The connection is failed immediately, since the payload is not valid UTF-8."
                },
            )
            .script(vec![frame(TEXT, p).step()], End::KillAfter(500));
            v.push(if valid {
                bcase.ok(vec![e(p)]).done()
            } else {
                bcase.ok(vec![]).close(fatal.clone()).done()
            });
        }
    }
}

/// Category 7.
fn closing(v: &mut Vec<Case>) {
    let c1000 = || frame(CLOSE, &close_payload(1000, b""));
    let k = End::KillAfter(1000);
    let r = Rule::CloseCodeFatal;
    v.push(
        B::new(
            "7.1.1",
            "Send a message followed by a close frame",
            "Echoed message followed by clean close with normal code.",
        )
        .script(vec![frame(TEXT, b"Hello World!").step(), c1000().step()], k)
        .ok(vec![Event::text(b"Hello World!")])
        .rule(r)
        .done(),
    );
    v.push(
        B::new(
            "7.1.2",
            "Send two close frames",
            "Clean close with normal code. Second close frame ignored.",
        )
        .script(vec![c1000().step(), frame(CLOSE, b"").step()], k)
        .ok(vec![])
        .rule(r)
        .done(),
    );
    v.push(
        B::new(
            "7.1.3",
            "Send a ping after close message",
            "Clean close with normal code, no pong.",
        )
        .script(vec![c1000().step(), frame(PING, b"").step()], k)
        .ok(vec![])
        .rule(r)
        .done(),
    );
    v.push(
        B::new(
            "7.1.4",
            "Send text message after sending a close frame",
            "Clean close with normal code. Text message ignored.",
        )
        .script(vec![c1000().step(), frame(TEXT, b"Hello World!").step()], k)
        .ok(vec![])
        .rule(r)
        .done(),
    );
    v.push(
        B::new(
            "7.1.5",
            "Send message fragment1 followed by close then fragment",
            "Clean close with normal code.",
        )
        .script(
            vec![
                frame(TEXT, b"fragment1").fin(false).step(),
                c1000().step(),
                frame(CONT, b"fragment2").step(),
            ],
            k,
        )
        .ok(vec![])
        .rule(r)
        .done(),
    );
    let big = repeat(b"BAsd7&jh23", 256 * 1024);
    v.push(B::new("7.1.6", "Send 256K message followed by close then a ping", "Case outcome depends on implementation defined close behavior. Message and close frame are sent back to back. If the close frame is processed before the text message write is complete (as can happen in asynchronous processing models) the close frame is processed first and the text message may not be received or may only be partially recieved.")
        .script(vec![frame(TEXT, &big).step(), frame(TEXT, b"Hello World!").step(), c1000().step(), frame(PING, b"").step()], k)
        .ok(vec![Event::text(&big), Event::text(b"Hello World!")]).rule(Rule::Informational).done());
    let closes: [(&str, Vec<u8>, &str, ExpectedClose); 6] = [
        (
            "7.3.1",
            Vec::new(),
            "Send a close frame with payload length 0 (no close code, no close reason)",
            ExpectedClose::me_clean(),
        ),
        (
            "7.3.2",
            b"a".to_vec(),
            "Send a close frame with payload length 1",
            ExpectedClose::me(&[1002], false),
        ),
        (
            "7.3.3",
            close_payload(1000, b""),
            "Send a close frame with payload length 2 (regular close with a code)",
            ExpectedClose::me_clean(),
        ),
        (
            "7.3.4",
            close_payload(1000, b"Hello World!"),
            "Send a close frame with close code and close reason",
            ExpectedClose::me_clean(),
        ),
        (
            "7.3.5",
            close_payload(1000, &[b'*'; 123]),
            "Send a close frame with close code and close reason of maximum length (123)",
            ExpectedClose::me_clean(),
        ),
        (
            "7.3.6",
            close_payload(1000, &[b'*'; 124]),
            "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets",
            ExpectedClose::me(&[1002], false),
        ),
    ];
    for (i, p, d, c) in closes {
        let x = if c.require_clean {
            "Clean close with normal code."
        } else {
            "Clean close with protocol error or drop TCP."
        };
        v.push(
            B::new(i, d, x)
                .script(vec![frame(CLOSE, &p).step()], k)
                .ok(vec![])
                .close(c)
                .rule(r)
                .done(),
        );
    }
    let reason = [KOSME, &[0xed, 0xa0, 0x80], b"edited"].concat();
    v.push(
        B::new(
            "7.5.1",
            format!(
                "Send a close frame with invalid UTF8 payload<br><br>Payload: 0x{}",
                hexs(&reason)
            ),
            "Clean close with protocol error or invalid utf8 code or dropped TCP.",
        )
        .script(vec![frame(CLOSE, &close_payload(1000, &reason)).step()], k)
        .ok(vec![])
        .close(ExpectedClose::me(&[1002, 1007], false))
        .rule(r)
        .done(),
    );
    for (n, code) in
        [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
            .iter()
            .enumerate()
    {
        let codes: Vec<u16> = if *code == 1000 { vec![1000] } else { vec![1000, *code] };
        v.push(
            B::new(
                format!("7.7.{}", n + 1),
                format!("Send close with valid close code {code}"),
                "Clean close with normal or echoed code".to_string(),
            )
            .script(vec![frame(CLOSE, &close_payload(*code, b"")).step()], k)
            .ok(vec![])
            .close(ExpectedClose::me(&codes, true))
            .rule(r)
            .done(),
        );
    }
    for (n, code) in [0u16, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].iter().enumerate() {
        v.push(
            B::new(
                format!("7.9.{}", n + 1),
                format!("Send close with invalid close code {code}"),
                "Clean close with protocol error code or drop TCP",
            )
            .script(vec![frame(CLOSE, &close_payload(*code, b"")).step()], k)
            .ok(vec![])
            .close(ExpectedClose::me(&[1002], false))
            .rule(r)
            .done(),
        );
    }
    for (n, code) in [5000u32, 65535].iter().enumerate() {
        let p = (*code as u16).to_be_bytes().to_vec();
        v.push(
            B::new(
                format!("7.13.{}", n + 1),
                format!("Send close with close code {code}"),
                "Actual events are undefined by the spec.",
            )
            .script(vec![frame(CLOSE, &p).step()], k)
            .ok(vec![])
            .close(ExpectedClose::me(&[1002], false))
            .rule(Rule::Informational)
            .done(),
        );
    }
}

/// Category 9.
fn limits(v: &mut Vec<Case>) {
    const TXT: &[u8] = b"BAsd7&jh23";
    const BINP: &[u8] = &[0x00, 0xfe, 0x23, 0xfa, 0xf0];
    let sizes = [64usize << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20];
    let human =
        |n: usize| if n >= 1 << 20 { format!("{}M", n >> 20) } else { format!("{}k", n >> 10) };
    for (sub, binary, pattern, waits) in [
        (1, false, TXT, [10u64, 10, 100, 100, 100, 100]),
        (2, true, BINP, [10, 10, 10, 10, 100, 100]),
    ] {
        let kind = if binary { "binary" } else { "text" };
        for (k, &n) in sizes.iter().enumerate() {
            let mut b = B::new(
                format!("9.{sub}.{}", k + 1),
                format!("Send {kind} message message with payload of length {n} ({}).", human(n)),
                format!("Receive echo'ed {kind} message (with payload as sent)."),
            );
            b.plan = Plan::Limits {
                binary,
                pattern,
                len: n,
                frame: 0,
                chop: 0,
                timeout_ms: waits[k] * 1000,
            };
            v.push(b.rule(Rule::Flow).done());
        }
    }
    let frames = [64usize, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
    for (sub, binary, pattern) in [(3, false, b"*" as &'static [u8]), (4, true, &[0xfe][..])] {
        let kind = if binary { "binary" } else { "text" };
        for (k, &f) in frames.iter().enumerate() {
            let mut b = B::new(
                format!("9.{sub}.{}", k + 1),
                format!(
                    "Send fragmented {kind} message message with message payload of length 4 * 2**20 (4M). Sent out in fragments of {f}."
                ),
                format!("Receive echo'ed {kind} message (with payload as sent)."),
            );
            b.plan = Plan::Limits {
                binary,
                pattern,
                len: 4 << 20,
                frame: f,
                chop: 0,
                timeout_ms: 100_000,
            };
            v.push(b.rule(Rule::Flow).done());
        }
    }
    for (sub, binary, pattern) in [(5, false, b"*" as &'static [u8]), (6, true, &[0xfe][..])] {
        let kind = if binary { "binary" } else { "text" };
        for (k, chop) in [64usize, 128, 256, 512, 1024, 2048].iter().enumerate() {
            let mut b = B::new(
                format!("9.{sub}.{}", k + 1),
                format!(
                    "Send {kind} message message with payload of length 1 * 2**20 (1M). Sent out data in chops of {chop} octets."
                ),
                format!("Receive echo'ed {kind} message (with payload as sent)."),
            );
            b.plan = Plan::Limits {
                binary,
                pattern,
                len: 1 << 20,
                frame: 0,
                chop: *chop,
                timeout_ms: 1_000_000,
            };
            v.push(b.rule(Rule::Flow).done());
        }
    }
    for (sub, binary) in [(7, false), (8, true)] {
        let kind = if binary { "binary" } else { "text" };
        for (k, (len, wait)) in
            [(0usize, 60u64), (16, 60), (64, 60), (256, 120), (1024, 240), (4096, 480)]
                .iter()
                .enumerate()
        {
            let mut b = B::new(
                format!("9.{sub}.{}", k + 1),
                format!(
                    "Send 1000 {kind} messages of payload size {len} to measure implementation/network RTT (round trip time) / latency."
                ),
                format!(
                    "Receive echo'ed {kind} messages (with payload as sent). Timeout case after {wait} secs."
                ),
            );
            b.plan = Plan::Sequence { binary, len: *len, count: 1000, timeout_ms: wait * 1000 };
            v.push(b.rule(Rule::Flow).done());
        }
    }
}

/// Category 10.
fn misc(v: &mut Vec<Case>) {
    let payload = vec![b'*'; 65536];
    v.push(B::new("10.1.1", "Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.", "Receive echo'ed text message (with payload as sent and transmitted frame counts as expected). Clean close with normal code.")
        .script(vec![Step::Fragmented { payload: payload.clone(), binary: false, frame: 1300 }], End::KillAfter(10_000))
        .ok(vec![Event::text(&payload)]).rule(Rule::FrameCount).done());
}

/// Categories 12 and 13 (permessage-deflate).
fn deflate(v: &mut Vec<Case>) {
    const SIZES: [(usize, u64, usize); 18] = [
        (16, 60, 0),
        (64, 60, 0),
        (256, 120, 0),
        (1024, 240, 0),
        (4096, 480, 0),
        (8192, 480, 0),
        (16384, 480, 0),
        (32768, 480, 0),
        (65536, 480, 0),
        (131072, 480, 0),
        (8192, 480, 256),
        (16384, 480, 256),
        (32768, 480, 256),
        (65536, 480, 256),
        (131072, 480, 256),
        (131072, 480, 1024),
        (131072, 480, 4096),
        (131072, 480, 32768),
    ];
    let sets = [
        (1, "data1.json", "text"),
        (2, "lena512.bmp", "binary"),
        (3, "pg2229.txt", "binary"),
        (4, "data1.html", "text"),
        (5, "10.1.1.105.5439.pdf", "binary"),
    ];
    let params = [
        (1, "permessage-deflate (default)"),
        (2, "permessage-deflate with client_no_context_takeover"),
        (3, "permessage-deflate with client_max_window_bits=9"),
        (4, "permessage-deflate with client_max_window_bits=15"),
        (5, "permessage-deflate with client_no_context_takeover and client_max_window_bits=9"),
        (6, "permessage-deflate with client_no_context_takeover and client_max_window_bits=15"),
        (
            7,
            "permessage-deflate, trying client_no_context_takeover with window 9, then client_no_context_takeover, then the default",
        ),
    ];
    for (cat, list) in [
        (
            12,
            sets.iter()
                .map(|(j, f, k)| (*j, format!("{k} data from {f}"), "the default offer accepted"))
                .collect::<Vec<_>>(),
        ),
        (
            13,
            params.iter().map(|(j, p)| (*j, "text data from data1.json".to_string(), *p)).collect(),
        ),
    ] {
        for (j, data, accept) in list {
            for (i, (len, wait, frag)) in SIZES.iter().enumerate() {
                let frag_d = if *frag > 0 {
                    format!(" auto-fragmented to {frag} octets")
                } else {
                    String::new()
                };
                let mut b = B::new(
                    format!("{cat}.{j}.{}", i + 1),
                    format!(
                        "Send 1000 compressed messages each of payload size {len} ({data}){frag_d}, {accept}."
                    ),
                    format!(
                        "Receive echo'ed messages (with payload as sent). Timeout case after {wait} secs."
                    ),
                );
                b.plan = Plan::Deflate;
                v.push(b.rule(Rule::Deflate).done());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_autobahns_517_cases_in_its_families() {
        let cat = catalogue();
        assert_eq!(cat.len(), 517);
        let count = |c: u16| cat.iter().filter(|x| x.id.category() == c).count();
        let got: Vec<usize> =
            [1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13].iter().map(|c| count(*c)).collect();
        assert_eq!(got, [16, 11, 7, 10, 20, 145, 37, 54, 1, 90, 126]);
        let mut ids: Vec<&CaseId> = cat.iter().map(|c| &c.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 517, "ids are unique");
        assert!(cat.windows(2).all(|w| w[0].id < w[1].id), "sorted as tuples");
    }

    #[test]
    fn category_6_has_70_valid_and_75_invalid_cases() {
        let six: Vec<&Case> = catalogue().iter().filter(|c| c.id.category() == 6).collect();
        let invalid = six.iter().filter(|c| c.expected_close.wrong_endpoint_fatal).count();
        assert_eq!(invalid, 75);
        assert_eq!(six.len() - invalid, 70);
        let sub = |s: u16| six.iter().filter(|c| c.id.0[1] == s).count();
        let subs: Vec<usize> = (1..=23).map(sub).collect();
        assert_eq!(subs, [3, 4, 2, 4, 5, 11, 4, 2, 4, 3, 5, 8, 5, 10, 1, 3, 5, 5, 5, 7, 8, 34, 7]);
        let valid_66: Vec<String> = six
            .iter()
            .filter(|c| c.id.0[1] == 6 && !c.expected_close.wrong_endpoint_fatal)
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(valid_66, ["6.6.2", "6.6.5", "6.6.7", "6.6.9", "6.6.11"]);
    }

    #[test]
    fn payloads_render_as_autobahn_writes_them() {
        assert_eq!(render_payload(&Payload::of(b"Hello, world!")), "Hello, world!");
        assert_eq!(render_payload(&Payload::of(&[0xfe; 4])), "0xfefefefe");
        let long = render_payload(&Payload::of(&[b'*'; 65536]));
        assert_eq!(long, format!("{} ...", "*".repeat(60)));
        assert_eq!(
            find(&CaseId::parse("3.6").unwrap()).unwrap().short_description(),
            "Send Ping with"
        );
    }
}
