//! The agent protocol (docs/agent-protocol.md): one codec for both sides — the
//! host-side driver ([`AgentDut`]) and `wsim agent` ([`serve_agent`]).

pub mod line;
pub mod message;

pub use line::{
    DEFAULT_MAX_LINE, Garble, Line, LineSplitter, MARKER, MAX_MAX_LINE, PROTOCOL_VERSION, RawLine,
    classify, crc32, encode_line,
};
pub use message::{
    AgentMsg, Cert, Hello, HostMsg, Op, Payload, Received, Request, Resp, WireCall, WireEvent,
    WireHandlerCall, WireReaction, config_from_wire, config_to_wire, decode, encode,
};
mod driver;
pub mod rfc2217;
pub mod serial;
mod serve;

pub use driver::{AgentDut, DutSpec, HELLO_TIMEOUT, REQUEST_TIMEOUT};

pub use serve::{AgentOptions, MAX_STAGED_BUFFER, MAX_STAGED_TOTAL, serve_agent};
