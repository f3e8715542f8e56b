//! The model against a real tokio-tungstenite echo server on loopback.

mod common;

use common::*;
use wsim::esp::{EventId, PORT_MAX_DELAY};

#[tokio::test]
async fn send_text_2000_bytes_comes_back_as_two_data_events() {
    let addr = echo_server(None).await;
    let c = client(cfg(format!("ws://127.0.0.1:{}/echo", addr.port())));
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    assert_eq!(c.start().await, 0);
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    let text = "x".repeat(2000);
    assert_eq!(c.send_text(&text, PORT_MAX_DELAY).await, 2000);
    let a = ev.expect(EventId::Data).await;
    let b = ev.expect(EventId::Data).await;
    assert_eq!(
        (a.op_code, a.fin, a.payload_len, a.payload_offset, a.data_len),
        (1, true, 2000, 0, 1024)
    );
    assert_eq!(
        (b.op_code, b.fin, b.payload_len, b.payload_offset, b.data_len),
        (1, true, 2000, 1024, 976)
    );
    assert_eq!([a.data, b.data].concat(), text.as_bytes());
    assert_eq!(c.close(PORT_MAX_DELAY).await, 0);
    let close = ev.expect(EventId::Data).await;
    assert_eq!(close.op_code, 8);
    ev.expect_seq(&[EventId::Closed, EventId::Finish]).await;
    assert!(!c.is_connected());
}
