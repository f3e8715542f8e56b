//! The simulated network (named hosts, listeners, connections whose directions carry a
//! chain of toxics) and the real-world TCP proxy that applies the same toxics.
//! Mechanism (links) is apart from policy (toxics).

mod link;
mod proxy;
mod rng;
mod sim;
mod toxic;

pub use link::{ConnCtl, ConnState, LinkWrite, ResetHook, new_ctl, pump};
pub use proxy::{ACCEPT_BACKOFF, Proxy};
pub use rng::SharedRng;
pub use sim::{SIM_HOST, SimListener, SimNet, SimStream};
pub use toxic::{
    ActiveToxic, CloseInjection, ConnectionFault, Direction, FrameFault, Injection, Stall, Toxic,
};
