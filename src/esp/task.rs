//! The client task (`esp_websocket_client_task`, spec §4): one loop iteration runs the
//! per-state step under the lock, then the post-step (poll, reconnect wait, TCP-close
//! wait) without it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::core::{Core, Shared, State, bits};
use super::event::{ErrorType, EventId};
use super::frame::{FIN, OP_CLOSE, OP_NONE, OP_PING, OP_PONG};
use super::ws_transport::{ConnectOutcome, WsReader};

/// The idle poll period of the CONNECTED state.
const POLL_MS: i32 = 1000;
/// How long the task waits for the server's TCP close after a CLOSE exchange.
const CLOSE_WAIT_MS: i32 = 1000;
/// The reader of the current connection, tagged with the connection generation.
type Reader = Option<(u64, WsReader)>;

pub(crate) async fn run(shared: Arc<Shared>) {
    // `run = true` is set by start(), before the task is spawned. The task knows
    // itself from its first instruction on (start() records the id after the spawn,
    // which a multi-thread runtime may run first).
    *shared.task_id.lock().unwrap_or_else(|p| p.into_inner()) = tokio::task::try_id();
    {
        let mut core = shared.core.lock().await;
        if core.cfg.port == 0
            && let Some(t) = &core.transport
        {
            core.cfg.port = i32::from(t.inner.default_port());
        }
        shared.set_state(State::Init);
        shared.dispatch(&core, EventId::Begin, &[]);
        shared.react(&mut core).await;
    }
    let mut reader: Reader = None;
    let mut gen_rx = shared.conn_gen.subscribe();
    while shared.run.load(Ordering::SeqCst) {
        {
            let mut core = shared.core.lock().await;
            state_step(&shared, &mut core, &mut reader).await;
        }
        if reader.as_ref().is_some_and(|(g, _)| *g != *shared.conn_gen.borrow()) {
            reader = None;
        }
        match shared.state() {
            State::Connected => {
                gen_rx.borrow_and_update();
                let polled = match reader.as_mut() {
                    Some((_, r)) => tokio::select! {
                    biased;
                                n = r.poll_read(POLL_MS) => Some(n),
                                _ = gen_rx.changed() => None,
                            },
                    None => Some(-1),
                };
                let Some(n) = polled else { continue };
                let mut core = shared.core.lock().await;
                let current = reader.as_ref().is_some_and(|(g, _)| *g == *shared.conn_gen.borrow());
                if shared.state() != State::Connected || !current {
                    continue;
                }
                if n < 0 {
                    let (text, errno) = Shared::transport_error_text(&core);
                    let msg =
                        format!("esp_transport_poll_read() returned {n}, {text}, errno={errno}");
                    shared.error(&core, &msg);
                    shared.react(&mut core).await;
                    shared.abort_connection(&mut core, ErrorType::TcpTransport).await;
                    shared.react(&mut core).await;
                } else if n > 0
                    && let Some((_, r)) = reader.as_mut()
                    && recv(&shared, &mut core, r).await.is_err()
                {
                    shared.abort_connection(&mut core, ErrorType::TcpTransport).await;
                    shared.react(&mut core).await;
                }
            }
            State::WaitTimeout => {
                let remaining = {
                    let core = shared.core.lock().await;
                    let elapsed = shared.now_ms().saturating_sub(core.reconnect_tick_ms);
                    let wait = core.cfg.wait_timeout_ms.max(0) as u64;
                    Duration::from_millis(wait.saturating_sub(elapsed))
                        .max(Duration::from_millis(shared.env.sdkconfig.tick_period_ms()))
                };
                shared.wait_bits(bits::REQUESTED_STOP | bits::WAKEUP, Some(remaining)).await;
                shared.clear_bits(bits::WAKEUP);
            }
            State::Closing if shared.has_bits(bits::CLOSE_FRAME_SENT) => {
                // 0 ("did not get TCP close") and -1 ("terminated") only log a warning.
                if let Some((_, r)) = reader.as_mut() {
                    r.poll_connection_closed(CLOSE_WAIT_MS).await;
                }
                let mut core = shared.core.lock().await;
                if core.cfg.close_reconnect && core.cfg.auto_reconnect {
                    shared.set_state(State::WaitTimeout);
                    core.error_type = ErrorType::ServerClose;
                    shared.close_transport(&mut core).await;
                    reader = None;
                    shared.dispatch(&core, EventId::Closed, &[]);
                    core.reconnect_tick_ms = shared.now_ms();
                    shared.react(&mut core).await;
                } else {
                    shared.run.store(false, Ordering::SeqCst);
                    shared.set_state(State::Unknow);
                    shared.dispatch(&core, EventId::Closed, &[]);
                    shared.react(&mut core).await;
                    break;
                }
            }
            _ => {}
        }
    }
    let mut core = shared.core.lock().await;
    shared.dispatch(&core, EventId::Finish, &[]);
    shared.react(&mut core).await;
    shared.close_transport(&mut core).await;
    drop(reader);
    shared.set_state(State::Unknow);
    if shared.destroy_on_exit.load(Ordering::SeqCst) {
        shared.destroyed.store(true, Ordering::SeqCst);
        core.leaked.clear();
    }
    drop(core);
    shared.set_bits(bits::STOPPED);
}

async fn state_step(shared: &Shared, core: &mut Core, reader: &mut Reader) {
    match shared.state() {
        State::Init => connect_step(shared, core, reader).await,
        State::Connected => {
            if shared.has_bits(bits::CLOSE_FRAME_SENT) {
                return;
            }
            // The C checks are strict (`>`, C:1306, 1340) on a clock that the task's own
            // work moves on: on a device each 1 s poll returns a little after its timeout,
            // so after N polls strictly more than N s have passed. Virtual time charges
            // nothing for that work, so the model counts the boundary itself as passed;
            // otherwise the first PING would slip by a whole poll whenever the connect took
            // no time at all (spec §8).
            let now = shared.now_ms();
            if now.saturating_sub(core.ping_tick_ms) >= core.cfg.ping_interval_sec as u64 * 1000 {
                core.ping_tick_ms = now;
                let timeout = Some(core.cfg.network_timeout_ms as u64);
                if let Some(w) = core.writer.as_mut() {
                    w.send_frame(OP_PING | FIN, &[], timeout, &mut core.tx_buffer).await;
                }
                if !core.wait_for_pong && core.cfg.pingpong_timeout_sec != 0 {
                    core.pingpong_tick_ms = now;
                    core.wait_for_pong = true;
                }
            }
            let limit = core.cfg.pingpong_timeout_sec.max(0) as u64 * 1000;
            if core.wait_for_pong && now.saturating_sub(core.pingpong_tick_ms) >= limit {
                let msg = format!(
                    "Error, no PONG received for more than {} seconds after PING",
                    core.cfg.pingpong_timeout_sec
                );
                shared.error(core, &msg);
                shared.react(core).await;
                shared.abort_connection(core, ErrorType::PongTimeout).await;
                shared.react(core).await;
            }
        }
        State::WaitTimeout => {
            let now = shared.now_ms();
            let wait = core.cfg.wait_timeout_ms;
            if wait <= 0 || now.saturating_sub(core.reconnect_tick_ms) >= wait as u64 {
                shared.set_state(State::Init);
                core.reconnect_tick_ms = now;
            }
        }
        State::Closing => {
            if !shared.has_bits(bits::CLOSE_FRAME_SENT) {
                let timeout = Some(core.cfg.network_timeout_ms as u64);
                if let Some(w) = core.writer.as_mut() {
                    w.send_frame(OP_CLOSE | FIN, &[], timeout, &mut core.tx_buffer).await;
                }
                shared.set_bits(bits::CLOSE_FRAME_SENT);
            }
        }
        State::Unknow => {}
    }
}

/// The INIT step: BEFORE_CONNECT, connect and upgrade, then CONNECTED, a redirect, or
/// ERROR and abort.
async fn connect_step(shared: &Shared, core: &mut Core, reader: &mut Reader) {
    shared.dispatch(core, EventId::BeforeConnect, &[]);
    shared.react(core).await;
    let host = core.cfg.host.clone().unwrap_or_default();
    let port = u16::try_from(core.cfg.port).unwrap_or(0);
    let timeout = core.cfg.network_timeout_ms;
    let Some(transport) = core.transport.as_mut() else {
        shared.run.store(false, Ordering::SeqCst);
        return;
    };
    let (outcome, header_lines) =
        Box::pin(transport.connect(&host, port, timeout, &shared.env.rng)).await;
    for line in &header_lines {
        shared.dispatch(core, EventId::HeaderReceived, line);
        shared.react(core).await;
    }
    match outcome {
        ConnectOutcome::Failed(_why) => {
            core.handshake_status = core.transport.as_ref().map_or(0, |t| t.http_status_code);
            let (text, errno) = Shared::transport_error_text(core);
            let msg = format!(
                "esp_transport_connect() failed with -1, {text}, esp_ws_handshake_status_code={}, errno={errno}",
                core.handshake_status
            );
            shared.error(core, &msg);
            shared.react(core).await;
            shared.abort_connection(core, ErrorType::TcpTransport).await;
            shared.react(core).await;
        }
        ConnectOutcome::Redirect { location, leaked } => {
            core.leaked.push(*leaked);
            core.cfg.port = 0;
            // A Location that does not parse leaves host and path as they were.
            let _ = core.cfg.set_uri(&location);
            if core.cfg.port == 0
                && let Some(t) = &core.transport
            {
                core.cfg.port = i32::from(t.inner.default_port());
            }
        }
        ConnectOutcome::Connected(r, w) => {
            core.writer = Some(w);
            shared.conn_gen.send_modify(|g| *g += 1);
            let generation = *shared.conn_gen.borrow();
            *reader = Some((generation, r));
            shared.set_state(State::Connected);
            core.wait_for_pong = false;
            core.error_type = ErrorType::None;
            core.payload_len = 0;
            core.payload_offset = 0;
            core.last_fin = false;
            core.last_opcode = OP_NONE;
            core.close_status_code = 0;
            shared.clear_bits(bits::CLOSE_FRAME_SENT);
            shared.dispatch(core, EventId::Connected, &[]);
            shared.react(core).await;
            // "Check if there is data pending" (C:1286): `esp_transport_poll_read(0)`,
            // which on IDF 6 sees the bytes that came with the 101 and on IDF 5.5 only
            // what the socket has.
            if let Some((_, r)) = reader.as_mut()
                && r.poll_read(0).await > 0
                && recv(shared, core, r).await.is_err()
            {
                shared.abort_connection(core, ErrorType::TcpTransport).await;
                shared.react(core).await;
            }
        }
    }
}

/// `esp_websocket_client_recv`: reads one frame in `buffer_size` chunks, one DATA per
/// chunk, then answers PING, notes PONG, or enters CLOSING.
pub(crate) async fn recv(
    shared: &Shared,
    core: &mut Core,
    reader: &mut WsReader,
) -> Result<(), ()> {
    core.payload_offset = 0;
    let timeout = core.cfg.network_timeout_ms;
    loop {
        let rlen = reader.read(&mut core.rx_buffer, timeout).await;
        if rlen < 0 {
            let (text, errno) = Shared::transport_error_text(core);
            let msg = format!("esp_transport_read() failed with {rlen}, {text}, errno={errno}");
            shared.error(core, &msg);
            shared.react(core).await;
            return Err(());
        }
        core.payload_len = reader.payload_len();
        core.last_fin = reader.fin();
        core.last_opcode = reader.read_opcode();
        if rlen == 0 && core.last_opcode == OP_NONE {
            return Ok(());
        }
        let n = rlen as usize;
        shared.dispatch(core, EventId::Data, &core.rx_buffer[..n]);
        // The DATA handlers run here, inside the read loop: a send from one blocks the
        // rest of the frame, the PING's PONG and the next poll until it is written.
        shared.react(core).await;
        core.payload_offset += rlen;
        if core.payload_offset >= core.payload_len {
            break;
        }
    }
    match core.last_opcode {
        op if op == u16::from(OP_PING) => {
            // The PONG is `payload_len` bytes from the start of the RX buffer (C:1138-1165):
            // the PING's payload when it fit in one chunk; for a PING longer than
            // `buffer_size` (IDF 5.5 reads it in chunks) the last chunk, the previous
            // chunk's stale bytes, then what lies past the buffer on the device (zeros here).
            let len = core.payload_len.max(0) as usize;
            let timeout = Some(core.cfg.network_timeout_ms as u64);
            let core = &mut *core;
            if let Some(w) = core.writer.as_mut() {
                if len <= core.rx_buffer.len() {
                    w.send_frame(
                        OP_PONG | FIN,
                        &core.rx_buffer[..len],
                        timeout,
                        &mut core.tx_buffer,
                    )
                    .await;
                } else {
                    w.send_frame_padded(OP_PONG | FIN, &core.rx_buffer, len, timeout).await;
                }
            }
        }
        op if op == u16::from(OP_PONG) => core.wait_for_pong = false,
        op if op == u16::from(OP_CLOSE) => {
            // The code is read after the frame's DATA events (C:1174-1181): DATA(8)
            // carries the previous value, CLOSED and FINISH this one. It comes from the
            // start of the RX buffer, which holds the frame's last chunk.
            // A 1-byte buffer holds only the code's first byte (the C memcpy reads one
            // byte past it); the model takes 0 for the missing one.
            core.close_status_code = if core.payload_len >= 2 {
                let byte = |i: usize| core.rx_buffer.get(i).copied().unwrap_or(0);
                i32::from(u16::from_be_bytes([byte(0), byte(1)]))
            } else {
                0
            };
            shared.set_state(State::Closing)
        }
        _ => {}
    }
    Ok(())
}
