//! Servers for scenarios: a well-behaved echo server and a scripted server that can
//! break the handshake and write raw frames, generic over the byte stream, recording
//! what the client sent.

mod echo;
mod handle;
mod io;
mod record;
mod script;
mod wire;

pub use echo::{EchoLimits, SubprotocolPolicy, serve_echo};
pub use handle::{ServerError, ServerHandle, ServerKind, ServerOptions};
pub use io::{Observe, ServerIo, Tap};
pub use record::{ConnRecord, REQUEST_LIMIT, RecordLimits, Recorded, Recorder};
pub use script::{AcceptMode, ConnAction, HandshakeReply, ScriptBehaviour, serve_script};
pub use wire::{
    ClientFrame, ConnectionLog, Direction, FrameCollector, WireEntry, frame_header, server_frame,
};
