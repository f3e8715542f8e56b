//! The scenario file format: the serde model behind TOML (and JSON) scenario files.
//! Unknown keys are errors everywhere.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::payload::Payload;
use crate::certs::ServerCert;
use crate::esp::{ErrorType, EventId, Profile, TransportType};
use crate::net::{ConnectionFault, Direction, Toxic};
use crate::server::{AcceptMode, SubprotocolPolicy};

/// The default overall bound of a scenario.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The default bound of one expectation.
pub const DEFAULT_WITHIN_MS: u64 = 5_000;

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn yes() -> bool {
    true
}

/// One scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A stable id (default: the file's path under the suite root, without extension).
    #[serde(default)]
    pub id: Option<String>,
    /// What the scenario checks, in one sentence.
    pub name: String,
    /// More detail, and the spec section it follows.
    #[serde(default)]
    pub description: Option<String>,
    /// Tags for `--tag`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Profiles the scenario applies to (default: all); others skip it.
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// Worlds the scenario runs in (default: both); others skip it.
    #[serde(default)]
    pub worlds: Vec<World>,
    /// DUTs the scenario does not apply to, with the reasons (`[dut] skip`).
    #[serde(default)]
    pub dut: super::dut::DutRules,
    /// Overall bound in milliseconds (virtual time in the simulated world).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Faults in place for the whole scenario.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Events that expectations skip, for every client.
    #[serde(default)]
    pub ignore: Vec<EventId>,
    /// Build options for this scenario (`CONFIG_…` = `true`/`false` or a number), over
    /// the run's (`--sdkconfig`).
    #[serde(default)]
    pub sdkconfig: BTreeMap<String, SdkValue>,
    /// Servers by name.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerSpec>,
    /// Client instances by name.
    pub clients: BTreeMap<String, ClientSpec>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// A value of a build option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SdkValue {
    /// A switch.
    Flag(bool),
    /// A number.
    Number(u32),
    /// `y` / `n` or a number, as text.
    Text(String),
}

impl SdkValue {
    /// The value as an `sdkconfig` line writes it.
    pub fn as_line_value(&self) -> String {
        match self {
            SdkValue::Flag(b) => if *b { "y" } else { "n" }.to_string(),
            SdkValue::Number(n) => n.to_string(),
            SdkValue::Text(t) => t.clone(),
        }
    }
}

/// Where a scenario runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum World {
    /// The simulated network on virtual time (the default).
    #[default]
    Sim,
    /// Real loopback sockets in real time, faults through a TCP proxy.
    Real,
}

impl World {
    /// The world's name.
    pub fn name(self) -> &'static str {
        match self {
            World::Sim => "sim",
            World::Real => "real",
        }
    }
}

/// A fault on a server's connections: a toxic on one direction, or a connection fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// A name, to remove it later.
    #[serde(default)]
    pub name: Option<String>,
    /// The server whose connections it affects.
    pub server: String,
    /// `downstream` (server to client, default) or `upstream`.
    #[serde(default)]
    pub direction: Direction,
    /// A toxic: `latency`, `bandwidth`, `slicer`, `limit_data`, `reset_peer`, `timeout`,
    /// `slow_close`, `down`, `frames`.
    #[serde(default)]
    pub toxic: Option<Toxic>,
    /// A connection fault: `{ refuse = [N] }`, `{ blackhole = true }`.
    #[serde(default)]
    pub connection: Option<ConnectionFault>,
}

/// Faults added and removed between steps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    /// Faults to add.
    #[serde(default)]
    pub add: Vec<FaultSpec>,
    /// Names of faults to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Echo or scripted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ServerKindName {
    /// The tokio-tungstenite echo server.
    #[default]
    Echo,
    /// The scripted server.
    Script,
}

/// A server of the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// `echo` (default) or `script`.
    #[serde(default)]
    pub kind: ServerKindName,
    /// TLS certificate: `none` (default), `valid`, `expired`, `wrong-host`, `untrusted`,
    /// `self-signed`.
    #[serde(default)]
    pub tls: ServerCert,
    /// Require a client certificate signed by the test CA.
    #[serde(default)]
    pub mtls: bool,
    /// A fixed port (simulated world only; e.g. 80 or 443 to test default ports).
    #[serde(default)]
    pub port: Option<u16>,
    /// Echo server: how to answer `Sec-WebSocket-Protocol`.
    #[serde(default)]
    pub subprotocol: SubprotocolPolicy,
    /// Scripted server: the handshake answer for every connection.
    #[serde(default)]
    pub handshake: Option<HandshakeSpec>,
    /// Scripted server: handshake answers by connection (the last repeats).
    #[serde(default)]
    pub handshakes: Vec<HandshakeSpec>,
    /// Scripted server: answer PINGs.
    #[serde(default = "yes")]
    pub reply_ping: bool,
    /// Scripted server: answer CLOSE with CLOSE and close TCP.
    #[serde(default = "yes")]
    pub reply_close: bool,
    /// Scripted server: echo data frames.
    #[serde(default)]
    pub echo: bool,
}

/// A handshake answer of the scripted server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandshakeSpec {
    /// Status code (default 101).
    #[serde(default)]
    pub status: Option<u16>,
    /// Reason phrase.
    #[serde(default)]
    pub reason: Option<String>,
    /// `valid`, `missing`, `wrong`, `empty`, `no_space`, `twice`, `{ prefix = N }`,
    /// `{ value = "…" }` (default: valid for 101, missing otherwise).
    #[serde(default)]
    pub accept: Option<AcceptMode>,
    /// Extra header lines.
    #[serde(default)]
    pub headers: Vec<String>,
    /// `Location` (placeholders like `{other.url}` allowed).
    #[serde(default)]
    pub location: Option<String>,
    /// Pad the header block with this many bytes.
    #[serde(default)]
    pub pad: usize,
    /// Write the response in pieces of these sizes.
    #[serde(default)]
    pub split: Vec<usize>,
    /// Pause before each piece, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Close after the response (default: when the status is not 101).
    #[serde(default)]
    pub close_after: Option<bool>,
    /// Frames sent in the same write as the response.
    #[serde(default)]
    pub trailing: Vec<FrameSpec>,
}

/// Certificate material for a client: a name from the run's test PKI (`ca`,
/// `untrusted-ca`, `server`, `client`, …), or a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum CertRef {
    /// A name from the test PKI.
    Named(String),
    /// A PEM or DER file, relative to the scenario.
    File {
        /// The path.
        file: String,
    },
}

/// A client instance: every `esp_websocket_client_config_t` field under its C name,
/// and the reactions of its event handler.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// `uri`; `{server}`, `{server.host}`, `{server.port}`, `{server.url}` are replaced.
    pub uri: Option<String>,
    /// `host`.
    pub host: Option<String>,
    /// `port` (placeholders allowed as a string, e.g. `"{main.port}"`).
    pub port: Option<PortSpec>,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `path`.
    pub path: Option<String>,
    /// `disable_auto_reconnect`.
    #[serde(default)]
    pub disable_auto_reconnect: bool,
    /// `enable_close_reconnect`.
    #[serde(default)]
    pub enable_close_reconnect: bool,
    /// `user_context`.
    #[serde(default)]
    pub user_context: usize,
    /// `task_prio`.
    #[serde(default)]
    pub task_prio: i32,
    /// `task_name`.
    pub task_name: Option<String>,
    /// `task_stack`.
    #[serde(default)]
    pub task_stack: i32,
    /// `task_core_id`.
    pub task_core_id: Option<i32>,
    /// `buffer_size`.
    #[serde(default)]
    pub buffer_size: i32,
    /// `cert_pem`.
    pub cert_pem: Option<CertRef>,
    /// Pass `cert_pem` as DER with `cert_len` set.
    #[serde(default)]
    pub cert_der: bool,
    /// `client_cert`.
    pub client_cert: Option<CertRef>,
    /// `client_key`.
    pub client_key: Option<CertRef>,
    /// `transport`: `unknown`, `over_tcp`, `over_ssl`.
    #[serde(default)]
    pub transport: TransportType,
    /// `subprotocol`.
    pub subprotocol: Option<String>,
    /// `user_agent`.
    pub user_agent: Option<String>,
    /// `headers`: raw lines, each ending in `\r\n`.
    pub headers: Option<String>,
    /// `pingpong_timeout_sec`.
    #[serde(default)]
    pub pingpong_timeout_sec: i32,
    /// `disable_pingpong_discon`.
    #[serde(default)]
    pub disable_pingpong_discon: bool,
    /// `use_global_ca_store` (the global store holds the run's test CA).
    #[serde(default)]
    pub use_global_ca_store: bool,
    /// `cert_common_name`.
    pub cert_common_name: Option<String>,
    /// `skip_cert_common_name_check`.
    #[serde(default)]
    pub skip_cert_common_name_check: bool,
    /// `keep_alive_enable`.
    #[serde(default)]
    pub keep_alive_enable: bool,
    /// `keep_alive_idle`.
    #[serde(default)]
    pub keep_alive_idle: i32,
    /// `keep_alive_interval`.
    #[serde(default)]
    pub keep_alive_interval: i32,
    /// `keep_alive_count`.
    #[serde(default)]
    pub keep_alive_count: i32,
    /// `reconnect_timeout_ms`.
    #[serde(default)]
    pub reconnect_timeout_ms: i32,
    /// `network_timeout_ms`.
    #[serde(default)]
    pub network_timeout_ms: i32,
    /// `ping_interval_sec`.
    #[serde(default)]
    pub ping_interval_sec: usize,
    /// What the client's event handler does besides recording events: API calls made
    /// from the client task, as firmware handlers make them.
    #[serde(default)]
    pub reactions: Vec<ReactionEntry>,
}

/// One reaction of a client's event handler. Exactly one of `reply` (with `on`),
/// `echo`, `close_after`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionEntry {
    /// The events `reply` answers: `event` and optional fields, as an expectation.
    pub on: Option<ReactionTrigger>,
    /// The call made on each matching event: a send (`send_text`, `send_bin`,
    /// `send_text_partial`, `send_bin_partial`, `send_cont_msg`, `send_with_opcode`,
    /// `send_fin`), `close`, `close_with_code`, `stop`, `destroy` or `is_connected`,
    /// with `timeout_ms` and `returns` as in a step.
    pub reply: Option<ClientCall>,
    /// Reassemble every text and binary message and echo it once complete.
    #[serde(default)]
    pub echo: bool,
    /// `close_with_code` once this many complete text or binary messages arrived.
    pub close_after: Option<CloseAfter>,
    /// `echo`: each send's timeout in milliseconds (default forever).
    pub timeout_ms: Option<u64>,
}

/// The event a reaction answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReactionTrigger {
    /// The event name (`connected`, `data`, …).
    pub event: Option<EventId>,
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
    /// The chunk equals this text.
    pub text: Option<String>,
}

/// `close_with_code` from the handler after a number of messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseAfter {
    /// Complete text or binary messages to wait for (at least 1).
    pub messages: u64,
    /// The code.
    pub code: i32,
    /// The reason bytes.
    #[serde(default)]
    pub reason: Option<Payload>,
    /// The call's timeout in milliseconds (default forever).
    pub timeout_ms: Option<u64>,
    /// The return value the call must give.
    pub returns: Option<i64>,
}

/// A port: a number, or a string with a placeholder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum PortSpec {
    /// A number.
    Number(i32),
    /// A placeholder such as `"{main.port}"`.
    Text(String),
}

/// One step. Exactly one of its action keys is set (plus optional `note`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Client API calls, by client name.
    #[serde(default)]
    pub client: Option<BTreeMap<String, ClientCall>>,
    /// Server actions, by server name.
    #[serde(default)]
    pub server: Option<BTreeMap<String, ServerAction>>,
    /// Expected events, by client name: one or a list, matched in order.
    #[serde(default)]
    pub expect: Option<BTreeMap<String, OneOrMany<Expectation>>>,
    /// No (non-ignored) event for a while, by client name.
    #[serde(default)]
    pub expect_none: Option<BTreeMap<String, Quiet>>,
    /// What a server has seen from the client, by server name.
    #[serde(default)]
    pub expect_server: Option<BTreeMap<String, ServerExpectation>>,
    /// Sleep this many milliseconds.
    #[serde(default)]
    pub wait_ms: Option<u64>,
    /// Add or remove faults.
    #[serde(default)]
    pub fault: Option<FaultStep>,
    /// A comment shown in reports.
    #[serde(default)]
    pub note: Option<String>,
}

impl Step {
    /// The keys of the actions set in this step.
    pub fn action_keys(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.client.is_some() {
            k.push("client");
        }
        if self.server.is_some() {
            k.push("server");
        }
        if self.expect.is_some() {
            k.push("expect");
        }
        if self.expect_none.is_some() {
            k.push("expect_none");
        }
        if self.expect_server.is_some() {
            k.push("expect_server");
        }
        if self.wait_ms.is_some() {
            k.push("wait_ms");
        }
        if self.fault.is_some() {
            k.push("fault");
        }
        k
    }
}

/// A value or a list of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One.
    One(T),
    /// Several, in order.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The values in order.
    pub fn to_vec(&self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Client commands without arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimpleCommand {
    /// `esp_websocket_client_start`.
    Start,
    /// `esp_websocket_client_stop`.
    Stop,
    /// `esp_websocket_client_destroy`.
    Destroy,
    /// `esp_websocket_client_destroy_on_exit`.
    DestroyOnExit,
    /// `esp_websocket_client_close` (with `timeout_ms`, default forever).
    Close,
    /// `esp_websocket_client_send_fin`.
    SendFin,
    /// `esp_websocket_client_is_connected` (returns 1 or 0).
    IsConnected,
    /// `esp_websocket_client_get_ping_interval_sec`.
    GetPingIntervalSec,
    /// `esp_websocket_client_get_reconnect_timeout`.
    GetReconnectTimeout,
}

/// A client API call: a command name, or a table with one command and options.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ClientCall {
    /// A command without arguments.
    Simple(SimpleCommand),
    /// A command with arguments and options.
    Full(Box<CallSpec>),
}

impl<'de> Deserialize<'de> for ClientCall {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClientCall;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command name (start, stop, destroy, close, …) or a table such as { send_text = \"hi\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClientCall, E> {
                SimpleCommand::deserialize(de::value::StrDeserializer::<E>::new(v))
                    .map(ClientCall::Simple)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ClientCall, A::Error> {
                let c = CallSpec::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let n = c.command_count();
                if n != 1 {
                    return Err(de::Error::custom(format!(
                        "a client call needs exactly one command (call, send_text, send_bin, close_with_code, …), found {n}"
                    )));
                }
                Ok(ClientCall::Full(Box::new(c)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A client call with arguments. Exactly one command key is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// A command without arguments (to add `returns` or `timeout_ms`).
    pub call: Option<SimpleCommand>,
    /// `send_text`.
    pub send_text: Option<Payload>,
    /// `send_bin`.
    pub send_bin: Option<Payload>,
    /// `send_text_partial`.
    pub send_text_partial: Option<Payload>,
    /// `send_bin_partial`.
    pub send_bin_partial: Option<Payload>,
    /// `send_cont_msg`.
    pub send_cont_msg: Option<Payload>,
    /// `send_with_opcode`.
    pub send_with_opcode: Option<OpcodeSend>,
    /// `close_with_code`.
    pub close_with_code: Option<CloseCall>,
    /// `set_uri` (placeholders allowed).
    pub set_uri: Option<String>,
    /// `set_headers`.
    pub set_headers: Option<String>,
    /// `append_header`.
    pub append_header: Option<HeaderPair>,
    /// `set_ping_interval_sec`.
    pub set_ping_interval_sec: Option<usize>,
    /// `set_reconnect_timeout`.
    pub set_reconnect_timeout: Option<i32>,
    /// The call's timeout in milliseconds (converted to ticks); default forever.
    pub timeout_ms: Option<u64>,
    /// The return value the call must give.
    pub returns: Option<i64>,
    /// Run the call without waiting for it (for calls that block, like `close`).
    #[serde(default)]
    pub background: bool,
}

impl CallSpec {
    /// How many command keys are set.
    pub fn command_count(&self) -> usize {
        [
            self.call.is_some(),
            self.send_text.is_some(),
            self.send_bin.is_some(),
            self.send_text_partial.is_some(),
            self.send_bin_partial.is_some(),
            self.send_cont_msg.is_some(),
            self.send_with_opcode.is_some(),
            self.close_with_code.is_some(),
            self.set_uri.is_some(),
            self.set_headers.is_some(),
            self.append_header.is_some(),
            self.set_ping_interval_sec.is_some(),
            self.set_reconnect_timeout.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// Arguments of `send_with_opcode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpcodeSend {
    /// The opcode (FIN is added).
    pub opcode: u8,
    /// The payload (default empty).
    #[serde(default)]
    pub data: Option<Payload>,
}

/// Arguments of `close_with_code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseCall {
    /// The code (not validated, as on the device).
    pub code: i32,
    /// The reason bytes.
    #[serde(default)]
    pub reason: Option<Payload>,
}

/// Arguments of `append_header`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderPair {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: String,
}

/// One server frame. Exactly one of `text`, `binary`, `cont`, `ping`, `pong`, `close`,
/// `opcode` is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrameSpec {
    /// A TEXT frame.
    pub text: Option<Payload>,
    /// A BINARY frame.
    pub binary: Option<Payload>,
    /// A continuation frame.
    pub cont: Option<Payload>,
    /// A PING.
    pub ping: Option<Payload>,
    /// A PONG.
    pub pong: Option<Payload>,
    /// A CLOSE.
    pub close: Option<CloseFrame>,
    /// Any opcode, with `data`.
    pub opcode: Option<u8>,
    /// The payload for `opcode`.
    pub data: Option<Payload>,
    /// The FIN bit (default true).
    pub fin: Option<bool>,
    /// RSV bits 1-3 as a number 0-7.
    #[serde(default)]
    pub rsv: u8,
    /// Mask the frame with this key (servers must not; the client accepts it).
    pub mask: Option<[u8; 4]>,
    /// Claim this payload length instead of the real one.
    pub length: Option<u64>,
}

/// A CLOSE frame's payload: nothing, a code, or a code and a reason.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseFrame {
    /// The code.
    pub code: Option<u16>,
    /// The reason.
    pub reason: Option<String>,
    /// Raw payload instead of code and reason.
    pub data: Option<Payload>,
}

/// A scripted server's action. Exactly one key is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerAction {
    /// Send one frame.
    pub send: Option<FrameSpec>,
    /// Send several frames in one write.
    pub send_many: Option<Vec<FrameSpec>>,
    /// Send a message in fragments.
    pub send_fragmented: Option<Fragmented>,
    /// Send only the first `bytes` bytes of a frame (a stall mid-frame).
    pub send_partial: Option<PartialFrame>,
    /// Write raw bytes.
    pub raw: Option<Payload>,
    /// Write raw pieces, each flushed, `gap_ms` apart.
    pub raw_chunks: Option<Vec<Payload>>,
    /// The pause between pieces for `raw_chunks`.
    #[serde(default)]
    pub gap_ms: u64,
    /// Close TCP with FIN.
    #[serde(default)]
    pub drop: bool,
    /// Close TCP with RST.
    #[serde(default)]
    pub reset: bool,
}

/// A fragmented message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fragmented {
    /// A TEXT message.
    pub text: Option<Payload>,
    /// A BINARY message.
    pub binary: Option<Payload>,
    /// Fragment sizes; the rest goes in a last fragment.
    pub frames: Vec<usize>,
    /// Control frames inserted after fragment N (0-based).
    #[serde(default)]
    pub interleave: Vec<Interleave>,
}

/// A control frame inside a fragmented message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interleave {
    /// After which fragment (0-based).
    pub after: usize,
    /// The control frame.
    pub frame: FrameSpec,
}

/// The first bytes of a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartialFrame {
    /// The frame.
    pub frame: FrameSpec,
    /// How many of its bytes to write.
    pub bytes: usize,
}

/// An expected event.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The event name (`connected`, `data`, …).
    pub event: Option<EventId>,
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
    pub data: Option<Payload>,
    /// The data's SHA-256, in hex.
    pub sha256: Option<String>,
    /// Bound for this event in milliseconds (default 5000).
    pub within_ms: Option<u64>,
    /// It must arrive no sooner than this many milliseconds after the previous step.
    pub after_ms: Option<u64>,
}

/// Quiet period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quiet {
    /// How long.
    pub for_ms: u64,
}

/// What a server must have seen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerExpectation {
    /// The newest request's first line equals this.
    pub request_line: Option<String>,
    /// The newest request contains these header lines (without CRLF), verbatim.
    #[serde(default)]
    pub request_has: Vec<String>,
    /// The newest request lacks headers with these names (case-insensitive).
    #[serde(default)]
    pub request_lacks: Vec<String>,
    /// The newest request's header names, in order (exact list).
    pub header_order: Option<Vec<String>>,
    /// The next frames from the client, in order.
    #[serde(default)]
    pub frames: Vec<FrameExpectation>,
    /// No further frame from the client.
    #[serde(default)]
    pub no_more_frames: bool,
    /// The number of connections so far.
    pub connections: Option<usize>,
    /// The client closed the newest connection (true) or keeps it open (false).
    pub client_closed: Option<bool>,
    /// Bound in milliseconds (default 5000).
    pub within_ms: Option<u64>,
}

/// An expected client frame.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FrameExpectation {
    /// Opcode.
    pub opcode: Option<u8>,
    /// FIN.
    pub fin: Option<bool>,
    /// Masked (every client frame must be).
    pub masked: Option<bool>,
    /// Payload length.
    pub len: Option<usize>,
    /// Payload as text.
    pub text: Option<String>,
    /// Payload bytes.
    pub data: Option<Payload>,
    /// The payload starts with these bytes (for payloads whose tail is undefined).
    pub prefix: Option<Payload>,
}
