//! The client model never allocates what the peer only claims: a control frame whose
//! header claims 1 GiB (then the connection closes) is drained or chunked in small
//! pieces, with the C client's events.
//!
//! The allocator is capped while the hostile frame is read: an allocation of the claimed
//! size fails, which aborts this test binary ("memory allocation of … bytes failed").

mod common;

use std::alloc::System;
use std::time::Duration;

use cap::Cap;
use common::*;
use wsim::esp::{Config, EventId, Profile};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// What reading the hostile frame may allocate at most, beyond what was in use.
const HEADROOM: usize = 64 << 20;
const GIB: u64 = 1 << 30;

/// A frame header (unmasked) claiming `len` payload bytes with the 64-bit length form.
fn header_claiming(b0: u8, len: u64) -> Vec<u8> {
    let mut h = vec![b0, 127];
    h.extend_from_slice(&len.to_be_bytes());
    h
}

struct Capped;

impl Capped {
    fn new() -> Capped {
        ALLOC.set_limit(ALLOC.allocated() + HEADROOM).expect("the cap is above what is in use");
        Capped
    }
}

impl Drop for Capped {
    fn drop(&mut self) {
        let _ = ALLOC.set_limit(usize::MAX);
    }
}

/// One test function, so no other test of this binary allocates while the cap is on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_frame_claiming_1_gib_allocates_nothing_of_that_size() {
    let cfg = Config { network_timeout_ms: 2000, ..Config::default() };

    // IDF 6: a control frame over 125 bytes is drained, then the read fails.
    for b0 in [0x89u8, 0x8A, 0x88] {
        let (_c, mut ev, mut conn, _s) = connected_raw(cfg.clone(), Profile::Idf6).await;
        let before = ALLOC.allocated();
        let cap = Capped::new();
        let mut bytes = header_claiming(b0, GIB);
        bytes.extend_from_slice(&[b'p'; 5000]);
        conn.write(&bytes).await;
        drop(conn);
        let err = ev.expect(EventId::Error).await;
        assert!(
            err.text().unwrap().starts_with("esp_transport_read() failed with -1"),
            "opcode {b0:#x}: {err:?}"
        );
        ev.expect(EventId::Disconnected).await;
        drop(cap);
        let grew = ALLOC.allocated().saturating_sub(before);
        assert!(grew < HEADROOM, "opcode {b0:#x}: {grew} bytes still allocated");
    }

    // IDF 5.5: no validation; the PING is delivered in buffer_size chunks as it arrives,
    // with payload_len the claimed 1 GiB, until the peer's close fails the read.
    let (_c, mut ev, mut conn, _s) = connected_raw(cfg.clone(), Profile::Idf55).await;
    let cap = Capped::new();
    let mut bytes = header_claiming(0x89, GIB);
    bytes.extend_from_slice(&[b'p'; 3000]);
    conn.write(&bytes).await;
    // Let the payload arrive before the FIN, so the chunks are deterministic enough.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(conn);
    let mut delivered = 0i32;
    loop {
        let e = ev.next_within(WAIT).await.expect("an event").1;
        match e.event {
            EventId::Data => {
                assert_eq!((e.op_code, e.payload_len), (9, GIB as i32));
                assert_eq!(e.payload_offset, delivered);
                assert!(e.data_len <= 1024);
                delivered += e.data_len as i32;
            }
            EventId::Error => break,
            other => panic!("unexpected {other:?}; seen: {:?}", ev.names()),
        }
    }
    assert_eq!(delivered, 3000);
    ev.expect(EventId::Disconnected).await;
    drop(cap);
}
