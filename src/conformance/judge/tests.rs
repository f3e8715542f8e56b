//! The judge of every family on recorded observations: a correct client, a lax one
//! (accepts bad UTF-8, ignores RSV bits and reserved opcodes, never closes), and one
//! that fails the close handshake. Test names carry the verdicts as
//! `<behavior>_<behaviorClose>`.

use super::*;
use crate::conformance::{CaseId, find};

fn case(id: &str) -> &'static Case {
    find(&CaseId::parse(id).unwrap()).unwrap()
}

fn text(s: &[u8]) -> Event {
    Event::text(s)
}

/// The fuzzer closed and the client answered with `code` (clean, fuzzer dropped TCP).
fn me_clean(received: Vec<Event>, code: Option<u16>) -> Observation {
    Observation {
        open: true,
        received,
        closed_by_me: true,
        dropped_by_me: true,
        was_clean: true,
        remote_close_code: code,
        ..Default::default()
    }
}

/// The fuzzer's kill timer (or its validation) failed the connection and the client
/// answered the close.
fn me_failed(received: Vec<Event>) -> Observation {
    Observation { failed_by_me: true, ..me_clean(received, None) }
}

/// The fuzzer closed and the client never answered (close handshake timeout).
fn me_no_reply(received: Vec<Event>) -> Observation {
    Observation {
        open: true,
        received,
        closed_by_me: true,
        dropped_by_me: true,
        was_clean: false,
        ..Default::default()
    }
}

/// The client closed first with `code`; the fuzzer answered and dropped TCP.
fn peer_closed(received: Vec<Event>, code: Option<u16>) -> Observation {
    Observation {
        open: true,
        received,
        closed_by_me: false,
        dropped_by_me: true,
        was_clean: true,
        remote_close_code: code,
        ..Default::default()
    }
}

/// The client dropped TCP without a close.
fn peer_dropped(received: Vec<Event>) -> Observation {
    Observation { open: true, received, ..Default::default() }
}

fn v(c: &str, o: &Observation) -> (Status, Status) {
    let j = judge(case(c), o);
    (j.behavior, j.behavior_close)
}

use Status::{Failed, Informational, NonStrict, Ok as Pass, Unclean, Unimplemented, WrongCode};

// ---- 1 Framing ----

#[test]
fn framing_1_1_1_correct_echo_then_close_is_ok_ok() {
    assert_eq!(v("1.1.1", &me_clean(vec![text(b"")], Some(1000))), (Pass, Pass));
}

#[test]
fn framing_1_2_8_no_echo_is_failed_ok() {
    assert_eq!(v("1.2.8", &me_clean(vec![], Some(1000))), (Failed, Pass));
}

#[test]
fn framing_1_1_6_echo_but_no_close_reply_is_ok_unclean() {
    let p = vec![b'*'; 65535];
    assert_eq!(v("1.1.6", &me_no_reply(vec![text(&p)])), (Pass, Unclean));
}

#[test]
fn framing_1_1_5_opening_handshake_never_completed_is_failed_failed() {
    let j = judge(case("1.1.5"), &Observation::default());
    assert_eq!((j.behavior, j.behavior_close), (Failed, Failed));
    assert_eq!(j.result_close, "The WebSocket opening handshake was never completed!");
}

// ---- 2 Pings/Pongs ----

#[test]
fn pings_2_2_pong_with_payload_is_ok_ok() {
    assert_eq!(v("2.2", &me_clean(vec![Event::pong(b"Hello, world!")], None)), (Pass, Pass));
}

#[test]
fn pings_2_5_client_fails_the_oversized_ping_is_ok_ok_and_dropping_tcp_too() {
    assert_eq!(v("2.5", &peer_closed(vec![], Some(1002))), (Pass, Pass));
    assert_eq!(v("2.5", &peer_dropped(vec![])), (Pass, Pass));
}

#[test]
fn pings_2_5_lax_client_answers_the_oversized_ping_is_failed_failed() {
    assert_eq!(v("2.5", &me_failed(vec![Event::pong(&[0xfe; 126])])), (Failed, Failed));
}

#[test]
fn pings_2_10_pongs_but_no_close_reply_is_ok_unclean() {
    let pongs = (0..10).map(|k| Event::pong(format!("payload-{k}").as_bytes())).collect();
    assert_eq!(v("2.10", &me_no_reply(pongs)), (Pass, Unclean));
}

// ---- 3 Reserved bits ----

#[test]
fn reserved_3_1_client_fails_with_1002_is_ok_ok() {
    assert_eq!(v("3.1", &peer_closed(vec![], Some(1002))), (Pass, Pass));
}

#[test]
fn reserved_3_1_client_fails_with_1000_is_ok_wrong_code() {
    assert_eq!(v("3.1", &peer_closed(vec![], Some(1000))), (Pass, WrongCode));
}

#[test]
fn reserved_3_2_lax_client_ignores_rsv_and_never_closes_is_failed_failed() {
    let hello = text(b"Hello, world!");
    let got = vec![hello.clone(), hello, Event::pong(b"Hello, world!")];
    assert_eq!(v("3.2", &me_failed(got)), (Failed, Failed));
}

#[test]
fn reserved_3_3_client_fails_before_echoing_the_first_message_is_non_strict_ok() {
    assert_eq!(v("3.3", &peer_dropped(vec![])), (NonStrict, Pass));
}

// ---- 4 Opcodes ----

#[test]
fn opcodes_4_1_3_echo_then_fail_is_ok_ok() {
    assert_eq!(v("4.1.3", &peer_closed(vec![text(b"Hello, world!")], None)), (Pass, Pass));
}

#[test]
fn opcodes_4_2_1_lax_client_ignores_reserved_opcode_is_ok_failed() {
    // Nothing to echo, but the fuzzer's kill timer closed: the wrong endpoint.
    assert_eq!(v("4.2.1", &me_failed(vec![])), (Pass, Failed));
}

// ---- 5 Fragmentation ----

#[test]
fn fragmentation_5_6_pong_then_reassembled_echo_is_ok_ok() {
    let got = vec![Event::pong(b"ping payload"), text(b"fragment1fragment2")];
    assert_eq!(v("5.6", &me_clean(got, Some(1000))), (Pass, Pass));
}

#[test]
fn fragmentation_5_6_echo_before_pong_is_failed_ok() {
    let got = vec![text(b"fragment1fragment2"), Event::pong(b"ping payload")];
    assert_eq!(v("5.6", &me_clean(got, Some(1000))), (Failed, Pass));
}

#[test]
fn fragmentation_5_9_lax_client_echoes_after_a_stray_continuation_is_failed_failed() {
    assert_eq!(v("5.9", &me_failed(vec![text(b"Hello, world!")])), (Failed, Failed));
}

#[test]
fn fragmentation_5_15_client_fails_before_the_first_echo_is_non_strict_ok() {
    assert_eq!(v("5.15", &peer_closed(vec![], Some(1002))), (NonStrict, Pass));
}

#[test]
fn fragmentation_5_19_no_close_reply_is_ok_unclean() {
    let got = vec![
        Event::pong(b"pongme 1!"),
        Event::pong(b"pongme 2!"),
        text(b"fragment1fragment2fragment3fragment4fragment5"),
    ];
    assert_eq!(v("5.19", &me_no_reply(got)), (Pass, Unclean));
}

// ---- 6 UTF-8 ----

#[test]
fn utf8_6_2_1_valid_text_echoed_is_ok_ok() {
    assert_eq!(
        v("6.2.1", &me_clean(vec![text("Hello-µ@ßöäüàá-UTF-8!!".as_bytes())], Some(1000))),
        (Pass, Pass)
    );
}

#[test]
fn utf8_6_3_1_client_fails_with_1007_is_ok_ok() {
    assert_eq!(v("6.3.1", &peer_closed(vec![], Some(1007))), (Pass, Pass));
}

#[test]
fn utf8_6_3_1_client_fails_with_1002_is_ok_wrong_code() {
    assert_eq!(v("6.3.1", &peer_closed(vec![], Some(1002))), (Pass, WrongCode));
}

#[test]
fn utf8_6_3_1_lax_client_accepts_bad_utf8_is_failed_failed() {
    // It echoes nothing the fuzzer accepts: the fuzzer fails the echo with 1007, so
    // the fuzzer closed, which is fatal in 6.x.
    assert_eq!(v("6.3.1", &me_failed(vec![])), (Failed, Failed));
}

#[test]
fn utf8_6_4_1_fail_fast_after_the_bad_fragment_is_ok_ok() {
    assert_eq!(v("6.4.1", &peer_closed(vec![Event::Timeout("A")], Some(1007))), (Pass, Pass));
}

#[test]
fn utf8_6_4_3_fail_at_the_end_of_the_message_is_non_strict_ok() {
    let got = vec![Event::Timeout("A"), Event::Timeout("B")];
    assert_eq!(v("6.4.3", &peer_closed(got, Some(1007))), (NonStrict, Pass));
}

#[test]
fn utf8_6_4_2_lax_client_never_closes_is_failed_failed() {
    let got = vec![Event::Timeout("A"), Event::Timeout("B")];
    assert_eq!(v("6.4.2", &me_failed(got)), (Failed, Failed));
}

#[test]
fn utf8_6_22_1_noncharacter_is_valid_and_echoed_is_ok_ok_without_reply_ok_unclean() {
    let p = [0xef, 0xbf, 0xbe];
    assert_eq!(v("6.22.1", &me_clean(vec![text(&p)], None)), (Pass, Pass));
    assert_eq!(v("6.22.1", &me_no_reply(vec![text(&p)])), (Pass, Unclean));
}

// ---- 7 Close handling ----

#[test]
fn close_7_1_1_echo_then_clean_close_is_ok_ok() {
    assert_eq!(v("7.1.1", &me_clean(vec![text(b"Hello World!")], Some(1000))), (Pass, Pass));
}

#[test]
fn close_7_1_3_pong_after_close_is_failed_ok() {
    assert_eq!(v("7.1.3", &me_clean(vec![Event::pong(b"")], Some(1000))), (Failed, Pass));
}

#[test]
fn close_7_1_5_client_answers_1002_is_failed_wrong_code() {
    let j = judge(case("7.1.5"), &me_clean(vec![], Some(1002)));
    assert_eq!((j.behavior, j.behavior_close), (Failed, WrongCode));
    assert_eq!(j.result, j.result_close, "7.x takes the close result as its result");
}

#[test]
fn close_7_3_1_no_close_reply_is_ok_unclean() {
    assert_eq!(v("7.3.1", &me_no_reply(vec![])), (Pass, Unclean));
}

#[test]
fn close_7_7_5_echoed_code_1007_is_ok_ok() {
    assert_eq!(v("7.7.5", &me_clean(vec![], Some(1007))), (Pass, Pass));
}

#[test]
fn close_7_9_1_lax_client_accepts_code_0_and_answers_1000_is_failed_wrong_code() {
    assert_eq!(v("7.9.1", &me_clean(vec![], Some(1000))), (Failed, WrongCode));
}

#[test]
fn close_7_9_1_client_drops_tcp_is_ok_ok() {
    assert_eq!(v("7.9.1", &me_no_reply(vec![])), (Pass, Pass));
}

#[test]
fn close_7_1_6_and_7_13_are_informational_informational_whatever_happens() {
    assert_eq!(v("7.1.6", &me_no_reply(vec![])), (Informational, Informational));
    assert_eq!(v("7.13.1", &me_clean(vec![], Some(1002))), (Informational, Informational));
    assert_eq!(v("7.13.2", &peer_dropped(vec![])), (Informational, Informational));
}

// ---- 9 Limits ----

#[test]
fn limits_9_1_1_right_echo_is_ok_ok() {
    let mut o = me_clean(vec![], Some(1000));
    o.flow = Some((Status::Ok, "echo".into()));
    assert_eq!(v("9.1.1", &o), (Pass, Pass));
}

#[test]
fn limits_9_2_6_no_echo_in_time_is_failed_ok() {
    let o = me_clean(vec![], None);
    let j = judge(case("9.2.6"), &o);
    assert_eq!((j.behavior, j.behavior_close), (Failed, Pass));
    assert_eq!(j.result, "Did not receive message within 100 seconds.");
}

#[test]
fn limits_9_7_6_all_echoes_but_no_close_reply_is_ok_unclean() {
    let mut o = me_no_reply(vec![]);
    o.flow = Some((Status::Ok, "1000 echoes".into()));
    assert_eq!(v("9.7.6", &o), (Pass, Unclean));
}

// ---- 10 Misc ----

#[test]
fn misc_10_1_1_echo_with_the_right_frame_counts_is_ok_ok_and_wrong_counts_failed_ok() {
    let mut o = me_clean(vec![text(&[b'*'; 65536])], Some(1000));
    o.tx_data_frames = [50, 1, 0];
    assert_eq!(v("10.1.1", &o), (Pass, Pass));
    o.tx_data_frames = [0, 1, 0];
    assert_eq!(v("10.1.1", &o), (Failed, Pass));
}

// ---- 12/13 Compression ----

#[test]
fn deflate_12_1_1_without_the_extension_is_unimplemented_ok() {
    assert_eq!(v("12.1.1", &me_clean(vec![], Some(1000))), (Unimplemented, Pass));
}

#[test]
fn deflate_13_7_18_without_the_extension_and_no_close_reply_is_unimplemented_unclean() {
    assert_eq!(v("13.7.18", &me_no_reply(vec![])), (Unimplemented, Unclean));
}
