//! The device-under-test seam: commands in, timestamped events out. The in-process host
//! model is the first implementation; agent-protocol DUTs (subprocess, serial, TCP)
//! plug in behind the same trait.

pub mod agent;
mod command;
mod host;
mod reaction;

pub use command::{
    ClientCommand, DutError, DutEvent, DutReport, EventMatch, HandlerCall, ReactionSpec,
    handler_may_call,
};
pub use host::{CallFuture, Dut, DutFuture, HostDut};
pub use reaction::ScriptedReaction;
