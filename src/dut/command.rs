//! What a DUT is told to do and what it reports back.

use serde::Serialize;

use crate::esp::{OwnedEvent, TickType};

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
    /// The event.
    pub event: OwnedEvent,
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
}
