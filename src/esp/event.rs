//! Events and their data: `esp_websocket_event_id_t`, `esp_websocket_event_data_t` and
//! `esp_websocket_error_codes_t` (spec §3).

use serde::{Deserialize, Serialize};

use super::profile::Profile;

/// `esp_websocket_event_id_t` without the `WEBSOCKET_EVENT_` prefix.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventId {
    /// `WEBSOCKET_EVENT_ERROR`.
    Error,
    /// `WEBSOCKET_EVENT_HEADER_RECEIVED` (IDF ≥ 6.0 only).
    HeaderReceived,
    /// `WEBSOCKET_EVENT_CONNECTED`.
    Connected,
    /// `WEBSOCKET_EVENT_DISCONNECTED`.
    Disconnected,
    /// `WEBSOCKET_EVENT_DATA`.
    Data,
    /// `WEBSOCKET_EVENT_CLOSED`.
    Closed,
    /// `WEBSOCKET_EVENT_BEFORE_CONNECT`.
    BeforeConnect,
    /// `WEBSOCKET_EVENT_BEGIN`.
    Begin,
    /// `WEBSOCKET_EVENT_FINISH`.
    Finish,
}

impl EventId {
    /// Every event, in the C enum's order.
    pub const ALL: [EventId; 9] = [
        EventId::Error,
        EventId::HeaderReceived,
        EventId::Connected,
        EventId::Disconnected,
        EventId::Data,
        EventId::Closed,
        EventId::BeforeConnect,
        EventId::Begin,
        EventId::Finish,
    ];

    /// The C name, e.g. `WEBSOCKET_EVENT_DATA`.
    pub fn c_name(self) -> &'static str {
        match self {
            EventId::Error => "WEBSOCKET_EVENT_ERROR",
            EventId::HeaderReceived => "WEBSOCKET_EVENT_HEADER_RECEIVED",
            EventId::Connected => "WEBSOCKET_EVENT_CONNECTED",
            EventId::Disconnected => "WEBSOCKET_EVENT_DISCONNECTED",
            EventId::Data => "WEBSOCKET_EVENT_DATA",
            EventId::Closed => "WEBSOCKET_EVENT_CLOSED",
            EventId::BeforeConnect => "WEBSOCKET_EVENT_BEFORE_CONNECT",
            EventId::Begin => "WEBSOCKET_EVENT_BEGIN",
            EventId::Finish => "WEBSOCKET_EVENT_FINISH",
        }
    }

    /// The short lower-case name used in JSON (`data`, `before_connect`, …).
    pub fn name(self) -> &'static str {
        match self {
            EventId::Error => "error",
            EventId::HeaderReceived => "header_received",
            EventId::Connected => "connected",
            EventId::Disconnected => "disconnected",
            EventId::Data => "data",
            EventId::Closed => "closed",
            EventId::BeforeConnect => "before_connect",
            EventId::Begin => "begin",
            EventId::Finish => "finish",
        }
    }

    /// Parses [`EventId::name`].
    pub fn from_name(name: &str) -> Option<EventId> {
        EventId::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The numeric id under `profile`: the values shift by one from `CONNECTED` on in
    /// IDF ≥ 6.0, where `HEADER_RECEIVED` exists (spec §3.1). `None` when the event does
    /// not exist in that profile.
    pub fn c_value(self, profile: Profile) -> Option<i32> {
        let idf6 = profile.walks_headers();
        let shift = i32::from(idf6);
        Some(match self {
            EventId::Error => 0,
            EventId::HeaderReceived => return idf6.then_some(1),
            EventId::Connected => 1 + shift,
            EventId::Disconnected => 2 + shift,
            EventId::Data => 3 + shift,
            EventId::Closed => 4 + shift,
            EventId::BeforeConnect => 5 + shift,
            EventId::Begin => 6 + shift,
            EventId::Finish => 7 + shift,
        })
    }
}

/// `esp_websocket_error_type_t`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// `WEBSOCKET_ERROR_TYPE_NONE` (0).
    #[default]
    None,
    /// `WEBSOCKET_ERROR_TYPE_TCP_TRANSPORT` (1).
    TcpTransport,
    /// `WEBSOCKET_ERROR_TYPE_PONG_TIMEOUT` (2).
    PongTimeout,
    /// `WEBSOCKET_ERROR_TYPE_HANDSHAKE` (3): defined, never set by the client.
    Handshake,
    /// `WEBSOCKET_ERROR_TYPE_SERVER_CLOSE` (4): set on the close-reconnect path only.
    ServerClose,
}

impl ErrorType {
    /// The C numeric value.
    pub fn c_value(self) -> i32 {
        match self {
            ErrorType::None => 0,
            ErrorType::TcpTransport => 1,
            ErrorType::PongTimeout => 2,
            ErrorType::Handshake => 3,
            ErrorType::ServerClose => 4,
        }
    }
}

/// `esp_websocket_error_codes_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ErrorHandle {
    /// `esp_tls_last_esp_err`.
    pub esp_tls_last_esp_err: i32,
    /// `esp_tls_stack_err`.
    pub esp_tls_stack_err: i32,
    /// `esp_tls_cert_verify_flags`.
    pub esp_tls_cert_verify_flags: i32,
    /// `error_type`.
    pub error_type: ErrorType,
    /// `esp_ws_handshake_status_code`.
    pub esp_ws_handshake_status_code: i32,
    /// `esp_transport_sock_errno`.
    pub esp_transport_sock_errno: i32,
}

/// `esp_websocket_event_data_t`. `data` borrows the client's buffer and is valid only
/// during the handler, as `data_ptr` is on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventData<'a> {
    /// `data_ptr` / `data_len`.
    pub data: &'a [u8],
    /// `op_code`: the current frame's opcode (stale on non-DATA events).
    pub op_code: u8,
    /// `fin`: the current frame's FIN bit.
    pub fin: bool,
    /// `payload_len`: the current frame's payload length.
    pub payload_len: i32,
    /// `payload_offset`: bytes of this frame delivered before this chunk.
    pub payload_offset: i32,
    /// `error_handle`.
    pub error_handle: ErrorHandle,
    /// `close_status_code` (component v1.8).
    pub close_status_code: i32,
    /// `user_context`.
    pub user_context: usize,
    /// `client`: the instance's id.
    pub client: u32,
}

/// One event as a handler receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// Which event.
    pub id: EventId,
    /// Its data.
    pub data: EventData<'a>,
}

impl Event<'_> {
    /// An owned copy, for keeping events after the handler returns.
    pub fn to_owned_event(&self) -> OwnedEvent {
        OwnedEvent {
            event: self.id,
            op_code: self.data.op_code,
            fin: self.data.fin,
            data_len: self.data.data.len(),
            payload_len: self.data.payload_len,
            payload_offset: self.data.payload_offset,
            error_handle: self.data.error_handle,
            close_status_code: self.data.close_status_code,
            data: self.data.data.to_vec(),
        }
    }
}

/// An event with its data copied out of the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnedEvent {
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
    /// `error_handle`.
    pub error_handle: ErrorHandle,
    /// `close_status_code`.
    pub close_status_code: i32,
    /// The bytes of `data_ptr`.
    #[serde(skip)]
    pub data: Vec<u8>,
}

impl OwnedEvent {
    /// The data as text if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }

    /// The data as lower-case hex.
    pub fn hex(&self) -> String {
        self.data.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Which events a handler receives (`WEBSOCKET_EVENT_ANY` or one id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFilter {
    /// `WEBSOCKET_EVENT_ANY`.
    Any,
    /// One event id.
    Only(EventId),
}

impl EventFilter {
    /// Whether `id` passes the filter.
    pub fn matches(self, id: EventId) -> bool {
        match self {
            EventFilter::Any => true,
            EventFilter::Only(x) => x == id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_shift_with_header_received_on_idf6() {
        assert_eq!(EventId::Connected.c_value(Profile::Idf6), Some(2));
        assert_eq!(EventId::Connected.c_value(Profile::Idf55), Some(1));
        assert_eq!(EventId::Finish.c_value(Profile::Idf6), Some(8));
        assert_eq!(EventId::Finish.c_value(Profile::Idf55), Some(7));
        assert_eq!(EventId::HeaderReceived.c_value(Profile::Idf55), None);
        assert_eq!(EventId::Error.c_value(Profile::Idf55), Some(0));
        assert_eq!(ErrorType::PongTimeout.c_value(), 2);
        assert_eq!(ErrorType::ServerClose.c_value(), 4);
        for e in EventId::ALL {
            assert_eq!(EventId::from_name(e.name()), Some(e));
        }
    }
}
