//! The messages of the agent protocol (docs/agent-protocol.md §3), typed, with their
//! conversions to and from the DUT seam's types. One codec for both sides: the
//! host-side driver and `wsim agent`.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::line::{DEFAULT_MAX_LINE, Garble, Line, MAX_MAX_LINE, PROTOCOL_VERSION, classify};
use crate::dut::{ClientCommand, DutEvent, EventMatch, ReactionSpec};
use crate::esp::{
    Config, ErrorHandle, ErrorType, EventId, OwnedEvent, SDKCONFIG_KEYS, Sdkconfig, TickType,
};

/// Base64 (standard, padded).
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64, naming `what` on failure.
pub fn unb64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("{what}: bad base64: {e}"))
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Everything the agent sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum AgentMsg {
    /// Who the agent is (§3.1).
    Hello(Hello),
    /// The answer to a request (§3.2).
    Resp(Resp),
    /// An event (§3.7).
    Event(WireEvent),
    /// A handler's API call (§3.8).
    Hcall(WireHandlerCall),
    /// A background call's completion (§3.9).
    Done(Resp),
}

/// Everything the host sends: requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum HostMsg {
    /// A request.
    Req(Request),
}

/// The hello (§3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol's major version.
    pub proto: u32,
    /// The agent's name and version.
    #[serde(default)]
    pub agent: String,
    /// The chip (`host` for `wsim agent`).
    pub chip: String,
    /// The ESP-IDF version.
    pub idf: String,
    /// The client component's version.
    pub client: String,
    /// Free heap in bytes.
    #[serde(default)]
    pub heap: u64,
    /// The build options that matter, by Kconfig name.
    pub sdkconfig: serde_json::Map<String, serde_json::Value>,
    /// The longest line.
    pub max_line: usize,
    /// The largest inline event payload.
    pub inline_max: usize,
    /// Optional features.
    #[serde(default)]
    pub abilities: Vec<String>,
}

impl Hello {
    /// Whether the agent has an ability.
    pub fn can(&self, ability: &str) -> bool {
        self.abilities.iter().any(|a| a == ability)
    }

    /// The line length both sides use: the announced one within the protocol's bounds.
    pub fn line_limit(&self) -> usize {
        self.max_line.clamp(DEFAULT_MAX_LINE, MAX_MAX_LINE)
    }

    /// The build options as a [`Sdkconfig`] (keys missing take the defaults).
    pub fn build(&self) -> Result<Sdkconfig, String> {
        let mut s = Sdkconfig::default();
        for key in SDKCONFIG_KEYS {
            let Some(v) = self.sdkconfig.get(key) else { continue };
            let value = match v {
                serde_json::Value::Bool(b) => if *b { "y" } else { "n" }.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => return Err(format!("{key}: unexpected value {other}")),
            };
            s.set(&format!("{key}={value}")).map_err(|e| e.to_string())?;
        }
        Ok(s)
    }

    /// The build options as the hello carries them.
    pub fn sdkconfig_map(s: &Sdkconfig) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }

    /// The profile its IDF version implies: major 5 → `idf5.5`, otherwise `idf6`.
    pub fn profile(&self) -> crate::esp::Profile {
        let v = self.idf.trim_start_matches('v');
        let major: u32 = v.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(6);
        if major <= 5 { crate::esp::Profile::Idf55 } else { crate::esp::Profile::Idf6 }
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        format!("{} (IDF {}, esp_websocket_client {})", self.chip, self.idf, self.client)
    }

    /// A short name for reports and file names: chip, IDF and client versions.
    pub fn short_name(&self) -> String {
        let cut = |s: &str| s.chars().take(24).collect::<String>();
        format!("{} idf {} client {}", cut(&self.chip), cut(&self.idf), cut(&self.client))
    }

    /// Refuses a hello of another major version.
    pub fn check_version(&self) -> Result<(), String> {
        if self.proto == PROTOCOL_VERSION {
            Ok(())
        } else {
            Err(format!(
                "the DUT speaks agent protocol {}, this wsim speaks {PROTOCOL_VERSION}",
                self.proto
            ))
        }
    }
}

/// A response or completion (§3.2, §3.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resp {
    /// The request's id.
    pub id: u64,
    /// The C return value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<i64>,
    /// Why the request could not be carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// A background call was accepted; its result comes in a `done`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pending: bool,
}

impl Resp {
    /// A return value.
    pub fn ok(id: u64, ret: i64) -> Self {
        Resp { id, ret: Some(ret), err: None, pending: false }
    }

    /// An error.
    pub fn err(id: u64, err: impl Into<String>) -> Self {
        Resp { id, ret: None, err: Some(err.into()), pending: false }
    }

    /// The outcome: exactly one of `ret` and `err`.
    pub fn result(&self) -> Result<i64, String> {
        match (&self.ret, &self.err) {
            (Some(r), None) => Ok(*r),
            (None, Some(e)) => Err(e.clone()),
            _ => Err("a response with both or neither of ret and err".into()),
        }
    }
}

/// `esp_websocket_error_codes_t` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WireErrorHandle {
    /// `esp_tls_last_esp_err`.
    #[serde(default)]
    pub esp_tls_last_esp_err: i32,
    /// `esp_tls_stack_err`.
    #[serde(default)]
    pub esp_tls_stack_err: i32,
    /// `esp_tls_cert_verify_flags`.
    #[serde(default)]
    pub esp_tls_cert_verify_flags: i32,
    /// `error_type`.
    #[serde(default)]
    pub error_type: ErrorType,
    /// `esp_ws_handshake_status_code`.
    #[serde(default)]
    pub esp_ws_handshake_status_code: i32,
    /// `esp_transport_sock_errno`.
    #[serde(default)]
    pub esp_transport_sock_errno: i32,
}

/// An event (§3.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEvent {
    /// The client instance.
    pub client: String,
    /// Device time.
    pub ms: u64,
    /// Which event.
    pub event: EventId,
    /// `op_code`.
    pub op_code: u8,
    /// `fin`.
    pub fin: bool,
    /// `data_len`.
    pub data_len: usize,
    /// `payload_len`.
    pub payload_len: i32,
    /// `payload_offset`.
    pub payload_offset: i32,
    /// `close_status_code`.
    pub close_status_code: i32,
    /// `error_handle`.
    pub error_handle: WireErrorHandle,
    /// The payload, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The payload's SHA-256 when it is not inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

impl WireEvent {
    /// An event as the agent sends it: the payload inline up to `inline_max` bytes.
    pub fn from_dut(e: &DutEvent, inline_max: usize) -> Self {
        let ev = &e.event;
        let h = &ev.error_handle;
        let (data, sha256) = if ev.data.len() <= inline_max {
            ((!ev.data.is_empty()).then(|| b64(&ev.data)), None)
        } else {
            (None, Some(sha256_hex(&ev.data)))
        };
        WireEvent {
            client: e.client.clone(),
            ms: e.at_ms,
            event: ev.event,
            op_code: ev.op_code,
            fin: ev.fin,
            data_len: ev.data_len,
            payload_len: ev.payload_len,
            payload_offset: ev.payload_offset,
            close_status_code: ev.close_status_code,
            error_handle: WireErrorHandle {
                esp_tls_last_esp_err: h.esp_tls_last_esp_err,
                esp_tls_stack_err: h.esp_tls_stack_err,
                esp_tls_cert_verify_flags: h.esp_tls_cert_verify_flags,
                error_type: h.error_type,
                esp_ws_handshake_status_code: h.esp_ws_handshake_status_code,
                esp_transport_sock_errno: h.esp_transport_sock_errno,
            },
            data,
            sha256,
        }
    }

    /// The event on the host's side.
    pub fn into_dut(self) -> Result<DutEvent, String> {
        let data = match &self.data {
            Some(d) => unb64(d, "event data")?,
            None => Vec::new(),
        };
        if self.sha256.is_none() && data.len() != self.data_len {
            return Err(format!(
                "event data: data_len is {} but {} bytes came",
                self.data_len,
                data.len()
            ));
        }
        if let Some(d) = &self.sha256
            && (d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err("event sha256: not 64 hex digits".into());
        }
        let h = self.error_handle;
        Ok(DutEvent {
            client: self.client,
            at_ms: self.ms,
            event: OwnedEvent {
                event: self.event,
                op_code: self.op_code,
                fin: self.fin,
                data_len: self.data_len,
                payload_len: self.payload_len,
                payload_offset: self.payload_offset,
                error_handle: ErrorHandle {
                    esp_tls_last_esp_err: h.esp_tls_last_esp_err,
                    esp_tls_stack_err: h.esp_tls_stack_err,
                    esp_tls_cert_verify_flags: h.esp_tls_cert_verify_flags,
                    error_type: h.error_type,
                    esp_ws_handshake_status_code: h.esp_ws_handshake_status_code,
                    esp_transport_sock_errno: h.esp_transport_sock_errno,
                },
                close_status_code: self.close_status_code,
                data,
            },
            digest: self.sha256.map(|d| d.to_ascii_lowercase()),
        })
    }
}

/// A handler's call (§3.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHandlerCall {
    /// The client instance.
    pub client: String,
    /// Device time.
    pub ms: u64,
    /// The reaction (1-based).
    pub reaction: usize,
    /// The C function without its prefix.
    pub function: String,
    /// What it returned.
    pub ret: i64,
}

/// A request (§3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Its id.
    pub id: u64,
    /// What is asked.
    #[serde(flatten)]
    pub op: Op,
}

/// Bytes inline or from a staged buffer (§2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Payload {
    /// Inline bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64: Option<String>,
    /// A staged buffer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buf: Option<u32>,
}

/// A certificate: by PKI name, inline, or staged (§2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Cert {
    /// A member of the agent's test PKI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki: Option<String>,
    /// Inline bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64: Option<String>,
    /// A staged buffer (§3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buf: Option<u32>,
}

impl Cert {
    /// Inline bytes.
    pub fn inline(bytes: &[u8]) -> Cert {
        Cert { pki: None, b64: Some(b64(bytes)), buf: None }
    }
}

/// The operations (§3.3-§3.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Send a hello.
    Hello,
    /// A clean session.
    Reset {
        /// Build options over the agent's defaults.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sdkconfig: Vec<String>,
        /// The global CA store.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        global_ca: Option<Cert>,
        /// A seed for agents that draw random numbers from one (`wsim agent`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
    },
    /// `esp_websocket_client_init` and the handlers.
    Init {
        /// The instance's name.
        client: String,
        /// `esp_websocket_client_config_t` (see [`config_to_wire`]).
        config: serde_json::Value,
        /// The reactions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reactions: Vec<WireReaction>,
    },
    /// One API call.
    Call {
        /// The instance.
        client: String,
        /// The call.
        #[serde(flatten)]
        call: WireCall,
        /// Make it from a task of its own.
        #[serde(default, skip_serializing_if = "is_false")]
        background: bool,
    },
    /// A chunk of a staged payload.
    Data {
        /// The buffer.
        buf: u32,
        /// Where the chunk goes (the buffer's current length).
        offset: usize,
        /// The bytes, base64.
        b64: String,
    },
    /// Destroys every client.
    DestroyAll,
}

/// One API call on the wire (§3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WireCall {
    /// The C function without `esp_websocket_client_`.
    pub call: String,
    /// Payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Payload>,
    /// Ticks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TickType>,
    /// Close code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// Close reason, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Opcode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opcode: Option<u8>,
    /// `set_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// `set_headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<String>,
    /// `append_header` name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `append_header` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `set_ping_interval_sec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sec: Option<usize>,
    /// `set_reconnect_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<i32>,
}

impl WireCall {
    /// A command on the wire; `payload` turns its bytes into a [`Payload`] (inline, or
    /// staged by the caller).
    pub fn from_command(cmd: &ClientCommand, mut payload: impl FnMut(&[u8]) -> Payload) -> Self {
        let mut w = WireCall { call: cmd.name().to_string(), ..WireCall::default() };
        match cmd {
            ClientCommand::Start
            | ClientCommand::Stop
            | ClientCommand::Destroy
            | ClientCommand::DestroyOnExit
            | ClientCommand::GetPingIntervalSec
            | ClientCommand::GetReconnectTimeout
            | ClientCommand::IsConnected => {}
            ClientCommand::Close { timeout } | ClientCommand::SendFin { timeout } => {
                w.timeout = Some(*timeout)
            }
            ClientCommand::CloseWithCode { code, reason, timeout } => {
                w.code = Some(*code);
                w.reason = Some(b64(reason));
                w.timeout = Some(*timeout);
            }
            ClientCommand::SendText { data, timeout }
            | ClientCommand::SendBin { data, timeout }
            | ClientCommand::SendTextPartial { data, timeout }
            | ClientCommand::SendBinPartial { data, timeout }
            | ClientCommand::SendContMsg { data, timeout } => {
                w.data = Some(payload(data));
                w.timeout = Some(*timeout);
            }
            ClientCommand::SendWithOpcode { opcode, data, timeout } => {
                w.opcode = Some(*opcode);
                w.data = Some(payload(data));
                w.timeout = Some(*timeout);
            }
            ClientCommand::SetUri { uri } => w.uri = Some(uri.clone()),
            ClientCommand::SetHeaders { headers } => w.headers = Some(headers.clone()),
            ClientCommand::AppendHeader { key, value } => {
                w.key = Some(key.clone());
                w.value = Some(value.clone());
            }
            ClientCommand::SetPingIntervalSec { sec } => w.sec = Some(*sec),
            ClientCommand::SetReconnectTimeout { ms } => w.ms = Some(*ms),
        }
        w
    }

    /// The command; `resolve` produces a payload's bytes (inline or a staged buffer).
    pub fn to_command(
        &self,
        mut resolve: impl FnMut(&Payload) -> Result<Vec<u8>, String>,
    ) -> Result<ClientCommand, String> {
        let need = |v: Option<TickType>| v.ok_or_else(|| format!("{}: timeout missing", self.call));
        let mut data = || -> Result<Vec<u8>, String> {
            let p = self.data.as_ref().ok_or_else(|| format!("{}: data missing", self.call))?;
            resolve(p)
        };
        let text = |v: &Option<String>, k: &str| {
            v.clone().ok_or_else(|| format!("{}: {k} missing", self.call))
        };
        Ok(match self.call.as_str() {
            "start" => ClientCommand::Start,
            "stop" => ClientCommand::Stop,
            "destroy" => ClientCommand::Destroy,
            "destroy_on_exit" => ClientCommand::DestroyOnExit,
            "is_connected" => ClientCommand::IsConnected,
            "get_ping_interval_sec" => ClientCommand::GetPingIntervalSec,
            "get_reconnect_timeout" => ClientCommand::GetReconnectTimeout,
            "close" => ClientCommand::Close { timeout: need(self.timeout)? },
            "send_fin" => ClientCommand::SendFin { timeout: need(self.timeout)? },
            "close_with_code" => ClientCommand::CloseWithCode {
                code: self.code.ok_or("close_with_code: code missing")?,
                reason: unb64(self.reason.as_deref().unwrap_or(""), "reason")?,
                timeout: need(self.timeout)?,
            },
            "send_text" => ClientCommand::SendText { data: data()?, timeout: need(self.timeout)? },
            "send_bin" => ClientCommand::SendBin { data: data()?, timeout: need(self.timeout)? },
            "send_text_partial" => {
                ClientCommand::SendTextPartial { data: data()?, timeout: need(self.timeout)? }
            }
            "send_bin_partial" => {
                ClientCommand::SendBinPartial { data: data()?, timeout: need(self.timeout)? }
            }
            "send_cont_msg" => {
                ClientCommand::SendContMsg { data: data()?, timeout: need(self.timeout)? }
            }
            "send_with_opcode" => ClientCommand::SendWithOpcode {
                opcode: self.opcode.ok_or("send_with_opcode: opcode missing")?,
                data: data()?,
                timeout: need(self.timeout)?,
            },
            "set_uri" => ClientCommand::SetUri { uri: text(&self.uri, "uri")? },
            "set_headers" => ClientCommand::SetHeaders { headers: text(&self.headers, "headers")? },
            "append_header" => ClientCommand::AppendHeader {
                key: text(&self.key, "key")?,
                value: text(&self.value, "value")?,
            },
            "set_ping_interval_sec" => ClientCommand::SetPingIntervalSec {
                sec: self.sec.ok_or("set_ping_interval_sec: sec missing")?,
            },
            "set_reconnect_timeout" => ClientCommand::SetReconnectTimeout {
                ms: self.ms.ok_or("set_reconnect_timeout: ms missing")?,
            },
            other => return Err(format!("unknown call {other:?}")),
        })
    }
}

/// Resolves an inline payload (reactions carry only inline ones).
pub fn inline_payload(p: &Payload) -> Result<Vec<u8>, String> {
    match (&p.b64, p.buf) {
        (Some(b), None) => unb64(b, "data"),
        (None, Some(_)) => Err("a staged buffer is not allowed here".into()),
        _ => Err("a payload needs exactly one of b64 and buf".into()),
    }
}

/// A reaction on the wire (§3.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireReaction {
    /// One call per matching event.
    Call {
        /// The events.
        on: EventMatch,
        /// The call (payloads inline).
        call: Box<WireCall>,
    },
    /// Echo complete messages.
    Echo {
        /// Ticks per send.
        timeout: TickType,
    },
    /// `close_with_code` after N messages.
    CloseAfter {
        /// N.
        messages: u64,
        /// The code.
        code: i32,
        /// The reason, base64.
        #[serde(default)]
        reason: String,
        /// Ticks.
        timeout: TickType,
    },
}

impl WireReaction {
    /// A reaction on the wire.
    pub fn from_spec(r: &ReactionSpec) -> Self {
        match r {
            ReactionSpec::Call { on, call } => WireReaction::Call {
                on: on.clone(),
                call: Box::new(WireCall::from_command(call, |b| Payload {
                    b64: Some(b64(b)),
                    buf: None,
                })),
            },
            ReactionSpec::Echo { timeout } => WireReaction::Echo { timeout: *timeout },
            ReactionSpec::CloseAfter { messages, code, reason, timeout } => {
                WireReaction::CloseAfter {
                    messages: *messages,
                    code: *code,
                    reason: b64(reason),
                    timeout: *timeout,
                }
            }
        }
    }

    /// The reaction.
    pub fn to_spec(&self) -> Result<ReactionSpec, String> {
        Ok(match self {
            WireReaction::Call { on, call } => {
                let call = call.to_command(inline_payload)?;
                if !crate::dut::handler_may_call(&call) {
                    return Err(format!("a handler cannot call {}", call.name()));
                }
                ReactionSpec::Call { on: on.clone(), call }
            }
            WireReaction::Echo { timeout } => ReactionSpec::Echo { timeout: *timeout },
            WireReaction::CloseAfter { messages, code, reason, timeout } => {
                if *messages == 0 {
                    return Err("close_after: messages must be at least 1".into());
                }
                ReactionSpec::CloseAfter {
                    messages: *messages,
                    code: *code,
                    reason: unb64(reason, "reason")?,
                    timeout: *timeout,
                }
            }
        })
    }
}

const CERT_FIELDS: [&str; 3] = ["cert_pem", "client_cert", "client_key"];

/// `esp_websocket_client_config_t` on the wire: C names, fields equal to a zeroed
/// struct's left out, certificates as `cert` makes them (inline, or staged).
pub fn config_to_wire(c: &Config, mut cert: impl FnMut(&[u8]) -> Cert) -> serde_json::Value {
    let zero = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = serde_json::Map::new();
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(c) {
        for (k, v) in m {
            if zero.get(&k) == Some(&v) {
                continue;
            }
            out.insert(k, v);
        }
    }
    for (field, bytes) in CERT_FIELDS.iter().zip([&c.cert_pem, &c.client_cert, &c.client_key]) {
        if let Some(b) = bytes {
            out.insert((*field).to_string(), serde_json::to_value(cert(b)).unwrap_or_default());
        }
    }
    serde_json::Value::Object(out)
}

/// Resolves a certificate given inline; by name or staged it is an error here.
pub fn inline_cert(c: &Cert) -> Result<Vec<u8>, String> {
    match (&c.pki, &c.b64, c.buf) {
        (None, Some(b), None) => unb64(b, "certificate"),
        (Some(n), None, None) => Err(format!("no PKI member {n:?} (this agent has no test PKI)")),
        (None, None, Some(n)) => Err(format!("no staged buffer {n}")),
        _ => Err("a certificate needs exactly one of pki, b64 and buf".into()),
    }
}

/// The configuration from the wire; `cert` resolves certificates (inline, by PKI
/// name, staged).
pub fn config_from_wire(
    v: &serde_json::Value,
    mut cert: impl FnMut(&Cert) -> Result<Vec<u8>, String>,
) -> Result<Config, String> {
    let serde_json::Value::Object(m) = v else { return Err("config: not an object".into()) };
    let known = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut plain = serde_json::Map::new();
    let mut certs: [Option<Vec<u8>>; 3] = [None, None, None];
    for (k, v) in m {
        if let Some(i) = CERT_FIELDS.iter().position(|f| f == k) {
            let c: Cert =
                serde_json::from_value(v.clone()).map_err(|e| format!("config.{k}: {e}"))?;
            certs[i] = Some(cert(&c).map_err(|e| format!("config.{k}: {e}"))?);
        } else if known.get(k).is_some() {
            plain.insert(k.clone(), v.clone());
        }
        // Unknown keys are ignored (§1): minor additions stay compatible.
    }
    let mut c: Config = serde_json::from_value(serde_json::Value::Object(plain))
        .map_err(|e| format!("config: {e}"))?;
    let [cert_pem, client_cert, client_key] = certs;
    c.cert_pem = cert_pem;
    c.client_cert = client_cert;
    c.client_key = client_key;
    Ok(c)
}

/// A decoded line from the agent (host side) or from the host (agent side).
#[derive(Debug, Clone, PartialEq)]
pub enum Received<M> {
    /// Log output.
    Log(Vec<u8>),
    /// A message with its sequence number.
    Msg {
        /// The sender's sequence number.
        seq: u32,
        /// The message.
        msg: M,
    },
    /// A garbled line: why, and an excerpt.
    Garbled(Garble, String),
}

/// Classifies and decodes one line.
pub fn decode<M: serde::de::DeserializeOwned>(line: &[u8], max_line: usize) -> Received<M> {
    match classify(line, max_line) {
        Line::Log(l) => Received::Log(l.to_vec()),
        Line::Garbled(g) => Received::Garbled(g, super::line::excerpt(line)),
        Line::Frame { seq, body } => match serde_json::from_str::<M>(body) {
            Ok(msg) => Received::Msg { seq, msg },
            Err(e) => Received::Garbled(Garble::Body(e.to_string()), super::line::excerpt(line)),
        },
    }
}

/// Encodes a message as a line.
pub fn encode<M: Serialize>(seq: u32, msg: &M) -> String {
    // Serialising these types cannot fail (string keys, no non-finite floats).
    let body = serde_json::to_string(msg).unwrap_or_else(|_| "{}".into());
    super::line::encode_line(seq, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_host(msg: HostMsg) {
        let line = encode(3, &msg);
        match decode::<HostMsg>(line.trim_end().as_bytes(), MAX_MAX_LINE) {
            Received::Msg { seq: 3, msg: back } => assert_eq!(back, msg),
            other => panic!("{other:?} from {line}"),
        }
    }

    fn roundtrip_agent(msg: AgentMsg) {
        let line = encode(9, &msg);
        match decode::<AgentMsg>(line.trim_end().as_bytes(), MAX_MAX_LINE) {
            Received::Msg { seq: 9, msg: back } => assert_eq!(back, msg),
            other => panic!("{other:?} from {line}"),
        }
    }

    fn all_commands() -> Vec<ClientCommand> {
        let d = b"\x00\xffhi".to_vec();
        vec![
            ClientCommand::Start,
            ClientCommand::Stop,
            ClientCommand::Destroy,
            ClientCommand::DestroyOnExit,
            ClientCommand::Close { timeout: 10 },
            ClientCommand::CloseWithCode { code: 1000, reason: b"bye".to_vec(), timeout: 5 },
            ClientCommand::SendText { data: d.clone(), timeout: u32::MAX },
            ClientCommand::SendBin { data: d.clone(), timeout: 1 },
            ClientCommand::SendTextPartial { data: d.clone(), timeout: 2 },
            ClientCommand::SendBinPartial { data: d.clone(), timeout: 3 },
            ClientCommand::SendContMsg { data: d.clone(), timeout: 4 },
            ClientCommand::SendFin { timeout: 6 },
            ClientCommand::SendWithOpcode { opcode: 9, data: d, timeout: 7 },
            ClientCommand::SetUri { uri: "ws://x/".into() },
            ClientCommand::SetHeaders { headers: "A: b\r\n".into() },
            ClientCommand::AppendHeader { key: "k".into(), value: "v".into() },
            ClientCommand::SetPingIntervalSec { sec: 3 },
            ClientCommand::GetPingIntervalSec,
            ClientCommand::SetReconnectTimeout { ms: 500 },
            ClientCommand::GetReconnectTimeout,
            ClientCommand::IsConnected,
        ]
    }

    #[test]
    fn every_command_round_trips_through_a_line() {
        for cmd in all_commands() {
            let call = WireCall::from_command(&cmd, |b| Payload { b64: Some(b64(b)), buf: None });
            let msg = HostMsg::Req(Request {
                id: 4,
                op: Op::Call { client: "a".into(), call: call.clone(), background: false },
            });
            roundtrip_host(msg);
            assert_eq!(call.to_command(inline_payload).unwrap(), cmd);
        }
    }

    #[test]
    fn staged_payloads_resolve_through_the_callback() {
        let cmd = ClientCommand::SendBin { data: vec![1, 2, 3], timeout: 1 };
        let call = WireCall::from_command(&cmd, |_| Payload { b64: None, buf: Some(7) });
        assert_eq!(call.data, Some(Payload { b64: None, buf: Some(7) }));
        assert!(call.to_command(inline_payload).is_err());
        let back = call.to_command(|p| {
            assert_eq!(p.buf, Some(7));
            Ok(vec![1, 2, 3])
        });
        assert_eq!(back.unwrap(), cmd);
    }

    #[test]
    fn config_round_trips_with_certificates() {
        let c = Config {
            uri: Some("wss://127.0.0.1:1/x".into()),
            buffer_size: 512,
            cert_pem: Some(b"-----BEGIN CERTIFICATE-----\n".to_vec()),
            client_key: Some(vec![0, 1, 2]),
            client_key_len: 3,
            task_core_id: Some(1),
            transport: crate::esp::TransportType::OverSsl,
            ..Config::default()
        };
        let w = config_to_wire(&c, Cert::inline);
        assert!(w.get("port").is_none(), "zero fields are left out: {w}");
        assert!(w["cert_pem"]["b64"].is_string());
        assert_eq!(config_from_wire(&w, inline_cert).unwrap(), c);
        let by_name = serde_json::json!({"uri": "ws://a/", "cert_pem": {"pki": "ca"}, "later": 1});
        let c = config_from_wire(&by_name, |c| match c.pki.as_deref() {
            Some("ca") => Ok(b"CA".to_vec()),
            _ => Err("no".into()),
        })
        .unwrap();
        assert_eq!(c.cert_pem.as_deref(), Some(&b"CA"[..]));
        let staged = config_to_wire(&c, |_| Cert { buf: Some(4), ..Cert::default() });
        assert_eq!(staged["cert_pem"], serde_json::json!({"buf": 4}));
        assert!(config_from_wire(&staged, inline_cert).unwrap_err().contains("no staged buffer 4"));
        assert!(
            config_from_wire(&serde_json::json!({"cert_pem": {"pki": "nope"}}), inline_cert)
                .is_err()
        );
        assert!(config_from_wire(&serde_json::json!({"port": "x"}), inline_cert).is_err());
        let both = serde_json::json!({"cert_pem": {"pki": "ca", "b64": ""}});
        assert!(config_from_wire(&both, inline_cert).is_err());
    }

    #[test]
    fn requests_and_agent_messages_round_trip() {
        roundtrip_host(HostMsg::Req(Request { id: 1, op: Op::Hello }));
        roundtrip_host(HostMsg::Req(Request {
            id: 2,
            op: Op::Reset {
                sdkconfig: vec!["CONFIG_FREERTOS_HZ=1000".into()],
                global_ca: Some(Cert::inline(b"x")),
                seed: Some(5),
            },
        }));
        roundtrip_host(HostMsg::Req(Request { id: 3, op: Op::DestroyAll }));
        roundtrip_host(HostMsg::Req(Request {
            id: 4,
            op: Op::Data { buf: 1, offset: 0, b64: b64(b"abc") },
        }));
        let reactions = vec![
            ReactionSpec::Echo { timeout: 9 },
            ReactionSpec::CloseAfter { messages: 2, code: 1000, reason: b"x".to_vec(), timeout: 1 },
            ReactionSpec::Call {
                on: EventMatch {
                    event: EventId::Data,
                    op_code: Some(1),
                    fin: None,
                    data_len: None,
                    payload_len: None,
                    payload_offset: None,
                    text: Some("go".into()),
                },
                call: ClientCommand::SendText { data: b"pong".to_vec(), timeout: 3 },
            },
        ];
        let wire: Vec<WireReaction> = reactions.iter().map(WireReaction::from_spec).collect();
        roundtrip_host(HostMsg::Req(Request {
            id: 5,
            op: Op::Init {
                client: "a".into(),
                config: config_to_wire(&Config::default(), Cert::inline),
                reactions: wire.clone(),
            },
        }));
        let back: Vec<ReactionSpec> = wire.iter().map(|w| w.to_spec().unwrap()).collect();
        assert_eq!(back, reactions);
        let hello = Hello {
            proto: 1,
            agent: "wsim".into(),
            chip: "host".into(),
            idf: "v5.5.1".into(),
            client: "1.8.0".into(),
            heap: 1,
            sdkconfig: Hello::sdkconfig_map(&Sdkconfig::default()),
            max_line: 4096,
            inline_max: 1024,
            abilities: vec!["background".into()],
        };
        assert_eq!(hello.profile(), crate::esp::Profile::Idf55);
        assert_eq!(hello.build().unwrap(), Sdkconfig::default());
        roundtrip_agent(AgentMsg::Hello(hello));
        roundtrip_agent(AgentMsg::Resp(Resp::ok(3, -1)));
        roundtrip_agent(AgentMsg::Resp(Resp::err(3, "no")));
        roundtrip_agent(AgentMsg::Done(Resp::ok(3, 5)));
        roundtrip_agent(AgentMsg::Hcall(WireHandlerCall {
            client: "a".into(),
            ms: 1,
            reaction: 2,
            function: "send_text".into(),
            ret: 4,
        }));
    }

    #[test]
    fn events_carry_every_field_and_large_payloads_as_digests() {
        let mut ev = OwnedEvent {
            event: EventId::Data,
            op_code: 2,
            fin: true,
            data_len: 3,
            payload_len: 3,
            payload_offset: 0,
            error_handle: ErrorHandle {
                esp_tls_last_esp_err: -1,
                esp_tls_stack_err: 2,
                esp_tls_cert_verify_flags: 8,
                error_type: ErrorType::PongTimeout,
                esp_ws_handshake_status_code: 101,
                esp_transport_sock_errno: 104,
            },
            close_status_code: 1000,
            data: vec![1, 2, 3],
        };
        let e = DutEvent { client: "a".into(), at_ms: 77, event: ev.clone(), digest: None };
        let w = WireEvent::from_dut(&e, 16);
        roundtrip_agent(AgentMsg::Event(w.clone()));
        assert_eq!(w.into_dut().unwrap(), e);
        ev.data = vec![7; 100];
        ev.data_len = 100;
        let big = DutEvent { client: "a".into(), at_ms: 1, event: ev, digest: None };
        let w = WireEvent::from_dut(&big, 16);
        assert!(w.data.is_none());
        let back = w.into_dut().unwrap();
        assert!(back.event.data.is_empty());
        assert_eq!(back.digest.as_deref(), Some(sha256_hex(&[7; 100]).as_str()));
    }

    #[test]
    fn bad_bodies_are_garbled_not_panics() {
        for body in [
            "{}",
            "[]",
            "null",
            r#"{"t":"nope"}"#,
            r#"{"t":"resp"}"#,
            r#"{"t":"hello","proto":"x"}"#,
            r#"{"t":"event","client":"a"}"#,
            "{\"t\":\"resp\",\"id\":1e400}",
        ] {
            let line = super::super::line::encode_line(0, body);
            assert!(
                matches!(
                    decode::<AgentMsg>(line.trim_end().as_bytes(), 4096),
                    Received::Garbled(Garble::Body(_), _)
                ),
                "{body}"
            );
        }
        // Inconsistent data_len is caught when converting.
        let mut w = WireEvent::from_dut(
            &DutEvent {
                client: "a".into(),
                at_ms: 0,
                event: OwnedEvent {
                    event: EventId::Data,
                    op_code: 1,
                    fin: true,
                    data_len: 2,
                    payload_len: 2,
                    payload_offset: 0,
                    error_handle: ErrorHandle::default(),
                    close_status_code: 0,
                    data: b"hi".to_vec(),
                },
                digest: None,
            },
            100,
        );
        w.data_len = 5;
        assert!(w.into_dut().is_err());
    }
}
