//! Reactions: handlers that call the API from the client task (the C lock is recursive,
//! spec §2), with the device's consequences: a send blocks the task, stop and close
//! return ESP_FAIL, destroy is the documented use-after-free.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use wsim::esp::{
    BoxFuture, Config, EventFilter, EventId, HandlerApi, OwnedEvent, PORT_MAX_DELAY, Profile,
    Reaction,
};

type Log = Arc<Mutex<Vec<(&'static str, i32)>>>;

/// On a text "hello": send_text("world"), then stop, close, close_with_code and
/// is_connected, logging what each returned.
struct Answer(Log);

impl Reaction for Answer {
    fn react<'a>(
        &'a mut self,
        event: &'a OwnedEvent,
        api: &'a mut HandlerApi<'_>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if event.event != EventId::Data || event.data != b"hello" {
                return;
            }
            let sent = api.send_text(b"world", PORT_MAX_DELAY).await;
            let stop = api.stop();
            let close = api.close(PORT_MAX_DELAY).await;
            let code = api.close_with_code(1000, b"bye", PORT_MAX_DELAY).await;
            let connected = i32::from(api.is_connected());
            self.0.lock().unwrap().extend([
                ("send_text", sent),
                ("stop", stop),
                ("close", close),
                ("close_with_code", code),
                ("is_connected", connected),
            ]);
        })
    }
}

#[tokio::test]
async fn a_handler_sends_from_the_client_task_and_stop_and_close_return_esp_fail() {
    let log = Log::default();
    let srv = RawServer::bind().await;
    let c = client_with(cfg(srv.uri("/")), Profile::Idf6);
    c.register_reaction(EventFilter::Only(EventId::Data), Answer(log.clone()));
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    assert_eq!(c.start().await, 0);
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    conn.write(&frame(0x81, b"hello")).await;
    assert_eq!(ev.expect(EventId::Data).await.data, b"hello");
    let f = conn.read_frame().await;
    assert_eq!((f.opcode, f.fin, f.masked, f.payload.as_slice()), (1, true, true, &b"world"[..]));
    // Neither stop nor close did anything: no CLOSE frame, no event, still connected.
    conn.expect_silent(Duration::from_millis(300)).await;
    ev.expect_none(Duration::from_millis(10)).await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            ("send_text", 5),
            ("stop", -1),
            ("close", -1),
            ("close_with_code", -1),
            ("is_connected", 1)
        ]
    );
    assert!(c.is_connected());
    // The client keeps reading and answering.
    conn.write(&frame(0x81, b"hello")).await;
    assert_eq!(conn.read_frame().await.payload, b"world");
    assert_eq!(c.stop().await, 0);
    ev.skip_until(EventId::Finish).await;
}

/// On a text "go": send_bin of `len` bytes, logging the return.
struct BigReply(usize, Log);

impl Reaction for BigReply {
    fn react<'a>(
        &'a mut self,
        event: &'a OwnedEvent,
        api: &'a mut HandlerApi<'_>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if event.data == b"go" {
                let r = api.send_bin(&vec![7u8; self.0], PORT_MAX_DELAY).await;
                self.1.lock().unwrap().push(("send_bin", r));
            }
        })
    }
}

#[tokio::test]
async fn a_send_from_a_handler_holds_back_the_ping_until_it_is_written() {
    const LEN: usize = 48 << 20;
    let log = Log::default();
    let srv = RawServer::bind().await;
    let config = Config { buffer_size: 1 << 20, ..cfg(srv.uri("/")) };
    let c = client_with(config, Profile::Idf6);
    c.register_reaction(EventFilter::Only(EventId::Data), BigReply(LEN, log.clone()));
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    conn.write(&[frame(0x81, b"go"), frame(0x89, b"p")].concat()).await;
    assert_eq!(ev.expect(EventId::Data).await.data, b"go");
    // The server reads nothing: the reply fills the socket buffers and the task waits
    // in the handler's send, so the PING that came with "go" is not even raised.
    ev.expect_none(Duration::from_millis(500)).await;
    assert!(log.lock().unwrap().is_empty(), "the send has not returned");
    let mut got = 0;
    while got < LEN {
        let f = conn.read_frame().await;
        assert!(f.opcode == 2 || f.opcode == 0, "reply frames first, got opcode {}", f.opcode);
        got += f.payload.len();
    }
    assert_eq!(got, LEN);
    let pong = conn.read_frame().await;
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"p"[..]));
    let ping = ev.expect(EventId::Data).await;
    assert_eq!((ping.op_code, ping.data.as_slice()), (9, &b"p"[..]));
    assert_eq!(*log.lock().unwrap(), [("send_bin", LEN as i32)]);
    c.stop().await;
}

/// destroy() from the handler, logging its return.
struct Destroy(Log);

impl Reaction for Destroy {
    fn react<'a>(
        &'a mut self,
        _event: &'a OwnedEvent,
        api: &'a mut HandlerApi<'_>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let r = api.destroy();
            let again = api.send_text(b"x", PORT_MAX_DELAY).await;
            self.0.lock().unwrap().extend([("destroy", r), ("send_text", again)]);
        })
    }
}

#[tokio::test]
async fn destroy_from_a_handler_is_reported_as_the_use_after_free_and_ends_the_task() {
    let log = Log::default();
    let srv = RawServer::bind().await;
    let c = client_with(cfg(srv.uri("/")), Profile::Idf6);
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.register_reaction(EventFilter::Only(EventId::Connected), Destroy(log.clone()));
    c.start().await;
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    let e = ev.expect(EventId::Error).await;
    let text = String::from_utf8_lossy(&e.data).into_owned();
    assert!(text.contains("destroy() called from the websocket task: use-after-free"), "{text}");
    ev.expect(EventId::Finish).await;
    assert_eq!(*log.lock().unwrap(), [("destroy", 0), ("send_text", -1)]);
    assert_eq!(c.send_text("x", PORT_MAX_DELAY).await, -1);
    assert_eq!(c.destroy().await, wsim::transport::codes::ESP_ERR_INVALID_ARG);
}

#[tokio::test]
async fn an_unregistered_reaction_no_longer_runs() {
    let log = Log::default();
    let (c, mut ev, mut conn, _srv) = {
        let srv = RawServer::bind().await;
        let c = client_with(cfg(srv.uri("/")), Profile::Idf6);
        let id = c.register_reaction(EventFilter::Only(EventId::Data), Answer(log.clone()));
        assert_eq!(
            c.unregister_reaction(EventFilter::Any, id),
            wsim::transport::codes::ESP_ERR_INVALID_ARG,
            "the filter must match"
        );
        assert_eq!(c.unregister_reaction(EventFilter::Only(EventId::Data), id), 0);
        let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
        c.start().await;
        let mut conn = srv.accept().await;
        conn.upgrade().await;
        ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
        (c, ev, conn, srv)
    };
    conn.write(&frame(0x81, b"hello")).await;
    ev.expect(EventId::Data).await;
    conn.expect_silent(Duration::from_millis(200)).await;
    assert!(log.lock().unwrap().is_empty());
    c.stop().await;
}

/// Calls the client's own send (not the handler API) from a reaction.
struct OwnMethod(wsim::esp::EspWebsocketClient, Log);

impl Reaction for OwnMethod {
    fn react<'a>(
        &'a mut self,
        event: &'a OwnedEvent,
        _api: &'a mut HandlerApi<'_>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if event.event == EventId::Data {
                let r = self.0.send_text("x", PORT_MAX_DELAY).await;
                self.1.lock().unwrap().push(("send_text", r));
            }
        })
    }
}

#[tokio::test]
async fn the_clients_own_send_from_a_reaction_returns_at_once_instead_of_hanging() {
    let log = Log::default();
    let srv = RawServer::bind().await;
    let c = client_with(cfg(srv.uri("/")), Profile::Idf6);
    c.register_reaction(EventFilter::Only(EventId::Data), OwnMethod(c.clone(), log.clone()));
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    conn.write(&frame(0x81, b"hi")).await;
    ev.expect(EventId::Data).await;
    conn.expect_silent(Duration::from_millis(200)).await;
    assert_eq!(*log.lock().unwrap(), [("send_text", -1)]);
    // The task was not stuck: it still reads.
    conn.write(&frame(0x81, b"again")).await;
    assert_eq!(ev.expect(EventId::Data).await.data, b"again");
    assert_eq!(c.stop().await, 0);
}
