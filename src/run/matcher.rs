//! Matching an observed event against an expectation.

use sha2::{Digest, Sha256};

use crate::esp::OwnedEvent;
use crate::scenario::EventExpectation;
use crate::transport::codes::ErrnoNumbering;

/// The differences between `e` and `x` (empty when it matches); `seed` is the
/// scenario's, for generated payloads. `digest` is the SHA-256 of a payload the DUT
/// sent as a digest only (its bytes are then not in `e`). Scenarios state `errno`
/// values as a device numbers them (newlib's); `errno` says how this DUT numbers them,
/// and expected values are rewritten into its numbering before they are compared.
pub fn mismatches(
    x: &EventExpectation,
    e: &OwnedEvent,
    digest: Option<&str>,
    seed: u64,
    errno: ErrnoNumbering,
) -> Vec<String> {
    let want_text = x.text.as_deref().map(|t| errno.rewrite_text(t));
    if let Some(d) = digest {
        return digest_mismatches(x, want_text.as_deref(), e, d, seed, errno);
    }
    let mut out = Vec::new();
    let mut check = |field: &str, want: Option<String>, got: String| {
        if let Some(w) = want
            && w != got
        {
            out.push(format!("{field}: expected {w}, got {got}"));
        }
    };
    check("event", Some(x.event.name().to_string()), e.event.name().to_string());
    check("op_code", x.op_code.map(|v| v.to_string()), e.op_code.to_string());
    check("fin", x.fin.map(|v| v.to_string()), e.fin.to_string());
    check("data_len", x.data_len.map(|v| v.to_string()), e.data_len.to_string());
    check("payload_len", x.payload_len.map(|v| v.to_string()), e.payload_len.to_string());
    check("payload_offset", x.payload_offset.map(|v| v.to_string()), e.payload_offset.to_string());
    check(
        "close_status_code",
        x.close_status_code.map(|v| v.to_string()),
        e.close_status_code.to_string(),
    );
    let h = &e.error_handle;
    check("error_type", x.error_type.map(|v| format!("{v:?}")), format!("{:?}", h.error_type));
    check("esp_tls_last_esp_err", x.esp_tls_last_esp_err.map(hex), hex(h.esp_tls_last_esp_err));
    check("esp_tls_stack_err", x.esp_tls_stack_err.map(hex), hex(h.esp_tls_stack_err));
    check(
        "esp_tls_cert_verify_flags",
        x.esp_tls_cert_verify_flags.map(|v| v.to_string()),
        h.esp_tls_cert_verify_flags.to_string(),
    );
    check(
        "esp_ws_handshake_status_code",
        x.esp_ws_handshake_status_code.map(|v| v.to_string()),
        h.esp_ws_handshake_status_code.to_string(),
    );
    check(
        "esp_transport_sock_errno",
        x.esp_transport_sock_errno.map(|v| errno.from_newlib(v).0.to_string()),
        h.esp_transport_sock_errno.to_string(),
    );
    let text = String::from_utf8_lossy(&e.data).into_owned();
    check("text", want_text.map(|t| format!("{t:?}")), format!("{text:?}"));
    if let Some(sub) = x.text_contains.as_deref().map(|t| errno.rewrite_text(t))
        && !text.contains(&*sub)
    {
        out.push(format!("text: expected to contain {sub:?}, got {text:?}"));
    }
    if let Some(p) = &x.data {
        let want = p.produce(seed);
        if want != e.data {
            out.push(format!(
                "data: expected {} bytes (sha256 {}), got {} bytes (sha256 {})",
                want.len(),
                sha256_hex(&want),
                e.data.len(),
                sha256_hex(&e.data)
            ));
        }
    }
    if let Some(d) = &x.sha256 {
        let got = sha256_hex(&e.data);
        if !got.eq_ignore_ascii_case(d) {
            out.push(format!("sha256: expected {d}, got {got}"));
        }
    }
    out
}

/// As [`mismatches`], for an event whose payload came as `digest` only; `want_text` is
/// the expected text in the DUT's errno numbering.
fn digest_mismatches(
    x: &EventExpectation,
    want_text: Option<&str>,
    e: &OwnedEvent,
    digest: &str,
    seed: u64,
    errno: ErrnoNumbering,
) -> Vec<String> {
    let stripped =
        EventExpectation { text: None, text_contains: None, data: None, sha256: None, ..x.clone() };
    let mut out = mismatches(&stripped, e, None, seed, errno);
    let mut compare = |what: &str, want: &[u8]| {
        let w = sha256_hex(want);
        if w != digest {
            out.push(format!(
                "{what}: expected {} bytes (sha256 {w}), got {} bytes (sha256 {digest}, sent as a digest)",
                want.len(),
                e.data_len
            ));
        }
    };
    if let Some(t) = want_text {
        compare("text", t.as_bytes());
    }
    if let Some(p) = &x.data {
        compare("data", &p.produce(seed));
    }
    if let Some(d) = &x.sha256
        && !d.eq_ignore_ascii_case(digest)
    {
        out.push(format!("sha256: expected {d}, got {digest}"));
    }
    if x.text_contains.is_some() {
        out.push(format!(
            "text_contains: the DUT sent {} bytes as a digest only (over its inline limit), so the text cannot be searched",
            e.data_len
        ));
    }
    out
}

fn hex(v: i32) -> String {
    format!("{v:#x}")
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{ErrorHandle, EventId};

    fn expectation(text: &str, sock_errno: i32) -> EventExpectation {
        EventExpectation {
            event: EventId::Error,
            op_code: None,
            fin: None,
            data_len: None,
            payload_len: None,
            payload_offset: None,
            close_status_code: None,
            error_type: None,
            esp_tls_last_esp_err: None,
            esp_tls_stack_err: None,
            esp_tls_cert_verify_flags: None,
            esp_ws_handshake_status_code: None,
            esp_transport_sock_errno: Some(sock_errno),
            text: Some(text.into()),
            text_contains: Some("errno=".into()),
            data: None,
            sha256: None,
            within_ms: 1000,
            after_ms: None,
            shown: String::new(),
        }
    }

    fn error_event(text: &str, sock_errno: i32) -> OwnedEvent {
        OwnedEvent {
            event: EventId::Error,
            op_code: 0,
            fin: false,
            data_len: text.len(),
            payload_len: 0,
            payload_offset: 0,
            error_handle: ErrorHandle {
                esp_transport_sock_errno: sock_errno,
                ..Default::default()
            },
            close_status_code: 0,
            data: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_linux_dut_is_held_to_glibcs_errno_numbers_and_a_device_to_newlibs() {
        let x = expectation("connect failed, errno=119", 116);
        let linux = error_event("connect failed, errno=115", 110);
        let device = error_event("connect failed, errno=119", 116);
        assert!(mismatches(&x, &linux, None, 0, ErrnoNumbering::Linux).is_empty());
        assert!(mismatches(&x, &device, None, 0, ErrnoNumbering::Newlib).is_empty());
        let bad = mismatches(&x, &device, None, 0, ErrnoNumbering::Linux);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].contains("expected 110, got 116"), "{bad:?}");
        assert!(bad[1].contains(r#"expected "connect failed, errno=115""#), "{bad:?}");
        assert_eq!(mismatches(&x, &linux, None, 0, ErrnoNumbering::Newlib).len(), 2);
    }
}
