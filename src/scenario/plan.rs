//! A validated, ready-to-run scenario: what loading lowers a scenario file into. Every
//! one-of table of the file is an enum here, placeholders are parsed against the
//! declared servers, payloads are sized and checked, files are read, fault names are
//! assigned and every cross-check is done. Execution never looks at the file format.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

use super::model::World;
use super::template::{ServerAddr, Template};
use crate::certs::{ServerCert, TestPki};
use crate::esp::{Config, ErrorType, EventId, OwnedEvent, Profile};
use crate::net::{ConnectionFault, Direction, Toxic};
use crate::proto::{FrameHeader, Opcode, encode_frame};
use crate::server::{ConnAction, HandshakeReply, SubprotocolPolicy};

/// A scenario ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What it checks.
    pub name: String,
    /// More detail.
    pub description: Option<String>,
    /// Tags for `--tag`.
    pub tags: Vec<String>,
    /// Profiles it applies to (empty: all).
    pub profiles: Vec<Profile>,
    /// Worlds it runs in (empty: both).
    pub worlds: Vec<World>,
    /// DUTs it is skipped on, with the reasons.
    pub dut: super::dut::DutRules,
    /// Overall bound in milliseconds (at least 1).
    pub timeout_ms: u64,
    /// Events expectations skip.
    pub ignore: Vec<EventId>,
    /// Build options over the run's, as `KEY=VALUE` lines (each checked at load).
    pub sdkconfig: Vec<String>,
    /// Faults in place from the start.
    pub faults: Vec<PlannedFault>,
    /// Whether any fault is ever in play (the real world then puts proxies in front).
    pub uses_faults: bool,
    /// Servers by name.
    pub servers: BTreeMap<String, ServerPlan>,
    /// Clients by name.
    pub clients: BTreeMap<String, ClientPlan>,
    /// The steps, in order.
    pub steps: Vec<PlanStep>,
}

/// Bytes a step sends or expects. Literal bytes are read at load; `repeat` and
/// `random` are produced when used (the latter from the scenario's seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bytes {
    /// These bytes.
    Fixed(Arc<[u8]>),
    /// A pattern repeated and cut to `len` bytes.
    Repeat {
        /// The pattern (non-empty).
        pattern: Arc<[u8]>,
        /// The length.
        len: usize,
    },
    /// `len` bytes of the scenario's seeded generator, on a stream of their own: two
    /// random payloads differ unless they share a `key`.
    Random {
        /// The length.
        len: usize,
        /// The generator stream.
        stream: u64,
    },
}

impl Bytes {
    /// Literal bytes.
    pub fn fixed(b: impl Into<Vec<u8>>) -> Bytes {
        Bytes::Fixed(b.into().into())
    }

    /// How many bytes it produces.
    pub fn len(&self) -> usize {
        match self {
            Bytes::Fixed(b) => b.len(),
            Bytes::Repeat { len, .. } | Bytes::Random { len, .. } => *len,
        }
    }

    /// Whether it produces no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, with `seed` the scenario's seed.
    pub fn produce(&self, seed: u64) -> Vec<u8> {
        match self {
            Bytes::Fixed(b) => b.to_vec(),
            Bytes::Repeat { pattern, len } => pattern.iter().copied().cycle().take(*len).collect(),
            Bytes::Random { len, stream } => {
                let mut rng = ChaCha20Rng::seed_from_u64(seed);
                rng.set_stream(*stream);
                let mut v = vec![0u8; *len];
                rng.fill_bytes(&mut v);
                v
            }
        }
    }
}

/// One frame a server writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramePlan {
    /// The opcode (0-15).
    pub opcode: u8,
    /// FIN.
    pub fin: bool,
    /// RSV1-3 as a number 0-7.
    pub rsv: u8,
    /// Mask key (servers must not mask; the client accepts it).
    pub mask: Option<[u8; 4]>,
    /// A claimed length in place of the real one (only claimed: nothing allocates it).
    pub length: Option<u64>,
    /// The payload.
    pub payload: Bytes,
}

impl FramePlan {
    /// The header: the claimed length if one is given, else the payload's.
    fn header(&self) -> FrameHeader {
        FrameHeader {
            fin: self.fin,
            rsv: self.rsv & 7,
            opcode: Opcode::from_u8(self.opcode & 0x0F),
            mask: self.mask,
            len: self.length.unwrap_or(self.payload.len() as u64),
        }
    }

    /// How many bytes the frame takes on the wire.
    pub fn wire_len(&self) -> usize {
        self.header().encode().as_bytes().len() + self.payload.len()
    }

    /// The frame's bytes.
    pub fn encode(&self, seed: u64) -> Vec<u8> {
        encode_frame(&self.header(), &self.payload.produce(seed))
    }

    /// Whether it is a CLOSE.
    pub fn is_close(&self) -> bool {
        self.opcode == 0x8
    }
}

/// A fault of the scenario, with its name (given, or `fault-N` in order of appearance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFault {
    /// Its name, for `remove`.
    pub name: String,
    /// The server whose connections it affects.
    pub server: String,
    /// What it does.
    pub effect: FaultEffect,
}

/// A toxic on one direction, or a connection fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultEffect {
    /// A toxic.
    Toxic {
        /// Its direction.
        direction: Direction,
        /// The toxic.
        toxic: Toxic,
    },
    /// Refused or black-holed connections.
    Connection(ConnectionFault),
}

/// A server of the scenario.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    /// Echo or scripted.
    pub kind: ServerKindPlan,
    /// Its certificate.
    pub tls: ServerCert,
    /// Whether it demands a client certificate.
    pub mtls: bool,
    /// A fixed port (simulated world only).
    pub port: Option<u16>,
}

/// Echo or scripted, with their settings.
#[derive(Debug, Clone)]
pub enum ServerKindPlan {
    /// The tokio-tungstenite echo server.
    Echo(SubprotocolPolicy),
    /// The scripted server.
    Script(ScriptPlan),
}

/// The scripted server's behaviour.
#[derive(Debug, Clone)]
pub struct ScriptPlan {
    /// Handshake answers by connection; the last repeats.
    pub handshakes: Vec<HandshakePlan>,
    /// Answer PINGs.
    pub reply_ping: bool,
    /// Answer CLOSEs.
    pub reply_close: bool,
    /// Echo data frames.
    pub echo: bool,
}

/// One handshake answer: the reply, with its `Location` and trailing frames still to
/// be rendered for the world's addresses and seed.
#[derive(Debug, Clone)]
pub struct HandshakePlan {
    /// The reply (without `location` and `trailing`).
    pub reply: HandshakeReply,
    /// `Location`.
    pub location: Option<Template>,
    /// Frames in the same write as the response.
    pub trailing: Vec<FramePlan>,
}

impl HandshakePlan {
    /// The reply for servers at `addrs` in a scenario with `seed`.
    pub fn render(&self, addrs: &BTreeMap<String, ServerAddr>, seed: u64) -> HandshakeReply {
        let mut r = self.reply.clone();
        r.location = self.location.as_ref().map(|t| t.render(addrs));
        r.trailing = self.trailing.iter().flat_map(|f| f.encode(seed)).collect();
        r
    }
}

/// A member of the run's test PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiMember {
    /// The test CA.
    Ca,
    /// A CA nobody trusts.
    UntrustedCa,
    /// The valid server certificate.
    Server,
    /// An expired server certificate.
    Expired,
    /// A certificate for another host.
    WrongHost,
    /// A certificate from the untrusted CA.
    Untrusted,
    /// A self-signed certificate.
    SelfSigned,
    /// The mTLS client certificate.
    Client,
}

impl PkiMember {
    /// The member a name stands for.
    pub fn from_name(name: &str) -> Option<PkiMember> {
        Some(match name {
            "ca" => PkiMember::Ca,
            "untrusted-ca" => PkiMember::UntrustedCa,
            "server" | "valid" => PkiMember::Server,
            "expired" => PkiMember::Expired,
            "wrong-host" => PkiMember::WrongHost,
            "untrusted" => PkiMember::Untrusted,
            "self-signed" => PkiMember::SelfSigned,
            "client" => PkiMember::Client,
            _ => return None,
        })
    }
}

/// Certificate material for a client: a PKI member or a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertPlan {
    /// A member of the run's PKI.
    Pki(PkiMember),
    /// The bytes of a file.
    File(Vec<u8>),
}

impl CertPlan {
    /// The bytes: the member's key (`key`), DER certificate (`der`) or PEM certificate.
    pub fn material(&self, pki: &TestPki, key: bool, der: bool) -> Vec<u8> {
        let m = match self {
            CertPlan::File(b) => return b.clone(),
            CertPlan::Pki(m) => m,
        };
        let ck = match m {
            PkiMember::Ca => &pki.ca,
            PkiMember::UntrustedCa => &pki.untrusted_ca,
            PkiMember::Server => &pki.server,
            PkiMember::Expired => &pki.expired,
            PkiMember::WrongHost => &pki.wrong_host,
            PkiMember::Untrusted => &pki.untrusted,
            PkiMember::SelfSigned => &pki.self_signed,
            PkiMember::Client => &pki.client,
        };
        if key {
            ck.key_pem.clone().into_bytes()
        } else if der {
            ck.cert_der.clone()
        } else {
            ck.cert_pem.clone().into_bytes()
        }
    }
}

/// A client's `port`: a number, or one `{server.port}` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortPlan {
    /// This number.
    Number(i32),
    /// A server's port.
    Server(Template),
}

/// A client instance: its configuration, with the parts that depend on the world.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// Every field that does not depend on the world.
    pub config: Config,
    /// `uri`.
    pub uri: Option<Template>,
    /// `host`.
    pub host: Option<Template>,
    /// `port`.
    pub port: PortPlan,
    /// `cert_pem` (DER with `cert_len` when `cert_der`).
    pub cert_pem: Option<CertPlan>,
    /// Pass `cert_pem` as DER.
    pub cert_der: bool,
    /// `client_cert`.
    pub client_cert: Option<CertPlan>,
    /// `client_key`.
    pub client_key: Option<CertPlan>,
    /// The reactions of its event handler, in order (numbered from 1).
    pub reactions: Vec<ReactionPlan>,
}

/// A reaction of a client's event handler, with the return value its call must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionPlan {
    /// What it does.
    pub kind: ReactionKind,
    /// The C return value each of its calls must give.
    pub returns: Option<i64>,
}

/// What a reaction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionKind {
    /// A call on every matching event.
    Call {
        /// The events it answers.
        on: EventMatch,
        /// The call (a send, `close`, `close_with_code`, `stop`, `destroy`,
        /// `is_connected`).
        call: Call,
    },
    /// Echo every complete text and binary message.
    Echo {
        /// The timeout of each send.
        timeout: Timeout,
    },
    /// `close_with_code` after `messages` complete messages.
    CloseAfter {
        /// At least 1.
        messages: u64,
        /// The code.
        code: i32,
        /// The reason.
        reason: Bytes,
        /// The timeout.
        timeout: Timeout,
    },
}

/// Which events a reaction answers: an event and optional data fields, matched as an
/// expectation matches them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMatch {
    /// The event.
    pub event: EventId,
    /// `op_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_code: Option<u8>,
    /// `fin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fin: Option<bool>,
    /// `data_len`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_len: Option<usize>,
    /// `payload_len`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_len: Option<i32>,
    /// `payload_offset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_offset: Option<i32>,
    /// The chunk's bytes equal this text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl EventMatch {
    /// Whether `e` matches.
    pub fn matches(&self, e: &OwnedEvent) -> bool {
        e.event == self.event
            && self.op_code.is_none_or(|v| v == e.op_code)
            && self.fin.is_none_or(|v| v == e.fin)
            && self.data_len.is_none_or(|v| v == e.data_len)
            && self.payload_len.is_none_or(|v| v == e.payload_len)
            && self.payload_offset.is_none_or(|v| v == e.payload_offset)
            && self.text.as_ref().is_none_or(|t| t.as_bytes() == e.data.as_slice())
    }
}

impl ClientPlan {
    /// The C configuration for servers at `addrs`.
    pub fn config(&self, pki: &TestPki, addrs: &BTreeMap<String, ServerAddr>) -> Config {
        let mut c = self.config.clone();
        c.uri = self.uri.as_ref().map(|t| t.render(addrs));
        c.host = self.host.as_ref().map(|t| t.render(addrs));
        c.port = match &self.port {
            PortPlan::Number(n) => *n,
            // A port placeholder renders to a port number.
            PortPlan::Server(t) => t.render(addrs).parse().unwrap_or(0),
        };
        if let Some(r) = &self.cert_pem {
            let m = r.material(pki, false, self.cert_der);
            if self.cert_der {
                c.cert_len = m.len();
            }
            c.cert_pem = Some(m);
        }
        c.client_cert = self.client_cert.as_ref().map(|r| r.material(pki, false, false));
        c.client_key = self.client_key.as_ref().map(|r| r.material(pki, true, false));
        c
    }
}

/// One step with where it came from.
#[derive(Debug, Clone)]
pub struct PlanStep {
    /// 1-based line where it starts.
    pub line: usize,
    /// A one-line rendering for traces.
    pub summary: String,
    /// What it does.
    pub action: StepAction,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// Client API calls, in client-name order.
    Client(Vec<(String, CallPlan)>),
    /// Server actions, in server-name order.
    Server(Vec<(String, ServerActionPlan)>),
    /// Expected events, by client.
    Expect(Vec<(String, Vec<EventExpectation>)>),
    /// No event for this many milliseconds, by client.
    Quiet(Vec<(String, u64)>),
    /// What a server has seen.
    ExpectServer(Vec<(String, ServerExpectationPlan)>),
    /// Sleep this many milliseconds.
    Wait(u64),
    /// Remove faults by name, then add faults.
    Fault {
        /// Names to remove (each active at that point).
        remove: Vec<String>,
        /// Faults to add.
        add: Vec<PlannedFault>,
    },
}

/// A client API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `start`.
    Start,
    /// `stop`.
    Stop,
    /// `destroy`.
    Destroy,
    /// `destroy_on_exit`.
    DestroyOnExit,
    /// `close`.
    Close {
        /// The timeout.
        timeout: Timeout,
    },
    /// `send_fin`.
    SendFin {
        /// The timeout.
        timeout: Timeout,
    },
    /// `is_connected`.
    IsConnected,
    /// `get_ping_interval_sec`.
    GetPingIntervalSec,
    /// `get_reconnect_timeout`.
    GetReconnectTimeout,
    /// `send_text`, `send_bin`, `send_*_partial`, `send_cont_msg`.
    Send {
        /// Which function.
        kind: SendKind,
        /// The payload.
        data: Bytes,
        /// The timeout.
        timeout: Timeout,
    },
    /// `send_with_opcode`.
    SendWithOpcode {
        /// The opcode.
        opcode: u8,
        /// The payload.
        data: Bytes,
        /// The timeout.
        timeout: Timeout,
    },
    /// `close_with_code`.
    CloseWithCode {
        /// The code (not validated, as on the device).
        code: i32,
        /// The reason bytes.
        reason: Bytes,
        /// The timeout.
        timeout: Timeout,
    },
    /// `set_uri`.
    SetUri(Template),
    /// `set_headers`.
    SetHeaders(String),
    /// `append_header`.
    AppendHeader {
        /// Name.
        key: String,
        /// Value.
        value: String,
    },
    /// `set_ping_interval_sec`.
    SetPingIntervalSec(usize),
    /// `set_reconnect_timeout`.
    SetReconnectTimeout(i32),
}

/// A call's timeout in milliseconds (`None`: `portMAX_DELAY`), turned into ticks at
/// the DUT's tick rate (`CONFIG_FREERTOS_HZ`).
pub type Timeout = Option<u64>;

/// The send functions that take a payload and a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendKind {
    /// `send_text`.
    Text,
    /// `send_bin`.
    Bin,
    /// `send_text_partial`.
    TextPartial,
    /// `send_bin_partial`.
    BinPartial,
    /// `send_cont_msg`.
    ContMsg,
}

/// A call with what it must return and whether the step waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPlan {
    /// The call.
    pub call: Call,
    /// The C return value it must give.
    pub returns: Option<i64>,
    /// Run without waiting (never with `returns`).
    pub background: bool,
}

/// What a server writes or does to the current connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerActionPlan {
    /// Frames in one write; `truncate` keeps only that many bytes (a stall mid-frame).
    Frames {
        /// The frames.
        frames: Vec<FramePlan>,
        /// Bytes kept.
        truncate: Option<usize>,
    },
    /// A message in fragments with control frames between them.
    Fragmented {
        /// TEXT (1) or BINARY (2).
        opcode: u8,
        /// The message.
        message: Bytes,
        /// Byte ranges of the fragments (at least one).
        pieces: Vec<(usize, usize)>,
        /// Frames written after fragment N (0-based, every N a fragment).
        interleave: Vec<(usize, FramePlan)>,
    },
    /// Raw chunks, each flushed, `gap_ms` apart.
    Raw {
        /// The chunks.
        chunks: Vec<Bytes>,
        /// The pause between chunks.
        gap_ms: u64,
    },
    /// Close with FIN.
    Drop,
    /// Close with RST.
    Reset,
}

impl ServerActionPlan {
    /// The server's connection action, with `seed` for generated bytes.
    pub fn to_action(&self, seed: u64) -> ConnAction {
        match self {
            ServerActionPlan::Frames { frames, truncate } => {
                let mut bytes: Vec<u8> = frames.iter().flat_map(|f| f.encode(seed)).collect();
                if let Some(n) = truncate {
                    bytes.truncate(*n);
                }
                let sends_close = truncate.is_none() && frames.iter().any(FramePlan::is_close);
                ConnAction::Write { chunks: vec![bytes], gap_ms: 0, sends_close }
            }
            ServerActionPlan::Fragmented { opcode, message, pieces, interleave } => {
                let msg = message.produce(seed);
                let last = pieces.len().saturating_sub(1);
                let mut bytes = Vec::new();
                for (i, &(from, to)) in pieces.iter().enumerate() {
                    let op = if i == 0 { *opcode } else { 0 };
                    let mut header = FrameHeader::new(Opcode::from_u8(op), (to - from) as u64);
                    header.fin = i == last;
                    bytes.extend(encode_frame(&header, &msg[from..to]));
                    for (_, f) in interleave.iter().filter(|(after, _)| *after == i) {
                        bytes.extend(f.encode(seed));
                    }
                }
                ConnAction::Write { chunks: vec![bytes], gap_ms: 0, sends_close: false }
            }
            ServerActionPlan::Raw { chunks, gap_ms } => ConnAction::Write {
                chunks: chunks.iter().map(|c| c.produce(seed)).collect(),
                gap_ms: *gap_ms,
                sends_close: false,
            },
            ServerActionPlan::Drop => ConnAction::Drop,
            ServerActionPlan::Reset => ConnAction::Reset,
        }
    }
}

/// An expected event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventExpectation {
    /// The event.
    pub event: EventId,
    /// `op_code`.
    pub op_code: Option<u8>,
    /// `fin`.
    pub fin: Option<bool>,
    /// `data_len`.
    pub data_len: Option<usize>,
    /// `payload_len`.
    pub payload_len: Option<i32>,
    /// `payload_offset`.
    pub payload_offset: Option<i32>,
    /// `close_status_code`.
    pub close_status_code: Option<i32>,
    /// `error_handle.error_type`.
    pub error_type: Option<ErrorType>,
    /// `error_handle.esp_tls_last_esp_err`.
    pub esp_tls_last_esp_err: Option<i32>,
    /// `error_handle.esp_tls_stack_err`.
    pub esp_tls_stack_err: Option<i32>,
    /// `error_handle.esp_tls_cert_verify_flags`.
    pub esp_tls_cert_verify_flags: Option<i32>,
    /// `error_handle.esp_ws_handshake_status_code`.
    pub esp_ws_handshake_status_code: Option<i32>,
    /// `error_handle.esp_transport_sock_errno`.
    pub esp_transport_sock_errno: Option<i32>,
    /// The data equals this text.
    pub text: Option<String>,
    /// The data contains this text.
    pub text_contains: Option<String>,
    /// The data equals these bytes.
    pub data: Option<Bytes>,
    /// The data's SHA-256 in lower-case hex.
    pub sha256: Option<String>,
    /// Bound in milliseconds.
    pub within_ms: u64,
    /// Not sooner than this many milliseconds after the step began.
    pub after_ms: Option<u64>,
    /// The expectation as written, for messages.
    pub shown: String,
}

/// What a server must have seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerExpectationPlan {
    /// The newest request's first line.
    pub request_line: Option<Template>,
    /// Header lines the newest request contains.
    pub request_has: Vec<Template>,
    /// Header names the newest request lacks.
    pub request_lacks: Vec<String>,
    /// The newest request's header names, in order.
    pub header_order: Option<Vec<String>>,
    /// The client's next frames.
    pub frames: Vec<FrameExpectationPlan>,
    /// No further client frame.
    pub no_more_frames: bool,
    /// Connections so far.
    pub connections: Option<usize>,
    /// Whether the client closed the newest connection.
    pub client_closed: Option<bool>,
    /// Bound in milliseconds.
    pub within_ms: u64,
}

/// An expected client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameExpectationPlan {
    /// Opcode.
    pub opcode: Option<u8>,
    /// FIN.
    pub fin: Option<bool>,
    /// Masked.
    pub masked: Option<bool>,
    /// Payload length.
    pub len: Option<usize>,
    /// Payload as text.
    pub text: Option<String>,
    /// Payload bytes.
    pub data: Option<Bytes>,
    /// The payload starts with these bytes.
    pub prefix: Option<Bytes>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_streams_differ_and_repeat() {
        let a = Bytes::Random { len: 32, stream: 1 };
        let b = Bytes::Random { len: 32, stream: 2 };
        assert_eq!(a.produce(7), a.produce(7));
        assert_ne!(a.produce(7), b.produce(7));
        assert_ne!(a.produce(7), a.produce(8));
        let r = Bytes::Repeat { pattern: b"ab".to_vec().into(), len: 5 };
        assert_eq!(r.produce(0), b"ababa");
    }

    #[test]
    fn frames_encode_with_claims_and_masks() {
        let f = |payload: &[u8]| FramePlan {
            opcode: 1,
            fin: true,
            rsv: 0,
            mask: None,
            length: None,
            payload: Bytes::fixed(payload),
        };
        assert_eq!(f(b"hi").encode(0), vec![0x81, 2, b'h', b'i']);
        assert_eq!(f(b"hi").wire_len(), 4);
        let claimed = FramePlan { length: Some(u64::MAX), ..f(b"ab") };
        let bytes = claimed.encode(0);
        assert_eq!(bytes.len(), claimed.wire_len());
        assert_eq!(&bytes[..2], &[0x81, 127]);
        let masked = FramePlan { mask: Some([1, 2, 3, 4]), ..f(b"ab") };
        assert_eq!(masked.encode(0), vec![0x81, 0x82, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2]);
        assert_eq!(masked.wire_len(), 8);
    }
}
