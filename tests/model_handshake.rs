//! The upgrade handshake, checked byte for byte against a raw TCP server (spec §5.1,
//! §5.2, §1.1).

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use wsim::esp::{Config, Env, ErrorType, EspWebsocketClient, EventId, Profile, handshake};

fn header_names(events: &[wsim::esp::OwnedEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event == EventId::HeaderReceived)
        .map(|e| e.text().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn request_is_byte_exact_with_every_optional_header() {
    let srv = RawServer::bind().await;
    let c = client(Config {
        subprotocol: Some("chat".into()),
        headers: Some("X-Token: abc\r\n".into()),
        user_agent: Some("probe/1".into()),
        ..cfg(format!("ws://user:secret@127.0.0.1:{}/echo?id=7#frag", srv.addr.port()))
    });
    let mut ev = Events::attach(&c);
    assert_eq!(c.start().await, 0);
    let mut conn = srv.accept().await;
    let req = conn.upgrade().await;
    let key = request_key(&req);
    assert_eq!(key.len(), 24);
    assert_eq!(
        req,
        format!(
            "GET /echo?id=7 HTTP/1.1\r\nConnection: Upgrade\r\nHost: 127.0.0.1:{}\r\nUser-Agent: probe/1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: chat\r\nAuthorization: Basic dXNlcjpzZWNyZXQ=\r\nX-Token: abc\r\n\r\n",
            srv.addr.port()
        )
    );
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect]).await;
    // IDF 6 reports every response header but the accept line, in order.
    for line in ["Upgrade: websocket", "Connection: Upgrade"] {
        assert_eq!(ev.expect(EventId::HeaderReceived).await.text(), Some(line));
    }
    let connected = ev.expect(EventId::Connected).await;
    assert_eq!((connected.op_code, connected.fin, connected.data_len), (0, false, 0));
}

#[tokio::test]
async fn default_user_agent_query_only_path_and_default_path() {
    let srv = RawServer::bind().await;
    let c = client(cfg(format!("ws://127.0.0.1:{}?q=1", srv.addr.port())));
    c.start().await;
    let mut conn = srv.accept().await;
    let req = conn.read_request().await;
    assert!(req.starts_with("GET /?q=1 HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("\r\nUser-Agent: ESP32 Websocket Client\r\n"));
    assert!(!req.contains("Origin") && !req.contains("Sec-WebSocket-Extensions"));
    let c2 = client(cfg(format!("ws://127.0.0.1:{}", srv.addr.port())));
    c2.start().await;
    let req = srv.accept().await.read_request().await;
    assert!(req.starts_with("GET / HTTP/1.1\r\n"), "{req}");
}

/// A client whose connections all go to `srv`, recording the host and port it asked for.
fn mapped(cfg: Config, srv: &RawServer) -> (EspWebsocketClient, Asked) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let conn = RecordingConnector { target: srv.addr, asked: asked.clone() };
    let env = Env::new(Arc::new(conn), 1);
    (EspWebsocketClient::try_init(&cfg, &env, Profile::Idf6).unwrap(), asked)
}

#[tokio::test]
async fn default_ports_and_port_override_and_host_header_always_has_port() {
    let srv = RawServer::bind().await;
    for (uri, port_field, want) in [
        ("ws://example.test/a", 0, 80u16),
        ("wss://example.test/a", 0, 443),
        ("ws://example.test:123/a", 4567, 4567),
        ("ws://example.test:123/a", 0, 123),
    ] {
        let (c, asked) = mapped(Config { port: port_field, ..cfg(uri.into()) }, &srv);
        c.start().await;
        if uri.starts_with("ws:") {
            let req = srv.accept().await.read_request().await;
            assert!(req.contains(&format!("\r\nHost: example.test:{want}\r\n")), "{req}");
        } else {
            // TLS towards a plain server: only the connect target is checked here.
            let _ = srv.accept().await;
        }
        assert_eq!(asked.lock().unwrap()[0], ("example.test".to_string(), want));
        c.destroy().await;
    }
}

#[tokio::test]
async fn explicit_host_and_path_fields_beat_the_uri() {
    let srv = RawServer::bind().await;
    let (c, asked) = mapped(
        Config {
            host: Some("other.test".into()),
            path: Some("/p2".into()),
            ..cfg("ws://h.test:9/p1".into())
        },
        &srv,
    );
    c.start().await;
    let req = srv.accept().await.read_request().await;
    assert!(req.starts_with("GET /p2 HTTP/1.1\r\n"));
    assert_eq!(asked.lock().unwrap()[0], ("other.test".to_string(), 9));
}

#[tokio::test]
async fn status_200_with_a_valid_key_connects() {
    let srv = RawServer::bind().await;
    let c = client(cfg(srv.uri("/")));
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    let mut conn = srv.accept().await;
    let req = conn.read_request().await;
    let accept = handshake::expected_accept(&request_key(&req));
    conn.write(format!("HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes())
        .await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    assert!(c.is_connected());
}

#[tokio::test]
async fn http_404_gives_error_then_disconnected_with_the_status_and_retries() {
    let srv = RawServer::bind().await;
    let c = client(Config { reconnect_timeout_ms: 300, ..cfg(srv.uri("/missing")) });
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    let mut conn = srv.accept().await;
    conn.read_request().await;
    conn.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect]).await;
    let err = ev.expect(EventId::Error).await;
    let msg = err.text().unwrap();
    assert!(
        msg.starts_with("esp_transport_connect() failed with -1, transport_error=ESP_OK, tls_error_code=0, tls_flags=0, esp_ws_handshake_status_code=404"),
        "{msg}"
    );
    // The first failure after start: ERROR carries NONE, DISCONNECTED carries TCP_TRANSPORT.
    assert_eq!(err.error_handle.error_type, ErrorType::None);
    assert_eq!(err.error_handle.esp_ws_handshake_status_code, 404);
    let disc = ev.expect(EventId::Disconnected).await;
    assert_eq!(disc.error_handle.error_type, ErrorType::TcpTransport);
    assert_eq!(disc.error_handle.esp_ws_handshake_status_code, 404);
    // It retries after reconnect_timeout_ms.
    let (t0, _) = (tokio::time::Instant::now(), ());
    let mut conn2 = srv.accept().await;
    assert!(t0.elapsed() >= std::time::Duration::from_millis(250));
    ev.expect(EventId::BeforeConnect).await;
    conn2.read_request().await;
    c.destroy().await;
}

#[tokio::test]
async fn wrong_accept_key_fails_on_both_profiles_and_prefix_passes_only_on_idf6() {
    for (accept, profile, connects) in [
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", Profile::Idf6, false),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", Profile::Idf55, false),
        ("", Profile::Idf6, true),
        ("", Profile::Idf55, false),
    ] {
        let srv = RawServer::bind().await;
        let c = client_with(Config { disable_auto_reconnect: true, ..cfg(srv.uri("/")) }, profile);
        let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
        c.start().await;
        let mut conn = srv.accept().await;
        conn.read_request().await;
        conn.write(format!("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").as_bytes())
            .await;
        ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect]).await;
        if connects {
            ev.expect(EventId::Connected).await;
        } else {
            ev.expect_seq(&[EventId::Error, EventId::Disconnected, EventId::Finish]).await;
        }
        c.destroy().await;
    }
}

#[tokio::test]
async fn header_received_exists_only_on_idf6() {
    for profile in [Profile::Idf6, Profile::Idf55] {
        let srv = RawServer::bind().await;
        let c = client_with(cfg(srv.uri("/")), profile);
        let mut ev = Events::attach(&c);
        c.start().await;
        srv.accept().await.upgrade_with("X-Server: raw\r\n", &[]).await;
        ev.skip_until(EventId::Connected).await;
        let headers = header_names(&ev.seen);
        if profile == Profile::Idf6 {
            assert_eq!(headers, ["Upgrade: websocket", "Connection: Upgrade", "X-Server: raw"]);
        } else {
            assert!(headers.is_empty());
        }
        c.destroy().await;
    }
}

#[tokio::test]
async fn redirect_follows_location_keeps_the_old_path_and_leaks_the_old_socket() {
    let first = RawServer::bind().await;
    let second = RawServer::bind().await;
    let c = client(cfg(first.uri("/orig")));
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    let mut a = first.accept().await;
    a.read_request().await;
    a.write(
        format!(
            "HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:{}/new\r\n\r\n",
            second.addr.port()
        )
        .as_bytes(),
    )
    .await;
    let mut b = second.accept().await;
    let req = b.read_request().await;
    // The path was pushed into the transport at start(), so the old one is requested.
    assert!(req.starts_with("GET /orig HTTP/1.1\r\n"), "{req}");
    assert!(req.contains(&format!("Host: 127.0.0.1:{}\r\n", second.addr.port())));
    let key = request_key(&req);
    b.write(
        format!(
            "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            handshake::expected_accept(&key)
        )
        .as_bytes(),
    )
    .await;
    ev.expect_seq(&[
        EventId::Begin,
        EventId::BeforeConnect,
        EventId::BeforeConnect,
        EventId::Connected,
    ])
    .await;
    // The first socket is never closed by the client.
    assert!(!a.expect_closed(std::time::Duration::from_millis(300)).await);
}

#[tokio::test]
async fn a_frame_sent_with_the_101_response_is_delivered_right_after_connected() {
    let srv = RawServer::bind().await;
    let c = client(cfg(srv.uri("/")));
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    srv.accept().await.upgrade_with("", &frame(0x81, b"early")).await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    let d = ev.expect(EventId::Data).await;
    assert_eq!(d.text(), Some("early"));
}

#[tokio::test]
async fn oversized_response_headers_fail_the_connect() {
    let srv = RawServer::bind().await;
    let c = client(Config { disable_auto_reconnect: true, ..cfg(srv.uri("/")) });
    let mut ev = Events::attach(&c);
    c.start().await;
    let mut conn = srv.accept().await;
    conn.read_request().await;
    conn.write(format!("HTTP/1.1 101 OK\r\nX-Pad: {}\r\n\r\n", "p".repeat(1100)).as_bytes()).await;
    ev.expect_seq(&[
        EventId::Begin,
        EventId::BeforeConnect,
        EventId::Error,
        EventId::Disconnected,
        EventId::Finish,
    ])
    .await;
}

#[tokio::test]
async fn an_unparsable_uri_makes_init_fail_and_set_uri_return_esp_fail() {
    assert!(
        EspWebsocketClient::init(&Config { uri: Some("INVALID".into()), ..Config::default() })
            .is_none()
    );
    let c = client(cfg("ws://127.0.0.1:1/".into()));
    assert_eq!(c.set_uri("INVALID").await, -1);
    assert_eq!(c.set_uri("ws://127.0.0.1:2/x").await, 0);
}

#[tokio::test]
async fn unsupported_scheme_fails_start() {
    let c = client(cfg("http://127.0.0.1:1/".into()));
    assert_eq!(c.start().await, -1);
}
