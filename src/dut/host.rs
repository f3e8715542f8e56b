//! The in-process host DUT: the client model itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::command::{ClientCommand, DutError, DutEvent, DutReport, ReactionSpec};
use super::reaction::ScriptedReaction;
use crate::esp::{Config, Env, EspWebsocketClient, EventFilter, Profile};
use crate::transport::codes::ESP_ERR_INVALID_ARG;

/// A call in flight, independent of the DUT's borrow (so it can run in the background).
pub type CallFuture = Pin<Box<dyn Future<Output = Result<i64, DutError>> + Send>>;

/// A future borrowing the DUT (creating a client may talk to a device).
pub type DutFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DutError>> + Send + 'a>>;

/// The DUT seam: client instances are created by name (with the reactions their
/// handlers run), called with [`ClientCommand`]s, and report [`DutEvent`]s and their
/// handlers' calls on one channel, in order.
pub trait Dut: Send {
    /// A short description (`host model (idf6)`, a chip and its IDF version, …).
    fn describe(&self) -> String;
    /// `esp_websocket_client_init` for a named instance, then its event handlers: one
    /// that reports every event, then one per reaction, in order. Returns whether the
    /// handle is non-NULL; a NULL client answers later calls as the C API does for NULL.
    fn create_client<'a>(
        &'a mut self,
        name: &'a str,
        config: &'a Config,
        reactions: &'a [ReactionSpec],
    ) -> DutFuture<'a, bool>;
    /// One API call; the future owns what it needs.
    fn call(&self, name: &str, command: ClientCommand) -> CallFuture;
    /// A call the caller does not wait for (a `background` step): once the returned
    /// future resolves, the DUT has taken the call and later calls may be made; the
    /// inner future gives its result. By default the call itself.
    fn call_background(
        &self,
        name: &str,
        command: ClientCommand,
    ) -> DutFuture<'static, CallFuture> {
        let f = self.call(name, command);
        Box::pin(async move { Ok(f) })
    }
    /// The event stream of every client, with their handlers' calls.
    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<DutReport>;
    /// Destroys every client (bounded by the caller).
    fn shutdown(&mut self) -> CallFuture;
    /// Passes on at most `limit` events; later ones are dropped and [`Dut::overflow`]
    /// turns true.
    fn set_event_limit(&mut self, limit: usize);
    /// Turns true once the event limit was exceeded.
    fn overflow(&self) -> watch::Receiver<bool>;
    /// What went wrong inside the DUT or on its link during the scenario (a panic of
    /// the model's task, garbled or lost lines, a process that exited), one line each.
    fn failures(&self) -> Vec<String> {
        Vec::new()
    }
    /// The DUT's log output so far (lines that are not protocol), oldest first.
    fn log(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The client model in this process.
pub struct HostDut {
    env: Env,
    profile: Profile,
    clients: BTreeMap<String, Option<EspWebsocketClient>>,
    tx: mpsc::UnboundedSender<DutReport>,
    rx: mpsc::UnboundedReceiver<DutReport>,
    epoch: Instant,
    /// Events passed on so far, of all clients.
    events: Arc<AtomicUsize>,
    /// Events passed on at most; later ones are dropped and `overflow` turns true.
    event_limit: usize,
    overflow: Arc<watch::Sender<bool>>,
}

impl HostDut {
    /// A host DUT whose clients live in `env` and follow `profile`.
    pub fn new(env: Env, profile: Profile) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        HostDut {
            env,
            profile,
            clients: BTreeMap::new(),
            tx,
            rx,
            epoch: Instant::now(),
            events: Arc::new(AtomicUsize::new(0)),
            event_limit: usize::MAX,
            overflow: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Passes on at most `limit` events: a client and a peer (or a handler) that answer
    /// each other at no virtual cost would otherwise fill memory while the clock stands.
    pub fn with_event_limit(mut self, limit: usize) -> Self {
        self.event_limit = limit;
        self
    }

    /// The profile its clients follow.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// `create_client`, synchronously (the model needs no I/O to create a client).
    pub fn create_now(&mut self, name: &str, config: &Config, reactions: &[ReactionSpec]) -> bool {
        let client = EspWebsocketClient::try_init(config, &self.env, self.profile).ok();
        if let Some(c) = &client {
            let (tx, n, epoch) = (self.tx.clone(), name.to_string(), self.epoch);
            let (count, limit, overflow) =
                (self.events.clone(), self.event_limit, self.overflow.clone());
            c.register_events(EventFilter::Any, move |e| {
                if count.fetch_add(1, Ordering::Relaxed) >= limit {
                    overflow.send_if_modified(|v| !std::mem::replace(v, true));
                    return;
                }
                let _ = tx.send(DutReport::Event(DutEvent {
                    client: n.clone(),
                    at_ms: epoch.elapsed().as_millis() as u64,
                    event: e.to_owned_event(),
                    digest: None,
                }));
            });
            for (i, spec) in reactions.iter().enumerate() {
                let filter = match spec {
                    ReactionSpec::Call { on, .. } => EventFilter::Only(on.event),
                    // Reassembly also watches CONNECTED and DISCONNECTED (a new
                    // connection drops a message in progress).
                    ReactionSpec::Echo { .. } | ReactionSpec::CloseAfter { .. } => EventFilter::Any,
                };
                let r = ScriptedReaction::new(spec.clone(), i + 1, name, self.tx.clone(), epoch);
                c.register_reaction(filter, r);
            }
        }
        let ok = client.is_some();
        self.clients.insert(name.to_string(), client);
        ok
    }
}

impl Dut for HostDut {
    fn describe(&self) -> String {
        format!("host model ({})", self.profile)
    }

    fn create_client<'a>(
        &'a mut self,
        name: &'a str,
        config: &'a Config,
        reactions: &'a [ReactionSpec],
    ) -> DutFuture<'a, bool> {
        let ok = self.create_now(name, config, reactions);
        Box::pin(async move { Ok(ok) })
    }

    fn call(&self, name: &str, command: ClientCommand) -> CallFuture {
        let entry = self.clients.get(name).cloned();
        let name = name.to_string();
        Box::pin(async move {
            let Some(client) = entry else { return Err(DutError::UnknownClient(name)) };
            let Some(c) = client else { return Ok(null_handle_result(&command)) };
            Ok(match command {
                ClientCommand::Start => i64::from(c.start().await),
                ClientCommand::Stop => i64::from(c.stop().await),
                ClientCommand::Destroy => i64::from(c.destroy().await),
                ClientCommand::DestroyOnExit => i64::from(c.destroy_on_exit()),
                ClientCommand::Close { timeout } => i64::from(c.close(timeout).await),
                ClientCommand::CloseWithCode { code, reason, timeout } => {
                    i64::from(c.close_with_code(code, &reason, timeout).await)
                }
                ClientCommand::SendText { data, timeout } => {
                    i64::from(c.send_text(&data, timeout).await)
                }
                ClientCommand::SendBin { data, timeout } => {
                    i64::from(c.send_bin(&data, timeout).await)
                }
                ClientCommand::SendTextPartial { data, timeout } => {
                    i64::from(c.send_text_partial(&data, timeout).await)
                }
                ClientCommand::SendBinPartial { data, timeout } => {
                    i64::from(c.send_bin_partial(&data, timeout).await)
                }
                ClientCommand::SendContMsg { data, timeout } => {
                    i64::from(c.send_cont_msg(&data, timeout).await)
                }
                ClientCommand::SendFin { timeout } => i64::from(c.send_fin(timeout).await),
                ClientCommand::SendWithOpcode { opcode, data, timeout } => {
                    i64::from(c.send_with_opcode(opcode, &data, timeout).await)
                }
                ClientCommand::SetUri { uri } => i64::from(c.set_uri(&uri).await),
                ClientCommand::SetHeaders { headers } => i64::from(c.set_headers(&headers).await),
                ClientCommand::AppendHeader { key, value } => {
                    i64::from(c.append_header(&key, &value).await)
                }
                ClientCommand::SetPingIntervalSec { sec } => {
                    i64::from(c.set_ping_interval_sec(sec).await)
                }
                ClientCommand::GetPingIntervalSec => c.get_ping_interval_sec().await as i64,
                ClientCommand::SetReconnectTimeout { ms } => {
                    i64::from(c.set_reconnect_timeout(ms).await)
                }
                ClientCommand::GetReconnectTimeout => i64::from(c.get_reconnect_timeout().await),
                ClientCommand::IsConnected => i64::from(c.is_connected()),
            })
        })
    }

    fn events(&mut self) -> &mut mpsc::UnboundedReceiver<DutReport> {
        &mut self.rx
    }

    fn shutdown(&mut self) -> CallFuture {
        let clients: Vec<EspWebsocketClient> = self.clients.values().flatten().cloned().collect();
        Box::pin(async move {
            for c in clients {
                c.destroy().await;
            }
            Ok(0)
        })
    }

    fn set_event_limit(&mut self, limit: usize) {
        self.event_limit = limit;
    }

    fn overflow(&self) -> watch::Receiver<bool> {
        self.overflow.subscribe()
    }

    /// Panics of the clients' tasks (bugs of the model), by client.
    fn failures(&self) -> Vec<String> {
        self.clients
            .iter()
            .filter_map(|(n, c)| c.as_ref()?.failure().map(|f| format!("client {n:?}: {f}")))
            .collect()
    }
}

/// What the C API returns for a NULL handle.
fn null_handle_result(command: &ClientCommand) -> i64 {
    match command {
        ClientCommand::SendText { .. }
        | ClientCommand::SendBin { .. }
        | ClientCommand::SendTextPartial { .. }
        | ClientCommand::SendBinPartial { .. }
        | ClientCommand::SendContMsg { .. }
        | ClientCommand::SendFin { .. }
        | ClientCommand::SendWithOpcode { .. }
        | ClientCommand::GetReconnectTimeout => -1,
        ClientCommand::IsConnected | ClientCommand::GetPingIntervalSec => 0,
        _ => i64::from(ESP_ERR_INVALID_ARG),
    }
}
