//! The public client API, mirroring `esp_websocket_client.h` (spec §2): the same
//! names, the same return values, the same preconditions and quirks.
//!
//! Calls that block on the device are `async` here; they wait on the world's clock
//! (virtual time in a simulated world). Event handlers run synchronously in the task
//! that raised the event, as on the device.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::config::{Config, DEFAULT_PING_INTERVAL_SEC, DEFAULT_USER_AGENT, InitError, Storage};
use super::core::{Core, Handler, HandlerId, Shared, State, bits};
use super::env::Env;
use super::event::{ErrorType, Event, EventFilter};
use super::frame::{FIN, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT};
use super::profile::Profile;
use super::ws_transport::{WsSettings, WsTransport};
use crate::transport::codes::{ESP_ERR_INVALID_ARG, ESP_ERR_INVALID_STATE, ESP_FAIL, ESP_OK};
use crate::transport::{EspTransport, Security};

/// `esp_err_t`.
pub type EspErr = i32;
/// `TickType_t`.
pub type TickType = u32;
/// `portMAX_DELAY`: wait forever.
pub const PORT_MAX_DELAY: TickType = u32::MAX;
/// `portTICK_PERIOD_MS` with ESP-IDF's default `CONFIG_FREERTOS_HZ=100`.
pub const PORT_TICK_PERIOD_MS: u64 = 10;

/// `pdMS_TO_TICKS`.
pub fn ms_to_ticks(ms: u64) -> TickType {
    ms_to_ticks_at(ms, PORT_TICK_PERIOD_MS)
}

/// `pdMS_TO_TICKS` at a tick period of `period_ms` (`CONFIG_FREERTOS_HZ`): truncated
/// to whole ticks, below `portMAX_DELAY`.
pub fn ms_to_ticks_at(ms: u64, period_ms: u64) -> TickType {
    (ms / period_ms.max(1)).min(u64::from(PORT_MAX_DELAY - 1)) as TickType
}

/// An `esp_websocket_client_handle_t`. Clones are the same client.
#[derive(Clone)]
pub struct EspWebsocketClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EspWebsocketClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspWebsocketClient")
            .field("id", &self.shared.id)
            .field("state", &self.shared.state())
            .finish_non_exhaustive()
    }
}

impl EspWebsocketClient {
    /// `esp_websocket_client_init` on real sockets with the default profile. `None` is
    /// the C NULL: a bad URI, or `cert_common_name` with `skip_cert_common_name_check`.
    pub fn init(config: &Config) -> Option<Self> {
        Self::try_init(config, &Env::real(), Profile::default()).ok()
    }

    /// `init` in a given world and profile, saying why it failed.
    pub fn try_init(config: &Config, env: &Env, profile: Profile) -> Result<Self, InitError> {
        let storage = Storage::from_config(config)?;
        let id = env.next_client_id();
        Ok(EspWebsocketClient { shared: Arc::new(Shared::new(id, profile, env.clone(), storage)) })
    }

    /// The first panic of the client's task (a bug of the model), if any.
    pub fn failure(&self) -> Option<String> {
        self.shared.panicked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The instance's id (the `client` field of its events).
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// The profile this client follows.
    pub fn profile(&self) -> Profile {
        self.shared.profile
    }

    fn usable(&self) -> bool {
        !self.shared.destroyed.load(Ordering::SeqCst)
    }

    /// `esp_websocket_register_events`: `handler` runs for every event `filter` passes.
    pub fn register_events<F>(&self, filter: EventFilter, handler: F) -> HandlerId
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        let id = HandlerId(self.shared.next_handler.fetch_add(1, Ordering::SeqCst));
        let h: Handler = Arc::new(handler);
        self.shared.handlers.lock().unwrap_or_else(|p| p.into_inner()).push((id, filter, h));
        id
    }

    /// Registers a handler that calls the API: `reaction` runs for every event `filter`
    /// passes that the client task raises, right after that event's plain handlers, in
    /// the client task with the client's lock held (see [`Reaction`]). What it sends
    /// blocks the task until written; `stop`, `close` and `close_with_code` from it
    /// return `ESP_FAIL`; `destroy` from it is the device's use-after-free (an ERROR
    /// event of the model's own, then the task ends).
    ///
    /// [`Reaction`]: super::Reaction
    pub fn register_reaction(
        &self,
        filter: EventFilter,
        reaction: impl super::Reaction,
    ) -> HandlerId {
        let id = HandlerId(self.shared.next_handler.fetch_add(1, Ordering::SeqCst));
        let r: Box<dyn super::Reaction> = Box::new(reaction);
        self.shared.reactions.lock().unwrap_or_else(|p| p.into_inner()).push((
            id,
            filter,
            Arc::new(tokio::sync::Mutex::new(r)),
        ));
        id
    }

    /// Removes a reaction registered with [`EspWebsocketClient::register_reaction`]
    /// (`ESP_ERR_INVALID_ARG` if there is none with that id and filter).
    pub fn unregister_reaction(&self, filter: EventFilter, reaction: HandlerId) -> EspErr {
        let mut rs = self.shared.reactions.lock().unwrap_or_else(|p| p.into_inner());
        let before = rs.len();
        rs.retain(|(id, f, _)| !(*id == reaction && *f == filter));
        if rs.len() == before { ESP_ERR_INVALID_ARG } else { ESP_OK }
    }

    /// `esp_websocket_unregister_events`.
    pub fn unregister_events(&self, filter: EventFilter, handler: HandlerId) -> EspErr {
        let mut hs = self.shared.handlers.lock().unwrap_or_else(|p| p.into_inner());
        let before = hs.len();
        hs.retain(|(id, f, _)| !(*id == handler && *f == filter));
        if hs.len() == before { ESP_ERR_INVALID_ARG } else { ESP_OK }
    }

    /// `esp_websocket_client_set_uri`: `ESP_FAIL` when the URI does not parse; only the
    /// components the URI has are changed. No state check.
    pub async fn set_uri(&self, uri: &str) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        let mut core = self.shared.core.lock().await;
        match core.cfg.set_uri(uri) {
            Ok(()) => ESP_OK,
            Err(_) => ESP_FAIL,
        }
    }

    /// `esp_websocket_client_set_headers`: only while CONNECTED (`ESP_ERR_INVALID_ARG`
    /// otherwise); replaces the transport's headers for the next reconnect; the next
    /// `start()` restores the configured ones.
    pub async fn set_headers(&self, headers: &str) -> EspErr {
        if !self.usable() || self.shared.state() != State::Connected {
            return ESP_ERR_INVALID_ARG;
        }
        let mut core = self.shared.core.lock().await;
        if let Some(t) = core.transport.as_mut() {
            t.settings.headers = Some(headers.to_string());
        }
        ESP_OK
    }

    /// `esp_websocket_client_append_header`: adds `key: value\r\n` to the configured
    /// headers, used from the next `start()`.
    pub async fn append_header(&self, key: &str, value: &str) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        self.shared.core.lock().await.cfg.append_header(key, value);
        ESP_OK
    }

    /// `esp_websocket_client_start`: creates the transport from the configuration and
    /// spawns the client task. `ESP_FAIL` when already started or the scheme is not
    /// `ws`/`wss`. Must be called inside a tokio runtime.
    pub async fn start(&self) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        if self.shared.state() >= State::Init {
            return ESP_FAIL;
        }
        {
            let mut core = self.shared.core.lock().await;
            let Some(tls) = core.cfg.scheme_is_tls() else {
                return ESP_FAIL;
            };
            let security = if tls {
                let mut opts = core.cfg.tls.clone();
                let build = &self.shared.env.sdkconfig;
                opts.skip_server_verify = build.skips_server_verification();
                opts.check_validity_dates = build.mbedtls_have_time_date;
                Security::Tls(Box::new(opts))
            } else {
                Security::Plain
            };
            let inner = EspTransport::new(self.shared.env.connector.clone(), security);
            let settings = WsSettings {
                path: core.cfg.path.clone().unwrap_or_else(|| "/".into()),
                user_agent: core
                    .cfg
                    .user_agent
                    .clone()
                    .unwrap_or_else(|| DEFAULT_USER_AGENT.into()),
                subprotocol: core.cfg.subprotocol.clone(),
                auth: core.cfg.auth.clone(),
                headers: core.cfg.headers.clone(),
            };
            core.transport = Some(WsTransport::new(inner, settings, self.shared.profile));
        }
        self.shared.clear_bits(
            bits::STOPPED | bits::CLOSE_FRAME_SENT | bits::REQUESTED_STOP | bits::WAKEUP,
        );
        // The C task sets `run` first thing; on the device it is created at a higher
        // priority than the caller and runs before xTaskCreate returns. Setting it
        // here keeps that order: a stop() right after start() is not undone by a task
        // that tokio has not polled yet (which would then loop with REQUESTED_STOP set).
        self.shared.run.store(true, Ordering::SeqCst);
        // A panic in the task is the model's bug: it is kept for `failure()` rather than
        // lost with the task's join handle.
        let shared = self.shared.clone();
        let handle = tokio::spawn(async move {
            use futures_util::FutureExt;
            let run = std::panic::AssertUnwindSafe(super::task::run(shared.clone()));
            if let Err(payload) = run.catch_unwind().await {
                let msg = crate::text::panic_message(payload.as_ref());
                *shared.panicked.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("client {} task panicked: {msg}", shared.id));
            }
        });
        *self.shared.task_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.id());
        ESP_OK
    }

    /// `esp_websocket_client_stop`: ends the task without a CLOSE frame (FINISH only).
    /// `ESP_FAIL` if not started or called from the client's own task. Waits, like the
    /// device, for as long as the task takes to notice (forever if it is stuck in a
    /// stalled frame).
    pub async fn stop(&self) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        if self.shared.has_bits(bits::STOPPED) || self.shared.in_client_task() {
            return ESP_FAIL;
        }
        self.shared.run.store(false, Ordering::SeqCst);
        self.shared.set_bits(bits::REQUESTED_STOP);
        self.shared.wait_bits(bits::STOPPED, None).await;
        self.shared.set_state(State::Unknow);
        ESP_OK
    }

    /// `esp_websocket_client_close`: a clean close with an empty CLOSE payload.
    pub async fn close(&self, timeout: TickType) -> EspErr {
        self.close_with_payload(Vec::new(), timeout).await
    }

    /// `esp_websocket_client_close_with_code`: the CLOSE payload is `code` (big-endian,
    /// not validated) followed by `data`.
    pub async fn close_with_code(&self, code: i32, data: &[u8], timeout: TickType) -> EspErr {
        let mut payload = (code as u16).to_be_bytes().to_vec();
        payload.extend_from_slice(data);
        self.close_with_payload(payload, timeout).await
    }

    async fn close_with_payload(&self, payload: Vec<u8>, timeout: TickType) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        if !self.shared.run.load(Ordering::SeqCst) || self.shared.in_client_task() {
            return ESP_FAIL;
        }
        if self.send_with_opcode(OP_CLOSE, &payload, PORT_MAX_DELAY).await < 0 {
            return ESP_FAIL;
        }
        self.shared.set_bits(bits::CLOSE_FRAME_SENT);
        let close_reconnect = {
            let core = self.shared.core.lock().await;
            core.cfg.auto_reconnect && core.cfg.close_reconnect
        };
        if close_reconnect {
            return ESP_OK;
        }
        if self.shared.wait_bits(bits::STOPPED, self.shared.ticks_to_duration(timeout)).await {
            return ESP_OK;
        }
        // No clean close in time: force the task down; still ESP_OK, as on the device.
        self.shared.run.store(false, Ordering::SeqCst);
        self.shared.wait_bits(bits::STOPPED, None).await;
        self.shared.set_state(State::Unknow);
        ESP_OK
    }

    /// `esp_websocket_client_destroy`: stops the task if it runs, then frees the client.
    /// From the client's own task the device frees memory its task still uses; the model
    /// reports that use-after-free as an ERROR event of its own and ends the task.
    pub async fn destroy(&self) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        if self.shared.in_client_task() {
            let core = self.shared.core.try_lock().ok();
            self.shared.destroy_from_task(core.as_deref());
            return ESP_OK;
        }
        if !self.shared.has_bits(bits::STOPPED) {
            self.stop().await;
        }
        self.shared.destroyed.store(true, Ordering::SeqCst);
        let mut core = self.shared.core.lock().await;
        core.leaked.clear();
        core.transport = None;
        ESP_OK
    }

    /// `esp_websocket_client_destroy_on_exit`: the task frees the client after FINISH.
    pub fn destroy_on_exit(&self) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        self.shared.destroy_on_exit.store(true, Ordering::SeqCst);
        ESP_OK
    }

    /// `esp_websocket_client_send_text`: TEXT with FIN, fragmented by `buffer_size`.
    pub async fn send_text(&self, data: impl AsRef<[u8]>, timeout: TickType) -> i32 {
        self.send_with_opcode(OP_TEXT, data.as_ref(), timeout).await
    }

    /// `esp_websocket_client_send_bin`.
    pub async fn send_bin(&self, data: impl AsRef<[u8]>, timeout: TickType) -> i32 {
        self.send_with_opcode(OP_BINARY, data.as_ref(), timeout).await
    }

    /// `esp_websocket_client_send_text_partial`: TEXT, never FIN.
    pub async fn send_text_partial(&self, data: impl AsRef<[u8]>, timeout: TickType) -> i32 {
        self.send_with_exact_opcode(OP_TEXT, data.as_ref(), timeout).await
    }

    /// `esp_websocket_client_send_bin_partial`: BINARY, never FIN.
    pub async fn send_bin_partial(&self, data: impl AsRef<[u8]>, timeout: TickType) -> i32 {
        self.send_with_exact_opcode(OP_BINARY, data.as_ref(), timeout).await
    }

    /// `esp_websocket_client_send_cont_msg`: CONT without FIN; nothing is sent for an
    /// empty payload.
    pub async fn send_cont_msg(&self, data: impl AsRef<[u8]>, timeout: TickType) -> i32 {
        self.send_with_exact_opcode(OP_CONT, data.as_ref(), timeout).await
    }

    /// `esp_websocket_client_send_fin`: an empty CONT+FIN frame (`0x80`).
    pub async fn send_fin(&self, timeout: TickType) -> i32 {
        self.send_with_exact_opcode(FIN, &[], timeout).await
    }

    /// `esp_websocket_client_send_with_opcode`: any opcode with FIN, no validation.
    pub async fn send_with_opcode(&self, opcode: u8, data: &[u8], timeout: TickType) -> i32 {
        self.send_with_exact_opcode(opcode | FIN, data, timeout).await
    }

    /// The shared send path (`esp_websocket_client_send_with_exact_opcode`): lock within
    /// `timeout`, CONNECTED only, `buffer_size` fragments; a write failure raises ERROR
    /// and DISCONNECTED in the caller's task and returns the write result.
    async fn send_with_exact_opcode(&self, opcode: u8, data: &[u8], timeout: TickType) -> i32 {
        if !self.usable() {
            return -1;
        }
        if self.shared.in_client_task() && self.shared.core.try_lock().is_err() {
            // A reaction called the client's own method: the task holds the lock (the
            // device's is recursive; the model's is not), so waiting would never end.
            // Reactions send through their `HandlerApi`.
            return -1;
        }
        let lock = self.shared.core.lock();
        let mut core = match self.shared.ticks_to_duration(timeout) {
            None => lock.await,
            Some(d) => match tokio::time::timeout(d, lock).await {
                Ok(c) => c,
                Err(_) => return -1,
            },
        };
        send_locked(&self.shared, &mut core, opcode, data, timeout).await
    }

    /// `esp_websocket_client_is_connected`: the state is CONNECTED (still true after the
    /// client's own CLOSE until the server's CLOSE arrives).
    pub fn is_connected(&self) -> bool {
        self.usable() && self.shared.state() == State::Connected
    }

    /// `esp_websocket_client_get_ping_interval_sec`.
    pub async fn get_ping_interval_sec(&self) -> usize {
        if !self.usable() {
            return 0;
        }
        self.shared.core.lock().await.cfg.ping_interval_sec
    }

    /// `esp_websocket_client_set_ping_interval_sec`: 0 means 10.
    pub async fn set_ping_interval_sec(&self, sec: usize) -> EspErr {
        if !self.usable() {
            return ESP_ERR_INVALID_ARG;
        }
        self.shared.core.lock().await.cfg.ping_interval_sec =
            if sec == 0 { DEFAULT_PING_INTERVAL_SEC } else { sec };
        ESP_OK
    }

    /// `esp_websocket_client_get_reconnect_timeout`: -1 when auto-reconnect is off.
    pub async fn get_reconnect_timeout(&self) -> i32 {
        if !self.usable() {
            return -1;
        }
        let core = self.shared.core.lock().await;
        if core.cfg.auto_reconnect { core.cfg.wait_timeout_ms } else { -1 }
    }

    /// `esp_websocket_client_set_reconnect_timeout`: `ESP_ERR_INVALID_ARG` for `ms <= 0`,
    /// `ESP_ERR_INVALID_STATE` without auto-reconnect; a wait under way is re-evaluated
    /// at once against the original disconnect time.
    pub async fn set_reconnect_timeout(&self, ms: i32) -> EspErr {
        if !self.usable() || ms <= 0 {
            return ESP_ERR_INVALID_ARG;
        }
        {
            let mut core = self.shared.core.lock().await;
            if !core.cfg.auto_reconnect {
                return ESP_ERR_INVALID_STATE;
            }
            core.cfg.wait_timeout_ms = ms;
        }
        self.shared.set_bits(bits::WAKEUP);
        ESP_OK
    }

    /// Waits until the task has ended (FINISH raised), for at most `limit`. Not a C call:
    /// a bounded way for harnesses to wait.
    pub async fn wait_stopped(&self, limit: Duration) -> bool {
        self.shared.wait_bits(bits::STOPPED, Some(limit)).await
    }
}

/// The body of `esp_websocket_client_send_with_exact_opcode` once the lock is held: by
/// an API caller after taking it, or by a handler in the client task that holds it
/// already (the C lock is recursive). CONNECTED only, `buffer_size` fragments; a write
/// failure raises ERROR and DISCONNECTED in the calling task and returns the write
/// result.
pub(crate) async fn send_locked(
    shared: &Shared,
    core: &mut Core,
    opcode: u8,
    data: &[u8],
    timeout: TickType,
) -> i32 {
    if shared.state() != State::Connected {
        return -1;
    }
    let write_timeout = shared.ticks_to_duration(timeout).map(|d| d.as_millis() as u64);
    let buffer_size = core.cfg.buffer_size;
    let fin_requested = opcode & FIN != 0;
    let mut op = opcode;
    let mut widx = 0usize;
    while widx < data.len() || op != 0 {
        let remaining = data.len() - widx;
        let (chunk, b0) = if remaining > buffer_size {
            (buffer_size, op & !FIN)
        } else if fin_requested {
            (remaining, op | FIN)
        } else {
            (remaining, op)
        };
        let payload = &data[widx..widx + chunk];
        let wlen = match core.writer.as_mut() {
            Some(w) => w.send_frame(b0, payload, write_timeout, &mut core.tx_buffer).await,
            None => -1,
        };
        if wlen < 0 || (wlen == 0 && chunk != 0) {
            let (text, errno) = Shared::transport_error_text(core);
            let msg = format!("esp_transport_write() returned {wlen}, {text}, errno={errno}");
            shared.error(core, &msg);
            shared.abort_connection(core, ErrorType::TcpTransport).await;
            return wlen;
        }
        op = 0;
        widx += wlen as usize;
    }
    widx as i32
}
