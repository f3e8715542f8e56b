//! wsim: a host-side simulator and conformance harness for Espressif's ESP WebSocket
//! client (`esp_websocket_client`).
//!
//! [`esp`] is a model of the client that behaves like the C component, quirks included;
//! [`transport`] is the esp-like socket layer it runs on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod certs;
pub mod conformance;
pub mod dut;
pub mod esp;
pub mod exit;
pub mod net;
pub mod proto;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server;
pub mod text;
pub mod transport;
