//! The task's state machine and timings (spec §3.2, §3.3, §4): ping/pong, reconnect,
//! close and stop, the error-type quirk, the accessors, several instances.

mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wsim::esp::{
    Config, Env, ErrorType, EspWebsocketClient, EventId, PORT_MAX_DELAY, Profile, ms_to_ticks,
};
use wsim::transport::{BoxStream, ConnectFailure, ConnectFuture, Connector, codes};

async fn connected(cfg: Config) -> (EspWebsocketClient, Events, RawConn, RawServer) {
    connected_raw(cfg, Profile::Idf6).await
}

fn quick() -> Config {
    Config { network_timeout_ms: 1000, reconnect_timeout_ms: 300, ..Config::default() }
}

#[tokio::test]
async fn pings_go_out_every_interval_and_answered_pongs_keep_the_link() {
    let (c, mut ev, mut conn, _s) =
        connected(Config { ping_interval_sec: 1, pingpong_timeout_sec: 1, ..quick() }).await;
    let mut times = Vec::new();
    for _ in 0..3 {
        let p = conn.read_frame().await;
        assert_eq!((p.fin, p.opcode, p.masked, p.payload.len()), (true, 9, true, 0));
        times.push(Instant::now());
        conn.write(&frame(0x8A, b"")).await;
        assert_eq!(ev.expect(EventId::Data).await.op_code, 10);
    }
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap > Duration::from_millis(900) && gap < Duration::from_millis(2200), "{gap:?}");
    }
    assert!(c.is_connected());
}

#[tokio::test]
async fn a_missing_pong_gives_the_pong_timeout_error_then_disconnected() {
    let (_c, mut ev, mut conn, srv) =
        connected(Config { ping_interval_sec: 1, pingpong_timeout_sec: 1, ..quick() }).await;
    let ping = conn.read_frame().await;
    assert_eq!(ping.opcode, 9);
    let t0 = Instant::now();
    let (_, err) = ev.expect_at(EventId::Error, Duration::from_secs(4)).await;
    assert!(t0.elapsed() > Duration::from_millis(900));
    assert_eq!(err.text(), Some("Error, no PONG received for more than 1 seconds after PING"));
    assert_eq!(err.error_handle.error_type, ErrorType::None);
    let disc = ev.expect(EventId::Disconnected).await;
    assert_eq!(disc.error_handle.error_type, ErrorType::PongTimeout);
    assert_eq!(disc.error_handle.esp_tls_last_esp_err, 0);
    assert!(conn.expect_closed(Duration::from_secs(1)).await);
    // Auto-reconnect: a new connection after reconnect_timeout_ms.
    srv.accept().await;
    ev.expect(EventId::BeforeConnect).await;
}

#[tokio::test]
async fn a_server_fin_gives_error_disconnected_and_a_reconnect_after_the_timeout() {
    let (_c, mut ev, conn, srv) = connected(quick()).await;
    drop(conn);
    let err = ev.expect(EventId::Error).await;
    assert_eq!(
        err.text(),
        Some(
            "esp_transport_read() failed with -1, transport_error=ESP_ERR_ESP_TLS_TCP_CLOSED_FIN, tls_error_code=0, tls_flags=0, errno=119"
        )
    );
    assert_eq!(err.error_handle.error_type, ErrorType::None);
    let (t_disc, disc) = ev.expect_at(EventId::Disconnected, WAIT).await;
    assert_eq!(disc.error_handle.error_type, ErrorType::TcpTransport);
    assert_eq!(disc.error_handle.esp_tls_last_esp_err, codes::ESP_ERR_ESP_TLS_TCP_CLOSED_FIN);
    // A 0-byte read captures no errno (spec §8).
    assert_eq!(disc.error_handle.esp_transport_sock_errno, 0);
    let mut conn2 = srv.accept().await;
    let (t_before, _) = ev.expect_at(EventId::BeforeConnect, WAIT).await;
    let waited = t_before - t_disc;
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_millis(700),
        "{waited:?}"
    );
    conn2.upgrade().await;
    let connected = ev.expect(EventId::Connected).await;
    // error_type is reset on connect; the stale handshake status (101) is kept.
    assert_eq!(connected.error_handle.error_type, ErrorType::None);
}

#[tokio::test]
async fn without_auto_reconnect_a_drop_ends_the_task() {
    let (_c, mut ev, conn, _s) =
        connected(Config { disable_auto_reconnect: true, ..quick() }).await;
    drop(conn);
    ev.expect_seq(&[EventId::Error, EventId::Disconnected, EventId::Finish]).await;
}

#[tokio::test]
async fn repeated_connect_failures_shift_the_error_fields_by_one_event() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(Config { reconnect_timeout_ms: 100, ..cfg(format!("ws://127.0.0.1:{port}/")) });
    let mut ev = Events::attach(&c);
    c.start().await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect]).await;
    let e1 = ev.expect(EventId::Error).await;
    let d1 = ev.expect(EventId::Disconnected).await;
    ev.expect(EventId::BeforeConnect).await;
    let e2 = ev.expect(EventId::Error).await;
    let d2 = ev.expect(EventId::Disconnected).await;
    c.destroy().await;
    let msg = e1.text().unwrap();
    assert!(msg.contains("transport_error=ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST"), "{msg}");
    // The text prints the task's errno: EINPROGRESS from the non-blocking connect
    // (newlib 119); the refusal itself is the captured socket errno.
    assert!(msg.ends_with("errno=119"), "{msg}");
    assert_eq!(
        (e1.error_handle.error_type, e1.error_handle.esp_tls_last_esp_err),
        (ErrorType::None, 0)
    );
    let real = (
        ErrorType::TcpTransport,
        codes::ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST,
        codes::ECONNREFUSED,
    );
    let of = |e: &wsim::esp::OwnedEvent| {
        (
            e.error_handle.error_type,
            e.error_handle.esp_tls_last_esp_err,
            e.error_handle.esp_transport_sock_errno,
        )
    };
    assert_eq!(of(&d1), real);
    assert_eq!(of(&e2), real);
    assert_eq!(of(&d2), (ErrorType::TcpTransport, 0, 0), "the ERROR read and cleared the values");
}

#[tokio::test]
async fn close_reconnect_gives_data_closed_then_a_new_connection_without_finish() {
    let (_c, mut ev, mut conn, srv) =
        connected(Config { enable_close_reconnect: true, ..quick() }).await;
    conn.write(&frame(0x88, &1000u16.to_be_bytes())).await;
    assert_eq!(ev.expect(EventId::Data).await.op_code, 8);
    assert_eq!(conn.read_frame().await.opcode, 8);
    drop(conn);
    let closed = ev.expect(EventId::Closed).await;
    assert_eq!(closed.error_handle.error_type, ErrorType::ServerClose);
    let mut conn2 = srv.accept().await;
    conn2.upgrade().await;
    ev.expect_seq(&[EventId::BeforeConnect, EventId::Connected]).await;
}

#[tokio::test]
async fn client_close_sends_an_empty_close_and_waits_for_the_echo() {
    let (c, mut ev, mut conn, _s) = connected(quick()).await;
    let c2 = c.clone();
    let closing = tokio::spawn(async move { c2.close(PORT_MAX_DELAY).await });
    let f = conn.read_frame().await;
    assert_eq!((f.fin, f.opcode, f.masked, f.payload.len()), (true, 8, true, 0));
    // Still connected until the server's CLOSE arrives; data still flows.
    assert!(c.is_connected());
    conn.write(&frame(0x81, b"late")).await;
    assert_eq!(ev.expect(EventId::Data).await.text(), Some("late"));
    conn.write(&frame(0x88, &1000u16.to_be_bytes())).await;
    let d = ev.expect(EventId::Data).await;
    assert_eq!((d.op_code, d.close_status_code), (8, 0));
    drop(conn);
    assert_eq!(ev.expect(EventId::Closed).await.close_status_code, 1000);
    ev.expect(EventId::Finish).await;
    assert_eq!(closing.await.unwrap(), 0);
}

#[tokio::test]
async fn close_with_code_times_out_into_a_forced_stop_that_still_returns_ok() {
    let (c, mut ev, mut conn, _s) = connected(quick()).await;
    let c2 = c.clone();
    let t0 = Instant::now();
    let closing =
        tokio::spawn(async move { c2.close_with_code(4000, b"bye", ms_to_ticks(500)).await });
    let f = conn.read_frame().await;
    assert_eq!(f.payload, [&4000u16.to_be_bytes()[..], b"bye"].concat());
    ev.expect(EventId::Finish).await;
    assert_eq!(closing.await.unwrap(), 0);
    assert!(t0.elapsed() >= Duration::from_millis(500));
    assert!(!ev.names().contains(&"closed"), "{:?}", ev.names());
}

#[tokio::test]
async fn close_before_start_or_after_finish_fails() {
    let c = client(cfg("ws://127.0.0.1:1/".into()));
    assert_eq!(c.close(10).await, -1);
    assert_eq!(c.stop().await, -1);
}

#[tokio::test]
async fn stop_sends_no_close_and_raises_finish_only() {
    let (c, mut ev, mut conn, _s) = connected(quick()).await;
    assert_eq!(c.stop().await, 0);
    ev.expect(EventId::Finish).await;
    ev.expect_none(Duration::from_millis(200)).await;
    assert!(conn.expect_closed(Duration::from_secs(1)).await);
    assert_eq!(c.stop().await, -1, "not started any more");
    // It can be started again.
    assert_eq!(c.start().await, 0);
    ev.expect(EventId::Begin).await;
    c.destroy().await;
}

#[tokio::test]
async fn start_twice_fails_and_destroy_stops_a_running_client() {
    let (c, mut ev, _conn, _s) = connected(quick()).await;
    assert_eq!(c.start().await, -1);
    assert_eq!(c.destroy().await, 0);
    ev.expect(EventId::Finish).await;
    assert_eq!(c.start().await, wsim::transport::codes::ESP_ERR_INVALID_ARG);
}

#[tokio::test]
async fn set_headers_only_while_connected_and_only_until_the_next_start() {
    let srv = RawServer::bind().await;
    let c = client(Config {
        headers: Some("X-Cfg: 1\r\n".into()),
        ..Config { uri: Some(srv.uri("/")), ..quick() }
    });
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    assert_eq!(c.set_headers("X-New: 2\r\n").await, codes::ESP_ERR_INVALID_ARG);
    c.start().await;
    let mut conn = srv.accept().await;
    assert!(conn.upgrade().await.contains("X-Cfg: 1\r\n"));
    ev.skip_until(EventId::Connected).await;
    assert_eq!(c.set_headers("X-New: 2\r\n").await, 0);
    drop(conn);
    let mut conn = srv.accept().await;
    let req = conn.upgrade().await;
    assert!(req.contains("X-New: 2\r\n") && !req.contains("X-Cfg"), "{req}");
    ev.skip_until(EventId::Connected).await;
    c.stop().await;
    assert_eq!(c.append_header("X-App", "3").await, 0);
    c.start().await;
    let req = srv.accept().await.read_request().await;
    assert!(req.contains("X-Cfg: 1\r\nX-App: 3\r\n\r\n"), "{req}");
}

#[tokio::test]
async fn set_uri_during_the_reconnect_wait_changes_host_and_port_but_not_the_path() {
    let (c, mut ev, conn, _s) = connected(Config { reconnect_timeout_ms: 500, ..quick() }).await;
    let other = RawServer::bind().await;
    drop(conn);
    ev.skip_until(EventId::Disconnected).await;
    assert_eq!(c.set_uri(&format!("ws://127.0.0.1:{}/new?x=1", other.addr.port())).await, 0);
    let req = other.accept().await.read_request().await;
    assert!(req.starts_with("GET / HTTP/1.1\r\n"), "{req}");
}

#[tokio::test]
async fn reconnect_timeout_accessors_and_the_interruptible_wait() {
    let (c, mut ev, conn, srv) = connected(Config { reconnect_timeout_ms: 5000, ..quick() }).await;
    assert_eq!(c.get_reconnect_timeout().await, 5000);
    assert_eq!(c.set_reconnect_timeout(0).await, codes::ESP_ERR_INVALID_ARG);
    drop(conn);
    ev.skip_until(EventId::Disconnected).await;
    let t_disc = Instant::now();
    assert_eq!(c.set_reconnect_timeout(200).await, 0);
    srv.accept().await;
    assert!(t_disc.elapsed() < Duration::from_millis(1500), "the wait was re-evaluated at once");
    let off = client(Config { disable_auto_reconnect: true, ..cfg("ws://127.0.0.1:1/".into()) });
    assert_eq!(off.get_reconnect_timeout().await, -1);
    assert_eq!(off.set_reconnect_timeout(100).await, codes::ESP_ERR_INVALID_STATE);
    assert_eq!(off.get_ping_interval_sec().await, 10);
    assert_eq!(off.set_ping_interval_sec(0).await, 0);
    assert_eq!(off.get_ping_interval_sec().await, 10);
    off.set_ping_interval_sec(3).await;
    assert_eq!(off.get_ping_interval_sec().await, 3);
}

/// A stream whose writes start failing when the test says so.
struct Breakable {
    inner: TcpStream,
    broken: Arc<AtomicBool>,
}

impl AsyncRead for Breakable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Breakable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.broken.load(Ordering::SeqCst) {
            return Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An event and the task that raised it.
type RaisedIn = (EventId, Option<tokio::task::Id>);

struct BreakableConnector {
    target: std::net::SocketAddr,
    broken: Arc<AtomicBool>,
}

impl Connector for BreakableConnector {
    fn connect<'a>(&'a self, _host: &'a str, _port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let inner =
                TcpStream::connect(self.target).await.map_err(|_| ConnectFailure::Refused(111))?;
            Ok(Box::new(Breakable { inner, broken: self.broken.clone() }) as BoxStream)
        })
    }
}

#[tokio::test]
async fn a_write_failure_raises_error_and_disconnected_in_the_sender_and_returns_the_write_result()
{
    let srv = RawServer::bind().await;
    let broken = Arc::new(AtomicBool::new(false));
    let env =
        Env::new(Arc::new(BreakableConnector { target: srv.addr, broken: broken.clone() }), 3);
    let c = EspWebsocketClient::try_init(
        &Config { uri: Some(srv.uri("/")), ..quick() },
        &env,
        Profile::Idf6,
    )
    .unwrap();
    let seen_in: Arc<Mutex<Vec<RaisedIn>>> = Arc::default();
    let log = seen_in.clone();
    c.register_events(wsim::esp::EventFilter::Any, move |e| {
        log.lock().unwrap().push((e.id, tokio::task::try_id()));
    });
    c.start().await;
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    while !c.is_connected() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broken.store(true, Ordering::SeqCst);
    let sender = tokio::spawn({
        let c = c.clone();
        async move { (tokio::task::id(), c.send_text("doomed", PORT_MAX_DELAY).await) }
    });
    let (sender_id, ret) = sender.await.unwrap();
    assert_eq!(ret, -1);
    let log = seen_in.lock().unwrap().clone();
    let tail: Vec<_> = log.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(
        tail,
        vec![(EventId::Error, Some(sender_id)), (EventId::Disconnected, Some(sender_id))]
    );
    c.destroy().await;
}

#[tokio::test]
async fn several_instances_run_independently_with_their_own_ids_and_context() {
    let addr = echo_server(None).await;
    let env = Env::real_seeded(11);
    let mut clients = Vec::new();
    for i in 0..3usize {
        let config =
            Config { user_context: 100 + i, ..cfg(format!("ws://127.0.0.1:{}/c{i}", addr.port())) };
        let c = EspWebsocketClient::try_init(&config, &env, Profile::Idf6).unwrap();
        let ev = Events::attach(&c).ignore(EventId::HeaderReceived);
        c.start().await;
        clients.push((c, ev));
    }
    for (_, ev) in clients.iter_mut() {
        ev.skip_until(EventId::Connected).await;
    }
    for (i, (c, _)) in clients.iter().enumerate() {
        c.send_text(format!("hello {i}"), PORT_MAX_DELAY).await;
    }
    let mut ids = Vec::new();
    for (i, (c, ev)) in clients.iter_mut().enumerate() {
        let d = ev.expect(EventId::Data).await;
        assert_eq!(d.text(), Some(format!("hello {i}").as_str()));
        ids.push(c.id());
    }
    ids.dedup();
    assert_eq!(ids.len(), 3);
    let got_ctx = Arc::new(Mutex::new(0usize));
    let g = got_ctx.clone();
    clients[2].0.register_events(wsim::esp::EventFilter::Only(EventId::Data), move |e| {
        *g.lock().unwrap() = e.data.user_context;
    });
    clients[2].0.send_text("ctx", PORT_MAX_DELAY).await;
    clients[2].1.expect(EventId::Data).await;
    assert_eq!(*got_ctx.lock().unwrap(), 102);
}

#[tokio::test]
async fn destroy_on_exit_frees_the_client_after_finish() {
    let (c, mut ev, mut conn, _s) = connected(quick()).await;
    assert_eq!(c.destroy_on_exit(), 0);
    conn.write(&frame(0x88, &1000u16.to_be_bytes())).await;
    ev.expect_seq(&[EventId::Data, EventId::Closed, EventId::Finish]).await;
    assert!(c.wait_stopped(Duration::from_secs(2)).await);
    // The handle is gone: the model answers as for a freed client.
    assert_eq!(c.start().await, codes::ESP_ERR_INVALID_ARG);
}

#[tokio::test]
async fn unregistered_handlers_stop_receiving_and_filters_select_events() {
    let srv = RawServer::bind().await;
    let c = client(Config { uri: Some(srv.uri("/")), ..quick() });
    let only_data = Arc::new(Mutex::new(Vec::new()));
    let all = Arc::new(Mutex::new(0usize));
    let d = only_data.clone();
    c.register_events(wsim::esp::EventFilter::Only(EventId::Data), move |e| {
        d.lock().unwrap().push(e.id)
    });
    let a = all.clone();
    let any = c.register_events(wsim::esp::EventFilter::Any, move |_| *a.lock().unwrap() += 1);
    assert_eq!(c.unregister_events(wsim::esp::EventFilter::Any, any), 0);
    assert_eq!(c.unregister_events(wsim::esp::EventFilter::Any, any), codes::ESP_ERR_INVALID_ARG);
    c.start().await;
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    conn.write(&frame(0x81, b"x")).await;
    let deadline = Instant::now() + WAIT;
    while only_data.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*only_data.lock().unwrap(), vec![EventId::Data]);
    assert_eq!(*all.lock().unwrap(), 0);
    c.destroy().await;
}

/// `stop()` right after `start()`, before the task has run: the task must notice the
/// stop (on the device it runs before `xTaskCreate` returns and sets `run` first), not
/// loop forever with REQUESTED_STOP set. Under a paused clock such a loop never lets time
/// advance, so the test runs the client on a thread of its own and bounds it in wall time.
#[test]
fn stop_right_after_start_ends_the_task() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let names = rt.block_on(async {
            let c = client(cfg("ws://127.0.0.1:9/".into()));
            let mut ev = Events::attach(&c);
            assert_eq!(c.start().await, 0);
            assert_eq!(c.stop().await, 0);
            ev.expect(EventId::Begin).await;
            ev.expect(EventId::Finish).await;
            assert_eq!(c.destroy().await, 0);
            ev.names()
        });
        let _ = tx.send(names);
    });
    let names = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("stop() right after start() must end the task, not spin");
    assert_eq!(names, vec!["begin", "finish"]);
}
