//! What a DUT is told to do and what it reports back.

use serde::Serialize;

use crate::esp::{OwnedEvent, TickType};
pub use crate::scenario::EventMatch;

/// One client API call, as the agent protocol will carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ClientCommand {
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
        /// Ticks.
        timeout: TickType,
    },
    /// `close_with_code`.
    CloseWithCode {
        /// Code.
        code: i32,
        /// Reason bytes.
        #[serde(skip)]
        reason: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
    /// `send_text`.
    SendText {
        /// Bytes.
        #[serde(skip)]
        data: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
    /// `send_bin`.
    SendBin {
        /// Bytes.
        #[serde(skip)]
        data: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
    /// `send_text_partial`.
    SendTextPartial {
        /// Bytes.
        #[serde(skip)]
        data: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
    /// `send_bin_partial`.
    SendBinPartial {
        /// Bytes.
        #[serde(skip)]
        data: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
    /// `send_cont_msg`.
    SendContMsg {
        /// Bytes.
        #[serde(skip)]
        data: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
    /// `send_fin`.
    SendFin {
        /// Ticks.
        timeout: TickType,
    },
    /// `send_with_opcode`.
    SendWithOpcode {
        /// Opcode.
        opcode: u8,
        /// Bytes.
        #[serde(skip)]
        data: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
    /// `set_uri`.
    SetUri {
        /// The URI.
        uri: String,
    },
    /// `set_headers`.
    SetHeaders {
        /// Header lines.
        headers: String,
    },
    /// `append_header`.
    AppendHeader {
        /// Name.
        key: String,
        /// Value.
        value: String,
    },
    /// `set_ping_interval_sec`.
    SetPingIntervalSec {
        /// Seconds.
        sec: usize,
    },
    /// `get_ping_interval_sec`.
    GetPingIntervalSec,
    /// `set_reconnect_timeout`.
    SetReconnectTimeout {
        /// Milliseconds.
        ms: i32,
    },
    /// `get_reconnect_timeout`.
    GetReconnectTimeout,
    /// `is_connected`.
    IsConnected,
}

impl ClientCommand {
    /// The C function name without its `esp_websocket_client_` prefix.
    pub fn name(&self) -> &'static str {
        match self {
            ClientCommand::Start => "start",
            ClientCommand::Stop => "stop",
            ClientCommand::Destroy => "destroy",
            ClientCommand::DestroyOnExit => "destroy_on_exit",
            ClientCommand::Close { .. } => "close",
            ClientCommand::CloseWithCode { .. } => "close_with_code",
            ClientCommand::SendText { .. } => "send_text",
            ClientCommand::SendBin { .. } => "send_bin",
            ClientCommand::SendTextPartial { .. } => "send_text_partial",
            ClientCommand::SendBinPartial { .. } => "send_bin_partial",
            ClientCommand::SendContMsg { .. } => "send_cont_msg",
            ClientCommand::SendFin { .. } => "send_fin",
            ClientCommand::SendWithOpcode { .. } => "send_with_opcode",
            ClientCommand::SetUri { .. } => "set_uri",
            ClientCommand::SetHeaders { .. } => "set_headers",
            ClientCommand::AppendHeader { .. } => "append_header",
            ClientCommand::SetPingIntervalSec { .. } => "set_ping_interval_sec",
            ClientCommand::GetPingIntervalSec => "get_ping_interval_sec",
            ClientCommand::SetReconnectTimeout { .. } => "set_reconnect_timeout",
            ClientCommand::GetReconnectTimeout => "get_reconnect_timeout",
            ClientCommand::IsConnected => "is_connected",
        }
    }
}

/// An event from a DUT client, timestamped on the DUT's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutEvent {
    /// The client instance's name.
    pub client: String,
    /// Milliseconds since the DUT's epoch.
    pub at_ms: u64,
    /// The event. When the DUT sent only a digest of a large payload, `data` is empty
    /// and `digest` holds the payload's SHA-256.
    pub event: OwnedEvent,
    /// The SHA-256 (lower-case hex) of a payload the DUT did not send inline.
    pub digest: Option<String>,
}

/// Why a DUT could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DutError {
    /// No client of that name was created.
    #[error("the DUT has no client named {0:?}")]
    UnknownClient(String),
    /// The DUT cannot be reached.
    #[error("the DUT is unreachable: {0}")]
    Unreachable(String),
    /// The DUT answered a request with an error (no C function was called).
    #[error("the DUT refused {request}: {reason}")]
    Refused {
        /// The request.
        request: String,
        /// The DUT's reason.
        reason: String,
    },
    /// The DUT speaks another protocol version or sent something impossible.
    #[error("the DUT does not speak the agent protocol: {0}")]
    Protocol(String),
    /// No answer within the bound.
    #[error("the DUT did not answer {request} within {ms} ms")]
    Timeout {
        /// The request.
        request: String,
        /// The bound.
        ms: u64,
    },
}

/// A handler that calls the API, given when the client is created (the agent protocol
/// carries these with the client's configuration). Reactions are numbered from 1 in
/// the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reaction", rename_all = "snake_case")]
pub enum ReactionSpec {
    /// One API call on every matching event. Only calls a handler can make: the sends,
    /// `close`, `close_with_code`, `stop`, `destroy`, `is_connected`.
    Call {
        /// The event that triggers it.
        on: EventMatch,
        /// The call.
        call: ClientCommand,
    },
    /// Reassemble every text and binary message and echo it once complete
    /// (`send_text` / `send_bin`).
    Echo {
        /// Ticks for each send.
        timeout: TickType,
    },
    /// `close_with_code` once the `messages`-th complete text or binary message has
    /// arrived (from the handler: `ESP_FAIL` on the device, and the client keeps going).
    CloseAfter {
        /// Count of complete messages (at least 1).
        messages: u64,
        /// The code.
        code: i32,
        /// The reason bytes.
        #[serde(skip)]
        reason: Vec<u8>,
        /// Ticks.
        timeout: TickType,
    },
}

/// Whether an event handler may make `call` (the sends, `close`, `close_with_code`,
/// `stop`, `destroy`, `is_connected`).
pub fn handler_may_call(call: &ClientCommand) -> bool {
    matches!(
        call,
        ClientCommand::SendText { .. }
            | ClientCommand::SendBin { .. }
            | ClientCommand::SendTextPartial { .. }
            | ClientCommand::SendBinPartial { .. }
            | ClientCommand::SendContMsg { .. }
            | ClientCommand::SendFin { .. }
            | ClientCommand::SendWithOpcode { .. }
            | ClientCommand::Close { .. }
            | ClientCommand::CloseWithCode { .. }
            | ClientCommand::Stop
            | ClientCommand::Destroy
            | ClientCommand::IsConnected
    )
}

/// A call a client's handler made, and what it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerCall {
    /// The client instance's name.
    pub client: String,
    /// Milliseconds since the DUT's epoch.
    pub at_ms: u64,
    /// Which reaction (1-based, in the order given at creation).
    pub reaction: usize,
    /// The C function name without its `esp_websocket_client_` prefix.
    pub function: String,
    /// What it returned.
    pub returned: i64,
}

/// What a DUT reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DutReport {
    /// A client raised an event.
    Event(DutEvent),
    /// A client's handler called the API.
    Call(HandlerCall),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{ErrorHandle, EventId};

    fn data(op_code: u8, fin: bool, offset: i32, bytes: &[u8]) -> OwnedEvent {
        OwnedEvent {
            event: EventId::Data,
            op_code,
            fin,
            data_len: bytes.len(),
            payload_len: 10,
            payload_offset: offset,
            error_handle: ErrorHandle::default(),
            close_status_code: 0,
            data: bytes.to_vec(),
        }
    }

    #[test]
    fn an_event_match_checks_only_the_fields_it_names() {
        let any_data = EventMatch {
            event: EventId::Data,
            op_code: None,
            fin: None,
            data_len: None,
            payload_len: None,
            payload_offset: None,
            text: None,
        };
        assert!(any_data.matches(&data(1, true, 0, b"go")));
        let mut connected = data(0, false, 0, b"");
        connected.event = EventId::Connected;
        assert!(!any_data.matches(&connected));
        let go = EventMatch {
            op_code: Some(1),
            fin: Some(true),
            payload_offset: Some(0),
            text: Some("go".into()),
            ..any_data.clone()
        };
        assert!(go.matches(&data(1, true, 0, b"go")));
        assert!(!go.matches(&data(2, true, 0, b"go")));
        assert!(!go.matches(&data(1, false, 0, b"go")));
        assert!(!go.matches(&data(1, true, 2, b"go")));
        assert!(!go.matches(&data(1, true, 0, b"gone")));
        let sized = EventMatch { data_len: Some(4), payload_len: Some(10), ..any_data };
        assert!(sized.matches(&data(0, true, 0, b"gone")));
        assert!(!sized.matches(&data(0, true, 0, b"go")));
    }
}
