//! The client model: `esp_websocket_client` v1.8 with ESP-IDF's `transport_ws`,
//! following `spec/esp-websocket-client.md`.

mod client;
mod config;
mod core;
mod env;
mod event;
pub mod frame;
pub mod handshake;
mod profile;
mod reaction;
mod sdkconfig;
mod task;
mod uri;
mod ws_transport;

pub use client::{
    EspErr, EspWebsocketClient, PORT_MAX_DELAY, PORT_TICK_PERIOD_MS, TickType, ms_to_ticks,
    ms_to_ticks_at,
};
pub use config::{
    Config, DEFAULT_BUFFER_SIZE, DEFAULT_USER_AGENT, InitError, KeepAlive, TransportType,
    basic_auth,
};
pub use core::{HandlerId, State};
pub use env::{Env, SharedRng};
pub use event::{ErrorHandle, ErrorType, Event, EventData, EventFilter, EventId, OwnedEvent};
pub use profile::Profile;
pub use reaction::{Assembled, BoxFuture, Echo, EchoReport, HandlerApi, Reaction, Reassembler};
pub use sdkconfig::{SDKCONFIG_KEYS, Sdkconfig, SdkconfigError};
pub use uri::{ParsedUri, UriError, parse_uri};
