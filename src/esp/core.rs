//! The state one client shares between its task and the API callers, and the steps
//! both sides use: event dispatch, the error event, `abort_connection`.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::config::Storage;
use super::env::Env;
use super::event::{ErrorHandle, ErrorType, Event, EventData, EventFilter, EventId, OwnedEvent};
use super::frame::OP_NONE;
use super::profile::Profile;
use super::reaction::{HandlerApi, Reaction};
use super::ws_transport::{WsReader, WsTransport, WsWriter};
use crate::transport::codes;

/// `websocket_client_state_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum State {
    /// `WEBSOCKET_STATE_UNKNOW`.
    Unknow = 0,
    /// `WEBSOCKET_STATE_INIT`.
    Init = 1,
    /// `WEBSOCKET_STATE_CONNECTED`.
    Connected = 2,
    /// `WEBSOCKET_STATE_WAIT_TIMEOUT`.
    WaitTimeout = 3,
    /// `WEBSOCKET_STATE_CLOSING`.
    Closing = 4,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            1 => State::Init,
            2 => State::Connected,
            3 => State::WaitTimeout,
            4 => State::Closing,
            _ => State::Unknow,
        }
    }
}

/// Status bits of the client's event group.
pub(crate) mod bits {
    /// The task is not running.
    pub const STOPPED: u8 = 1;
    /// A CLOSE frame has been sent.
    pub const CLOSE_FRAME_SENT: u8 = 2;
    /// `stop()` asked the task to end.
    pub const REQUESTED_STOP: u8 = 4;
    /// `set_reconnect_timeout()` asked the reconnect wait to re-evaluate.
    pub const WAKEUP: u8 = 8;
}

/// An event handler.
pub type Handler = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// A registered reaction (see [`Reaction`]).
pub(crate) type SharedReaction = Arc<tokio::sync::Mutex<Box<dyn Reaction>>>;

/// An event waiting for its reactions: a copy of it and the reactions it passed.
type PendingReaction = (OwnedEvent, Vec<SharedReaction>);

/// Identifies a registered handler, for `unregister_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandlerId(pub(crate) u64);

/// Everything behind the client's recursive mutex on the device.
pub(crate) struct Core {
    pub cfg: Storage,
    pub transport: Option<WsTransport>,
    pub writer: Option<WsWriter>,
    pub error_type: ErrorType,
    pub handshake_status: i32,
    pub last_fin: bool,
    pub last_opcode: u16,
    pub payload_len: i32,
    pub payload_offset: i32,
    pub close_status_code: i32,
    pub ping_tick_ms: u64,
    pub pingpong_tick_ms: u64,
    pub reconnect_tick_ms: u64,
    pub wait_for_pong: bool,
    pub rx_buffer: Vec<u8>,
    pub tx_buffer: Vec<u8>,
    /// Sockets left open by redirects (the device never closes them).
    pub leaked: Vec<(WsReader, WsWriter)>,
}

/// The client's shared half: what the task and the API callers both reach.
pub(crate) struct Shared {
    pub id: u32,
    pub profile: Profile,
    pub env: Env,
    pub core: tokio::sync::Mutex<Core>,
    state: AtomicU8,
    pub run: AtomicBool,
    pub bits: watch::Sender<u8>,
    /// Bumped whenever the connection is closed or replaced, so the task drops a stale
    /// reader and ends a poll on it at once.
    pub conn_gen: watch::Sender<u64>,
    pub handlers: Mutex<Vec<(HandlerId, EventFilter, Handler)>>,
    /// Handlers that call the API (see [`Reaction`]).
    pub reactions: Mutex<Vec<(HandlerId, EventFilter, SharedReaction)>>,
    /// Events the client task raised whose reactions have not run yet.
    pending_reactions: Mutex<std::collections::VecDeque<PendingReaction>>,
    pub next_handler: std::sync::atomic::AtomicU64,
    pub task_id: Mutex<Option<tokio::task::Id>>,
    pub epoch: Instant,
    pub destroyed: AtomicBool,
    /// A panic of the client task (a model bug), with its message.
    pub panicked: Mutex<Option<String>>,
    pub destroy_on_exit: AtomicBool,
}

impl Shared {
    pub fn new(id: u32, profile: Profile, env: Env, cfg: Storage) -> Shared {
        let size = cfg.buffer_size;
        Shared {
            id,
            profile,
            env,
            core: tokio::sync::Mutex::new(Core {
                cfg,
                transport: None,
                writer: None,
                error_type: ErrorType::None,
                handshake_status: 0,
                last_fin: false,
                last_opcode: OP_NONE,
                payload_len: 0,
                payload_offset: 0,
                close_status_code: 0,
                ping_tick_ms: 0,
                pingpong_tick_ms: 0,
                reconnect_tick_ms: 0,
                wait_for_pong: false,
                rx_buffer: vec![0; size],
                tx_buffer: Vec::with_capacity(size),
                leaked: Vec::new(),
            }),
            state: AtomicU8::new(State::Unknow as u8),
            run: AtomicBool::new(false),
            bits: watch::Sender::new(bits::STOPPED),
            conn_gen: watch::Sender::new(0),
            handlers: Mutex::new(Vec::new()),
            reactions: Mutex::new(Vec::new()),
            pending_reactions: Mutex::new(std::collections::VecDeque::new()),
            next_handler: std::sync::atomic::AtomicU64::new(1),
            task_id: Mutex::new(None),
            epoch: Instant::now(),
            destroyed: AtomicBool::new(false),
            panicked: Mutex::new(None),
            destroy_on_exit: AtomicBool::new(false),
        }
    }

    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::SeqCst))
    }

    pub fn set_state(&self, s: State) {
        self.state.store(s as u8, Ordering::SeqCst);
    }

    /// A FreeRTOS tick count as a duration at the build's tick rate; `portMAX_DELAY`
    /// is forever (`None`).
    pub fn ticks_to_duration(&self, t: super::TickType) -> Option<Duration> {
        (t != super::PORT_MAX_DELAY)
            .then(|| Duration::from_millis(u64::from(t) * self.env.sdkconfig.tick_period_ms()))
    }

    /// `_tick_get_ms()`: milliseconds since `init`, on the world's clock.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn has_bits(&self, b: u8) -> bool {
        *self.bits.borrow() & b != 0
    }

    pub fn set_bits(&self, b: u8) {
        self.bits.send_modify(|v| *v |= b);
    }

    pub fn clear_bits(&self, b: u8) {
        self.bits.send_modify(|v| *v &= !b);
    }

    /// Waits until any of `b` is set, for at most `limit` (`None`: forever). Returns
    /// whether a bit was set.
    pub async fn wait_bits(&self, b: u8, limit: Option<Duration>) -> bool {
        let mut rx = self.bits.subscribe();
        let wait = rx.wait_for(|v| v & b != 0);
        match limit {
            None => wait.await.is_ok(),
            Some(d) => matches!(tokio::time::timeout(d, wait).await, Ok(Ok(_))),
        }
    }

    /// Whether the caller runs in this client's task (the device compares task handles).
    pub fn in_client_task(&self) -> bool {
        let current = tokio::task::try_id();
        current.is_some() && *self.task_id.lock().unwrap_or_else(|p| p.into_inner()) == current
    }

    /// `esp_websocket_client_dispatch_event`: builds the event data from the client's
    /// current fields and runs the handlers synchronously, in the caller's task.
    pub fn dispatch(&self, core: &Core, id: EventId, data: &[u8]) {
        let mut error_handle = ErrorHandle {
            error_type: core.error_type,
            esp_ws_handshake_status_code: core.handshake_status,
            ..ErrorHandle::default()
        };
        if core.error_type == ErrorType::TcpTransport
            && let Some(t) = &core.transport
        {
            // esp_tls_get_and_clear_last_error + esp_transport_get_errno: read and cleared.
            let e = t.inner.errors().get_and_clear();
            error_handle.esp_tls_last_esp_err = e.last_error;
            error_handle.esp_tls_stack_err = e.esp_tls_error_code;
            error_handle.esp_tls_cert_verify_flags = e.esp_tls_flags;
            error_handle.esp_transport_sock_errno = e.sock_errno;
        }
        let event = Event {
            id,
            data: EventData {
                data,
                op_code: (core.last_opcode & 0xFF) as u8,
                fin: core.last_fin,
                payload_len: core.payload_len,
                payload_offset: core.payload_offset,
                error_handle,
                close_status_code: core.close_status_code,
                user_context: core.cfg.user_context,
                client: self.id,
            },
        };
        let handlers: Vec<Handler> = self
            .handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, f, _)| f.matches(id))
            .map(|(_, _, h)| h.clone())
            .collect();
        for h in handlers {
            h(&event);
        }
        self.queue_reactions(&event);
    }

    /// Notes `event` for the reactions it passes, when the client task raised it; the
    /// task runs them with [`Shared::react`] right after the dispatch.
    fn queue_reactions(&self, event: &Event<'_>) {
        let matching: Vec<SharedReaction> = self
            .reactions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, f, _)| f.matches(event.id))
            .map(|(_, _, r)| r.clone())
            .collect();
        if matching.is_empty() || !self.in_client_task() {
            return;
        }
        self.pending_reactions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((event.to_owned_event(), matching));
    }

    /// Runs the reactions of the events dispatched since the last call, in order, in
    /// the client task with the lock (`core`) held, as C handlers run inside
    /// `esp_event_loop_run`. Events the reactions raise (a failed send's ERROR and
    /// DISCONNECTED) get their reactions after them.
    pub async fn react(&self, core: &mut Core) {
        loop {
            let next = self.pending_reactions.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
            let Some((event, reactions)) = next else { return };
            for r in reactions {
                let mut r = r.lock().await;
                let mut api = HandlerApi::new(self, core);
                r.react(&event, &mut api).await;
            }
        }
    }

    /// `destroy()` from the client's own task: on the device the stop is refused and
    /// the memory freed under the running task (a use-after-free). The model raises its
    /// own ERROR event (when it can reach the core) and ends the task.
    pub fn destroy_from_task(&self, core: Option<&Core>) {
        if let Some(core) = core {
            self.error(
                core,
                "wsim: destroy() called from the websocket task: use-after-free on the device",
            );
        }
        self.run.store(false, Ordering::SeqCst);
        self.destroyed.store(true, Ordering::SeqCst);
    }

    /// `esp_websocket_client_error`: raises ERROR with the message as its data.
    pub fn error(&self, core: &Core, message: &str) {
        self.dispatch(core, EventId::Error, message.as_bytes());
    }

    /// The `transport_error=…, tls_error_code=…, tls_flags=…` part of error messages,
    /// read from the transport's error handle without clearing it.
    /// The error handle's part of an ERROR text, and the `errno` the text prints: the
    /// client task's global `errno` as the transport's calls left it (the C code prints
    /// `errno`, not the captured socket errno).
    pub fn transport_error_text(core: &Core) -> (String, i32) {
        let record = core.transport.as_ref().map(|t| t.inner.errors());
        let e = record.map(|r| r.peek()).unwrap_or_default();
        (
            format!(
                "transport_error={}, tls_error_code={}, tls_flags={}",
                codes::esp_err_to_name(e.last_error),
                e.esp_tls_error_code,
                e.esp_tls_flags
            ),
            record.map_or(0, |r| r.errno()),
        )
    }

    /// Closes the connection's sockets and tells the task its reader is stale.
    pub async fn close_transport(&self, core: &mut Core) {
        if let Some(mut w) = core.writer.take() {
            w.close().await;
        }
        self.conn_gen.send_modify(|g| *g += 1);
    }

    /// `esp_websocket_client_abort_connection`: a no-op in CLOSING, UNKNOW and
    /// WAIT_TIMEOUT; otherwise closes the transport, moves to WAIT_TIMEOUT (or stops the
    /// task without auto-reconnect), records `error_type` and raises DISCONNECTED.
    pub async fn abort_connection(&self, core: &mut Core, error_type: ErrorType) {
        if matches!(self.state(), State::Closing | State::Unknow | State::WaitTimeout) {
            return;
        }
        self.close_transport(core).await;
        if core.cfg.auto_reconnect {
            core.reconnect_tick_ms = self.now_ms();
            self.set_state(State::WaitTimeout);
        } else {
            self.run.store(false, Ordering::SeqCst);
            self.set_state(State::Unknow);
        }
        core.error_type = error_type;
        self.dispatch(core, EventId::Disconnected, &[]);
    }
}
