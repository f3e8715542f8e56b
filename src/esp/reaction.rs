//! Reactions: event handlers that call the client API, as C handlers do.
//!
//! On the device a handler runs in the task that raised the event — the client task for
//! almost every event — and may call the API from there: the client's lock is a
//! recursive mutex (spec §2), so a send from a handler takes the lock its own task
//! already holds and writes at once. The model's plain handlers are synchronous
//! closures and its API is `async`, so a handler that calls the API is a [`Reaction`]:
//! the client task runs it right after dispatching the event (after the plain handlers
//! of that event), still holding the core lock, and the reaction calls the API through
//! a [`HandlerApi`] that uses that lock. The consequences are the device's:
//!
//! - a send from a reaction blocks the client task until it is written: the task reads
//!   nothing, answers no PING and checks no timer meanwhile;
//! - `stop`, `close` and `close_with_code` return `ESP_FAIL` (called from the client
//!   task);
//! - `destroy` frees the client under its own task, a use-after-free on the device: the
//!   model raises its own ERROR event saying so and ends the task.
//!
//! Reactions run for events the client task raises. The ERROR and DISCONNECTED that a
//! failed send raises in the caller's task run the plain handlers only.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;

use super::client::{PORT_MAX_DELAY, TickType, send_locked};
use super::core::{Core, Shared, State, bits};
use super::event::{EventId, OwnedEvent};
use super::frame::{FIN, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT};
use crate::transport::codes::{ESP_ERR_INVALID_ARG, ESP_FAIL, ESP_OK};

/// A boxed future, as [`Reaction::react`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An event handler that calls the client API from the client task.
///
/// ```
/// use wsim::esp::{BoxFuture, HandlerApi, OwnedEvent, PORT_MAX_DELAY, Reaction};
///
/// /// Answers every complete one-frame text message with "pong".
/// struct Pong;
///
/// impl Reaction for Pong {
///     fn react<'a>(
///         &'a mut self,
///         event: &'a OwnedEvent,
///         api: &'a mut HandlerApi<'_>,
///     ) -> BoxFuture<'a, ()> {
///         Box::pin(async move {
///             if event.op_code == 1 && event.fin {
///                 let sent = api.send_text(b"pong", PORT_MAX_DELAY).await;
///                 assert!(sent == 4 || sent < 0);
///             }
///         })
///     }
/// }
/// ```
///
/// Call the API through `api`: the task holds the client's lock while the reaction
/// runs, so the client's own `async` methods would wait for it (a send made that way
/// returns -1 at once instead of waiting forever).
pub trait Reaction: Send + 'static {
    /// Handles one event (a copy of what the handlers saw; `data` is the chunk). Runs in
    /// the client task with the client's lock held; what it awaits, the task awaits.
    fn react<'a>(
        &'a mut self,
        event: &'a OwnedEvent,
        api: &'a mut HandlerApi<'_>,
    ) -> BoxFuture<'a, ()>;
}

/// The client API as a handler in the client task reaches it: the lock is already held
/// (the C lock is recursive), so lock timeouts do not apply. Return values are the C
/// ones.
pub struct HandlerApi<'c> {
    shared: &'c Shared,
    core: &'c mut Core,
}

impl std::fmt::Debug for HandlerApi<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerApi").field("client", &self.shared.id).finish_non_exhaustive()
    }
}

impl<'c> HandlerApi<'c> {
    pub(crate) fn new(shared: &'c Shared, core: &'c mut Core) -> Self {
        HandlerApi { shared, core }
    }

    fn usable(&self) -> bool {
        !self.shared.destroyed.load(Ordering::SeqCst)
    }

    /// The instance's id (the `client` field of its events).
    pub fn client_id(&self) -> u32 {
        self.shared.id
    }

    async fn send(&mut self, opcode: u8, data: &[u8], timeout: TickType) -> i32 {
        if !self.usable() {
            return -1;
        }
        send_locked(self.shared, self.core, opcode, data, timeout).await
    }

    /// `esp_websocket_client_send_text`.
    pub async fn send_text(&mut self, data: &[u8], timeout: TickType) -> i32 {
        self.send(OP_TEXT | FIN, data, timeout).await
    }

    /// `esp_websocket_client_send_bin`.
    pub async fn send_bin(&mut self, data: &[u8], timeout: TickType) -> i32 {
        self.send(OP_BINARY | FIN, data, timeout).await
    }

    /// `esp_websocket_client_send_text_partial`.
    pub async fn send_text_partial(&mut self, data: &[u8], timeout: TickType) -> i32 {
        self.send(OP_TEXT, data, timeout).await
    }

    /// `esp_websocket_client_send_bin_partial`.
    pub async fn send_bin_partial(&mut self, data: &[u8], timeout: TickType) -> i32 {
        self.send(OP_BINARY, data, timeout).await
    }

    /// `esp_websocket_client_send_cont_msg`.
    pub async fn send_cont_msg(&mut self, data: &[u8], timeout: TickType) -> i32 {
        self.send(OP_CONT, data, timeout).await
    }

    /// `esp_websocket_client_send_fin`.
    pub async fn send_fin(&mut self, timeout: TickType) -> i32 {
        self.send(FIN, &[], timeout).await
    }

    /// `esp_websocket_client_send_with_opcode`.
    pub async fn send_with_opcode(&mut self, opcode: u8, data: &[u8], timeout: TickType) -> i32 {
        self.send(opcode | FIN, data, timeout).await
    }

    /// `esp_websocket_client_close`: `ESP_FAIL` from the client task, as on the device.
    pub async fn close(&mut self, timeout: TickType) -> i32 {
        self.close_with_payload(Vec::new(), timeout).await
    }

    /// `esp_websocket_client_close_with_code`: `ESP_FAIL` from the client task.
    pub async fn close_with_code(&mut self, code: i32, data: &[u8], timeout: TickType) -> i32 {
        let mut payload = (code as u16).to_be_bytes().to_vec();
        payload.extend_from_slice(data);
        self.close_with_payload(payload, timeout).await
    }

    async fn close_with_payload(&mut self, payload: Vec<u8>, _timeout: TickType) -> i32 {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        if !self.shared.run.load(Ordering::SeqCst) || self.shared.in_client_task() {
            return ESP_FAIL;
        }
        // Reactions run in the client task only, so this is not reached; if it were,
        // the CLOSE goes out and the caller does not wait under the lock.
        if send_locked(self.shared, self.core, OP_CLOSE | FIN, &payload, PORT_MAX_DELAY).await < 0 {
            return ESP_FAIL;
        }
        self.shared.set_bits(bits::CLOSE_FRAME_SENT);
        ESP_OK
    }

    /// `esp_websocket_client_stop`: `ESP_FAIL` from the client task ("Client cannot be
    /// stopped from websocket task"); the client keeps running.
    pub fn stop(&mut self) -> i32 {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        if self.shared.has_bits(bits::STOPPED) || self.shared.in_client_task() {
            return ESP_FAIL;
        }
        // Not reached from the client task; a stop that waited here for the task would
        // wait forever under the lock.
        ESP_FAIL
    }

    /// `esp_websocket_client_destroy` from a handler: the device's stop is refused but
    /// the memory is freed while the task still runs (a use-after-free). The model
    /// raises its own ERROR event and ends the task; the call returns `ESP_OK`.
    pub fn destroy(&mut self) -> i32 {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        self.shared.destroy_from_task(Some(self.core));
        ESP_OK
    }

    /// `esp_websocket_client_is_connected`.
    pub fn is_connected(&self) -> bool {
        self.usable() && self.shared.state() == State::Connected
    }
}

/// The result of feeding one event to a [`Reassembler`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// The message is not complete yet (or the event is not part of one).
    Pending,
    /// A complete message: its opcode (1 text, 2 binary) and bytes.
    Message {
        /// `1` (TEXT) or `2` (BINARY).
        opcode: u8,
        /// The reassembled payload.
        data: Vec<u8>,
    },
    /// A complete message longer than the reassembler's limit: counted, not kept.
    TooLong {
        /// The opcode.
        opcode: u8,
        /// Its length.
        len: usize,
    },
}

/// Reassembles text and binary messages from DATA events as an application must: the
/// client neither joins the chunks of one frame (`payload_offset`, `payload_len`) nor
/// the frames of one message (`fin`, CONT frames with `op_code` 0). Control frames in
/// between are skipped. A new connection drops a message in progress.
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_len: usize,
    opcode: Option<u8>,
    data: Vec<u8>,
    len: usize,
}

impl Reassembler {
    /// A reassembler that keeps messages up to `max_len` bytes (longer ones are
    /// reported as [`Assembled::TooLong`] without being stored).
    pub fn new(max_len: usize) -> Self {
        Reassembler { max_len, opcode: None, data: Vec::new(), len: 0 }
    }

    /// Feeds one event.
    pub fn push(&mut self, ev: &OwnedEvent) -> Assembled {
        match ev.event {
            EventId::Connected | EventId::Disconnected | EventId::Closed | EventId::Finish => {
                self.reset();
                return Assembled::Pending;
            }
            EventId::Data => {}
            _ => return Assembled::Pending,
        }
        let first_chunk = ev.payload_offset == 0;
        match ev.op_code {
            1 | 2 if first_chunk => {
                // A new message (one in progress is abandoned, as its CONT never came).
                self.reset();
                self.opcode = Some(ev.op_code);
            }
            0..=2 if self.opcode.is_some() => {}
            _ => return Assembled::Pending,
        }
        self.len = self.len.saturating_add(ev.data.len());
        if self.len <= self.max_len {
            self.data.extend_from_slice(&ev.data);
        } else {
            self.data = Vec::new();
        }
        let frame_done =
            i64::from(ev.payload_offset) + ev.data_len as i64 >= i64::from(ev.payload_len);
        if !(ev.fin && frame_done) {
            return Assembled::Pending;
        }
        let opcode = self.opcode.take().unwrap_or(ev.op_code);
        let len = std::mem::take(&mut self.len);
        let data = std::mem::take(&mut self.data);
        if len > self.max_len {
            Assembled::TooLong { opcode, len }
        } else {
            Assembled::Message { opcode, data }
        }
    }

    fn reset(&mut self) {
        self.opcode = None;
        self.data = Vec::new();
        self.len = 0;
    }
}

/// What an [`Echo`] did with a complete message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoReport {
    /// It sent the message back.
    Sent {
        /// `send_text` or `send_bin`.
        function: &'static str,
        /// The message's length.
        len: usize,
        /// What the send returned.
        returned: i32,
    },
    /// The message was longer than the limit and was not kept or echoed.
    TooLong {
        /// The opcode.
        opcode: u8,
        /// Its length.
        len: usize,
    },
}

/// Echoes every complete text and binary message from the handler, as the
/// esp-protocols Autobahn testee does: `send_text` or `send_bin` with the whole
/// message once its last chunk has arrived. What it did goes to `on_report`.
pub struct Echo {
    assembler: Reassembler,
    timeout: TickType,
    on_report: Box<dyn FnMut(EchoReport) + Send>,
}

impl std::fmt::Debug for Echo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Echo").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Echo {
    /// An echo of messages up to `max_len` bytes, each sent with `timeout` ticks.
    pub fn new(
        max_len: usize,
        timeout: TickType,
        on_report: impl FnMut(EchoReport) + Send + 'static,
    ) -> Self {
        Echo { assembler: Reassembler::new(max_len), timeout, on_report: Box::new(on_report) }
    }
}

impl Reaction for Echo {
    fn react<'a>(
        &'a mut self,
        event: &'a OwnedEvent,
        api: &'a mut HandlerApi<'_>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match self.assembler.push(event) {
                Assembled::Message { opcode, data } => {
                    let (function, returned) = if opcode == 1 {
                        ("send_text", api.send_text(&data, self.timeout).await)
                    } else {
                        ("send_bin", api.send_bin(&data, self.timeout).await)
                    };
                    (self.on_report)(EchoReport::Sent { function, len: data.len(), returned });
                }
                Assembled::TooLong { opcode, len } => {
                    (self.on_report)(EchoReport::TooLong { opcode, len })
                }
                Assembled::Pending => {}
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::ErrorHandle;

    fn data(op: u8, fin: bool, payload_len: i32, offset: i32, bytes: &[u8]) -> OwnedEvent {
        OwnedEvent {
            event: EventId::Data,
            op_code: op,
            fin,
            data_len: bytes.len(),
            payload_len,
            payload_offset: offset,
            error_handle: ErrorHandle::default(),
            close_status_code: 0,
            data: bytes.to_vec(),
        }
    }

    #[test]
    fn chunks_and_continuation_frames_make_one_message() {
        let mut r = Reassembler::new(100);
        assert_eq!(r.push(&data(1, false, 5, 0, b"he")), Assembled::Pending);
        assert_eq!(r.push(&data(1, false, 5, 2, b"llo")), Assembled::Pending);
        // A PING between fragments does not disturb the message.
        assert_eq!(r.push(&data(9, true, 1, 0, b"p")), Assembled::Pending);
        assert_eq!(r.push(&data(0, true, 6, 0, b" wor")), Assembled::Pending);
        assert_eq!(
            r.push(&data(0, true, 6, 4, b"ld")),
            Assembled::Message { opcode: 1, data: b"hello world".to_vec() }
        );
        // Empty binary message; a stray CONT is ignored.
        assert_eq!(r.push(&data(0, true, 1, 0, b"x")), Assembled::Pending);
        assert_eq!(
            r.push(&data(2, true, 0, 0, b"")),
            Assembled::Message { opcode: 2, data: vec![] }
        );
    }

    #[test]
    fn a_reconnect_drops_the_partial_message_and_long_ones_are_counted() {
        let mut r = Reassembler::new(4);
        assert_eq!(r.push(&data(2, false, 3, 0, b"abc")), Assembled::Pending);
        let mut c = data(0, false, 0, 0, b"");
        c.event = EventId::Connected;
        assert_eq!(r.push(&c), Assembled::Pending);
        assert_eq!(r.push(&data(0, true, 2, 0, b"de")), Assembled::Pending);
        assert_eq!(r.push(&data(2, true, 6, 0, b"abc")), Assembled::Pending);
        assert_eq!(r.push(&data(2, true, 6, 3, b"def")), Assembled::TooLong { opcode: 2, len: 6 });
        assert_eq!(
            r.push(&data(1, true, 2, 0, b"ok")),
            Assembled::Message { opcode: 1, data: b"ok".to_vec() }
        );
    }
}
