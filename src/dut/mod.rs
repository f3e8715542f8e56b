//! The device-under-test seam: commands in, timestamped events out. The in-process host
//! model is the first implementation; agent-protocol DUTs (subprocess, serial, TCP)
//! plug in behind the same trait.

mod command;
mod host;
mod reaction;

pub use command::{
    ClientCommand, DutError, DutEvent, DutReport, EventMatch, HandlerCall, ReactionSpec,
};
pub use host::{CallFuture, Dut, HostDut};
pub use reaction::ScriptedReaction;
