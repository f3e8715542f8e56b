//! Framing on the wire and receive chunking (spec §3.3, §3.4, §5.3, §5.4), against a
//! raw TCP server that writes and reads frames byte for byte.

mod common;

use std::time::Duration;

use common::*;
use wsim::esp::{Config, EventId, OwnedEvent, PORT_MAX_DELAY, Profile};

use common::connected_raw as connected;

fn base() -> Config {
    Config { network_timeout_ms: 2000, ..Config::default() }
}

fn fields(e: &OwnedEvent) -> (u8, bool, i32, i32, usize) {
    (e.op_code, e.fin, e.payload_len, e.payload_offset, e.data_len)
}

#[tokio::test]
async fn send_text_fragments_by_buffer_size_and_masks_every_frame() {
    let (c, _ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    let text = "y".repeat(2000);
    assert_eq!(c.send_text(&text, PORT_MAX_DELAY).await, 2000);
    let a = conn.read_frame().await;
    let b = conn.read_frame().await;
    assert_eq!((a.fin, a.opcode, a.masked, a.payload.len()), (false, 1, true, 1024));
    assert_eq!((b.fin, b.opcode, b.masked, b.payload.len()), (true, 0, true, 976));
    assert_eq!([a.payload, b.payload].concat(), text.as_bytes());
    // A small binary message is one frame.
    assert_eq!(c.send_bin([1u8, 2, 3], PORT_MAX_DELAY).await, 3);
    let f = conn.read_frame().await;
    assert_eq!((f.fin, f.opcode, f.payload), (true, 2, vec![1, 2, 3]));
    // Empty text: one empty frame, return 0.
    assert_eq!(c.send_text("", PORT_MAX_DELAY).await, 0);
    let f = conn.read_frame().await;
    assert_eq!((f.fin, f.opcode, f.masked, f.payload.len()), (true, 1, true, 0));
}

#[tokio::test]
async fn partial_continuation_and_fin_sends() {
    let (c, _ev, mut conn, _s) =
        connected(Config { buffer_size: 16, ..base() }, Profile::Idf6).await;
    assert_eq!(c.send_text_partial("a".repeat(20), PORT_MAX_DELAY).await, 20);
    let f1 = conn.read_frame().await;
    let f2 = conn.read_frame().await;
    assert_eq!((f1.fin, f1.opcode, f1.payload.len()), (false, 1, 16));
    assert_eq!((f2.fin, f2.opcode, f2.payload.len()), (false, 0, 4));
    assert_eq!(c.send_cont_msg("b".repeat(5), PORT_MAX_DELAY).await, 5);
    let f = conn.read_frame().await;
    assert_eq!((f.fin, f.opcode, f.payload), (false, 0, b"bbbbb".to_vec()));
    // An empty continuation sends nothing at all.
    assert_eq!(c.send_cont_msg("", PORT_MAX_DELAY).await, 0);
    assert_eq!(c.send_fin(PORT_MAX_DELAY).await, 0);
    let f = conn.read_frame().await;
    assert_eq!(
        (f.fin, f.opcode, f.payload.len()),
        (true, 0, 0),
        "the next frame is the FIN, not a CONT"
    );
    assert_eq!(c.send_bin_partial([9u8; 3], PORT_MAX_DELAY).await, 3);
    let f = conn.read_frame().await;
    assert_eq!((f.fin, f.opcode), (false, 2));
}

#[tokio::test]
async fn send_with_opcode_accepts_any_opcode_and_length() {
    let (c, _ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    assert_eq!(c.send_with_opcode(0x9, &[7u8; 200], PORT_MAX_DELAY).await, 200);
    let f = conn.read_frame().await;
    assert_eq!((f.fin, f.opcode, f.payload.len()), (true, 9, 200));
    assert_eq!(c.send_with_opcode(0x3, &[], PORT_MAX_DELAY).await, 0);
    let f = conn.read_frame().await;
    assert_eq!((f.fin, f.opcode, f.payload.len()), (true, 3, 0));
}

#[tokio::test]
async fn sends_fail_with_minus_one_when_not_connected() {
    let c = client(cfg("ws://127.0.0.1:1/".into()));
    assert_eq!(c.send_text("x", PORT_MAX_DELAY).await, -1);
    assert_eq!(c.send_bin([1u8], 10).await, -1);
}

#[tokio::test]
async fn a_large_frame_arrives_in_buffer_size_chunks_with_per_frame_offsets() {
    let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    let payload: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
    conn.write(&frame(0x82, &payload)).await;
    let chunks = [
        ev.expect(EventId::Data).await,
        ev.expect(EventId::Data).await,
        ev.expect(EventId::Data).await,
    ];
    assert_eq!(fields(&chunks[0]), (2, true, 2500, 0, 1024));
    assert_eq!(fields(&chunks[1]), (2, true, 2500, 1024, 1024));
    assert_eq!(fields(&chunks[2]), (2, true, 2500, 2048, 452));
    assert_eq!(chunks.iter().flat_map(|c| c.data.clone()).collect::<Vec<_>>(), payload);
}

#[tokio::test]
async fn tcp_segmentation_shows_through_the_chunks() {
    let (_c, mut ev, mut conn, _s) =
        connected(Config { buffer_size: 8192, ..base() }, Profile::Idf6).await;
    let f = frame(0x81, &[b'z'; 3000]);
    conn.write(&f[..1004]).await;
    let first = ev.expect(EventId::Data).await;
    assert_eq!(fields(&first), (1, true, 3000, 0, 1000));
    conn.write(&f[1004..]).await;
    let second = ev.expect(EventId::Data).await;
    assert_eq!(fields(&second), (1, true, 3000, 1000, 2000));
}

#[tokio::test]
async fn fragmented_message_with_a_ping_in_the_middle_is_not_reassembled() {
    let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    let mut bytes = frame(0x01, b"Hel");
    bytes.extend(frame(0x89, b"mid"));
    bytes.extend(frame(0x00, b"lo, "));
    bytes.extend(frame(0x80, b"world"));
    conn.write(&bytes).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(ev.expect(EventId::Data).await);
    }
    assert_eq!(fields(&got[0]), (1, false, 3, 0, 3));
    assert_eq!(fields(&got[1]), (9, true, 3, 0, 3));
    assert_eq!(fields(&got[2]), (0, false, 4, 0, 4));
    assert_eq!(fields(&got[3]), (0, true, 5, 0, 5));
    // The PING was answered with a PONG carrying its payload.
    let pong = conn.read_frame().await;
    assert_eq!(
        (pong.fin, pong.opcode, pong.masked, pong.payload),
        (true, 0xA, true, b"mid".to_vec())
    );
}

#[tokio::test]
async fn ping_pong_and_empty_frames_raise_data() {
    let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    conn.write(&frame(0x89, b"")).await;
    assert_eq!(fields(&ev.expect(EventId::Data).await), (9, true, 0, 0, 0));
    let pong = conn.read_frame().await;
    assert_eq!((pong.opcode, pong.payload.len()), (0xA, 0));
    conn.write(&frame(0x8A, b"unsolicited")).await;
    assert_eq!(fields(&ev.expect(EventId::Data).await), (10, true, 11, 0, 11));
    conn.write(&frame(0x81, b"")).await;
    assert_eq!(fields(&ev.expect(EventId::Data).await), (1, true, 0, 0, 0));
}

#[tokio::test]
async fn server_close_gives_data8_closed_finish_with_an_empty_close_reply() {
    let (c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    let mut payload = 1001u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"going away");
    conn.write(&frame(0x88, &payload)).await;
    let d = ev.expect(EventId::Data).await;
    assert_eq!(fields(&d), (8, true, 12, 0, 12));
    // Parsed after the frame's DATA events (spec §8): DATA(8) has the previous value.
    assert_eq!(d.close_status_code, 0);
    assert_eq!(d.data, payload);
    let reply = conn.read_frame().await;
    assert_eq!((reply.fin, reply.opcode, reply.masked, reply.payload.len()), (true, 8, true, 0));
    drop(conn);
    let closed = ev.expect(EventId::Closed).await;
    assert_eq!(closed.data_len, 0);
    assert_eq!(closed.close_status_code, 1001);
    ev.expect(EventId::Finish).await;
    ev.expect_none(Duration::from_millis(300)).await;
    assert!(!c.is_connected());
}

#[tokio::test]
async fn server_close_without_tcp_close_waits_one_second_then_closed() {
    let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    conn.write(&frame(0x88, &[])).await;
    let d = ev.expect(EventId::Data).await;
    assert_eq!((d.op_code, d.close_status_code), (8, 0));
    let t0 = tokio::time::Instant::now();
    conn.read_frame().await;
    ev.expect(EventId::Closed).await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    ev.expect(EventId::Finish).await;
}

#[tokio::test]
async fn a_stalled_frame_gives_zero_length_data_every_network_timeout() {
    let (_c, mut ev, mut conn, _s) = connected(
        Config { network_timeout_ms: 300, ping_interval_sec: 1, ..Config::default() },
        Profile::Idf6,
    )
    .await;
    let f = frame(0x82, &[5u8; 100]);
    conn.write(&f[..40]).await;
    let first = ev.expect(EventId::Data).await;
    assert_eq!(fields(&first), (2, true, 100, 0, 38));
    let (t1, z1) = ev.expect_at(EventId::Data, Duration::from_secs(2)).await;
    let (t2, z2) = ev.expect_at(EventId::Data, Duration::from_secs(2)).await;
    assert_eq!(fields(&z1), (2, true, 100, 38, 0));
    assert_eq!(fields(&z2), (2, true, 100, 38, 0));
    let gap = t2 - t1;
    assert!(gap >= Duration::from_millis(250) && gap < Duration::from_millis(600), "{gap:?}");
    // The task is stuck in the frame: no PING goes out, though the 1 s interval passes.
    conn.expect_silent(Duration::from_millis(1200)).await;
    conn.write(&f[40..]).await;
    let mut rest = ev.skip_until(EventId::Data).await;
    while rest.data_len == 0 {
        rest = ev.skip_until(EventId::Data).await;
    }
    assert_eq!(fields(&rest), (2, true, 100, 38, 62));
    // Once the frame completes, the overdue PING goes out.
    let ping = conn.read_frame().await;
    assert_eq!((ping.opcode, ping.payload.len()), (9, 0));
}

#[tokio::test]
async fn protocol_violations_disconnect_on_idf6_and_pass_through_on_idf55() {
    for (bytes, what) in [
        (frame(0xC1, b"rsv"), "RSV1 set"),
        (frame(0x83, b"op3"), "reserved opcode"),
        (frame(0x09, b"frag-ping"), "fragmented control"),
        (frame(0x89, &[0u8; 126]), "oversized control"),
    ] {
        let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
        conn.write(&bytes).await;
        let err = ev.expect(EventId::Error).await;
        assert!(err.text().unwrap().starts_with("esp_transport_read() failed with -1"), "{what}");
        ev.expect(EventId::Disconnected).await;
        // No CLOSE 1002 is sent; the TCP connection is simply closed.
        assert!(conn.expect_closed(Duration::from_secs(2)).await, "{what}");

        let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf55).await;
        conn.write(&bytes).await;
        let d = ev.expect(EventId::Data).await;
        assert_eq!(d.op_code, bytes[0] & 0x0F, "{what}");
    }
}

#[tokio::test]
async fn masked_server_frames_are_accepted_and_unmasked() {
    let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    let mask = [1u8, 2, 3, 4];
    let mut p = b"masked!".to_vec();
    for (i, b) in p.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    let mut f = vec![0x81, 0x80 | 7];
    f.extend_from_slice(&mask);
    f.extend_from_slice(&p);
    conn.write(&f).await;
    assert_eq!(ev.expect(EventId::Data).await.text(), Some("masked!"));
}

#[tokio::test]
async fn invalid_utf8_and_bad_close_codes_are_delivered_unchecked() {
    let (_c, mut ev, mut conn, _s) = connected(base(), Profile::Idf6).await;
    conn.write(&frame(0x81, &[0xff, 0xfe])).await;
    assert_eq!(ev.expect(EventId::Data).await.data, vec![0xff, 0xfe]);
    conn.write(&frame(0x88, &[0x03])).await;
    let d = ev.expect(EventId::Data).await;
    assert_eq!((d.op_code, d.data_len, d.close_status_code), (8, 1, 0));
}

#[tokio::test]
async fn control_payloads_are_chunked_on_idf55_and_whole_on_idf6() {
    let small = Config { buffer_size: 50, ..base() };
    let (_c, mut ev, mut conn, _s) = connected(small.clone(), Profile::Idf55).await;
    conn.write(&frame(0x89, &[b'p'; 80])).await;
    assert_eq!(fields(&ev.expect(EventId::Data).await), (9, true, 80, 0, 50));
    assert_eq!(fields(&ev.expect(EventId::Data).await), (9, true, 80, 50, 30));
    // The PONG is payload_len bytes from the start of the RX buffer (checked against the
    // real v5.5.4 client): the last chunk, the first chunk's stale bytes, then what lies
    // past the 50-byte buffer (zeros in the model).
    let pong = conn.read_frame().await.payload;
    assert_eq!(pong.len(), 80);
    assert_eq!(&pong[..50], &[b'p'; 50]);

    let (_c, mut ev, mut conn, _s) = connected(small, Profile::Idf6).await;
    conn.write(&frame(0x89, &[b'p'; 80])).await;
    // A control payload larger than the buffer fails the read on IDF 6.
    ev.expect(EventId::Error).await;
    ev.expect(EventId::Disconnected).await;
    assert!(conn.expect_closed(Duration::from_secs(2)).await);
}
