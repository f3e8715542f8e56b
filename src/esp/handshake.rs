//! The HTTP upgrade of `transport_ws` (spec §5.1, §5.2): the request, byte for byte,
//! and the response handling of each profile.

use base64::Engine;
use sha1::{Digest, Sha1};

use super::profile::Profile;

/// `CONFIG_WS_BUFFER_SIZE`: the request must fit with its NUL, the response headers in
/// one byte less.
pub const WS_BUFFER_SIZE: usize = 1024;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What the request is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParams<'a> {
    /// The path (with query).
    pub path: &'a str,
    /// The host as configured (no brackets for IPv6).
    pub host: &'a str,
    /// The port, always written.
    pub port: u16,
    /// `User-Agent`.
    pub user_agent: &'a str,
    /// `Sec-WebSocket-Protocol`, when set.
    pub subprotocol: Option<&'a str>,
    /// `Authorization` value, when set.
    pub auth: Option<&'a str>,
    /// Extra header lines, verbatim.
    pub headers: Option<&'a str>,
}

/// The `Sec-WebSocket-Key` for 16 random bytes.
pub fn make_key(nonce: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
pub fn expected_accept(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// The request bytes, or `None` when they do not fit in [`WS_BUFFER_SIZE`] ("Error in
/// request generation").
pub fn build_request(p: &RequestParams<'_>, key: &str) -> Option<String> {
    let mut r = format!(
        "GET {} HTTP/1.1\r\nConnection: Upgrade\r\nHost: {}:{}\r\nUser-Agent: {}\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {}\r\n",
        p.path, p.host, p.port, p.user_agent, key
    );
    if let Some(sp) = p.subprotocol {
        r.push_str(&format!("Sec-WebSocket-Protocol: {sp}\r\n"));
    }
    if let Some(a) = p.auth {
        r.push_str(&format!("Authorization: {a}\r\n"));
    }
    if let Some(h) = p.headers {
        r.push_str(h);
    }
    r.push_str("\r\n");
    (r.len() < WS_BUFFER_SIZE).then_some(r)
}

/// How a complete response header block was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Upgraded: the connection carries WebSocket frames now.
    Upgraded,
    /// A redirect (301/302/303/307/308 with `Location`): connect returns the status.
    Redirect(String),
    /// The upgrade failed (connect returns -1), with the reason the device logs.
    Failed(&'static str),
}

/// The judged response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The parsed status, `None` when the status line did not parse.
    pub status: Option<i32>,
    /// Raw header lines that raise `HEADER_RECEIVED` (IDF 6 only), in order.
    pub header_lines: Vec<Vec<u8>>,
    /// The verdict.
    pub verdict: Verdict,
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The status as `transport_ws` finds it: `HTTP/` anywhere (case-insensitive), the next
/// space, then `atoi` of up to three characters. 0 counts as not found.
fn parse_status(head: &[u8]) -> Option<i32> {
    let at = find_ci(head, b"HTTP/")?;
    let sp = head[at..].iter().position(|&b| b == b' ')? + at + 1;
    let digits: Vec<u8> = head[sp..].iter().take(3).copied().collect();
    let text = String::from_utf8_lossy(&digits);
    let n: String = text.trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
    n.parse::<i32>().ok().filter(|&s| s != 0)
}

/// `get_http_header` of IDF ≤ 5.5: `strcasestr` anywhere, whitespace after the colon
/// skipped, the value up to CR/LF, trimmed.
fn find_header_anywhere(head: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let at = find_ci(head, name)? + name.len();
    let rest = &head[at..];
    let start = rest.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(rest.len());
    let rest = &rest[start..];
    let end = rest.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(rest.len());
    Some(rest[..end].trim_ascii_end().to_vec())
}

fn is_redirect(status: i32) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Judges a response header block `head` (up to and including `\r\n\r\n`) for `key`.
pub fn judge_response(head: &[u8], key: &str, profile: Profile) -> Response {
    let status = parse_status(head);
    let mut out = Response { status, header_lines: Vec::new(), verdict: Verdict::Upgraded };
    let Some(code) = status else {
        out.verdict = Verdict::Failed("HTTP upgrade failed");
        return out;
    };
    let expected = expected_accept(key);
    let (accept, location) = if profile.walks_headers() {
        let mut accept: Option<Vec<u8>> = None;
        let mut location = None;
        let body = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
        // Skip the status line; every other line is a header.
        for line in body.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            if starts_with_ci(line, b"Sec-WebSocket-Accept: ") {
                if accept.is_some() {
                    out.verdict = Verdict::Failed("Multiple Sec-WebSocket-Accept headers");
                    return out;
                }
                accept = Some(line[22..].to_vec());
            } else if starts_with_ci(line, b"Location: ") {
                location = Some(line[10..].to_vec());
                out.header_lines.push(line.to_vec());
            } else {
                out.header_lines.push(line.to_vec());
            }
        }
        (accept, location)
    } else {
        (
            find_header_anywhere(head, b"Sec-WebSocket-Accept:"),
            find_header_anywhere(head, b"Location:"),
        )
    };
    if is_redirect(code)
        && let Some(loc) = location
    {
        out.verdict = Verdict::Redirect(String::from_utf8_lossy(&loc).into_owned());
        return out;
    }
    let Some(value) = accept else {
        out.verdict = Verdict::Failed("Sec-WebSocket-Accept not found");
        return out;
    };
    let ok = if profile.walks_headers() {
        // strncmp(expected, value, value_len): an empty value or any prefix passes.
        value.len() <= expected.len() && expected.as_bytes()[..value.len()] == value[..]
    } else {
        value == expected.as_bytes()
    };
    if !ok {
        out.verdict = Verdict::Failed("Invalid websocket key");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn rfc_accept_value() {
        assert_eq!(expected_accept(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn request_is_byte_exact() {
        let p = RequestParams {
            path: "/echo?id=7",
            host: "localhost",
            port: 80,
            user_agent: "ESP32 Websocket Client",
            subprotocol: Some("chat"),
            auth: Some("Basic dTpw"),
            headers: Some("X-A: 1\r\n"),
        };
        assert_eq!(
            build_request(&p, KEY).unwrap(),
            "GET /echo?id=7 HTTP/1.1\r\nConnection: Upgrade\r\nHost: localhost:80\r\nUser-Agent: ESP32 Websocket Client\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat\r\nAuthorization: Basic dTpw\r\nX-A: 1\r\n\r\n"
        );
    }

    #[test]
    fn oversized_request_is_refused() {
        let big = format!("X-Big: {}\r\n", "a".repeat(1000));
        let p = RequestParams {
            path: "/",
            host: "h",
            port: 80,
            user_agent: "u",
            subprotocol: None,
            auth: None,
            headers: Some(&big),
        };
        assert_eq!(build_request(&p, KEY), None);
    }

    fn resp(extra: &str, status: &str) -> Vec<u8> {
        format!("HTTP/1.1 {status}\r\nUpgrade: websocket\r\n{extra}\r\n").into_bytes()
    }

    #[test]
    fn status_is_not_required_to_be_101() {
        let head = resp("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "200 OK");
        for p in Profile::ALL {
            let r = judge_response(&head, KEY, p);
            assert_eq!(r.status, Some(200));
            assert_eq!(r.verdict, Verdict::Upgraded);
        }
    }

    #[test]
    fn idf6_accepts_prefix_and_empty_accept() {
        for v in ["", "s3pP"] {
            let head = resp(&format!("Sec-WebSocket-Accept: {v}\r\n"), "101 Switching Protocols");
            assert_eq!(judge_response(&head, KEY, Profile::Idf6).verdict, Verdict::Upgraded);
            assert_eq!(
                judge_response(&head, KEY, Profile::Idf55).verdict,
                Verdict::Failed("Invalid websocket key")
            );
        }
    }

    #[test]
    fn idf6_needs_exactly_one_space() {
        let head = resp("Sec-WebSocket-Accept:s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "101 X");
        assert_eq!(
            judge_response(&head, KEY, Profile::Idf6).verdict,
            Verdict::Failed("Sec-WebSocket-Accept not found")
        );
        assert_eq!(judge_response(&head, KEY, Profile::Idf55).verdict, Verdict::Upgraded);
    }

    #[test]
    fn idf6_reports_headers_except_accept() {
        let head =
            resp("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nX-Y: z\r\n", "101 X");
        let r = judge_response(&head, KEY, Profile::Idf6);
        assert_eq!(r.header_lines, vec![b"Upgrade: websocket".to_vec(), b"X-Y: z".to_vec()]);
        assert!(judge_response(&head, KEY, Profile::Idf55).header_lines.is_empty());
    }

    #[test]
    fn multiple_accept_headers_fail_on_idf6() {
        let a = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let head = resp(&format!("{a}{a}"), "101 X");
        assert_eq!(
            judge_response(&head, KEY, Profile::Idf6).verdict,
            Verdict::Failed("Multiple Sec-WebSocket-Accept headers")
        );
    }

    #[test]
    fn redirect_and_errors() {
        let head = resp("Location: ws://other:81/x\r\n", "302 Found");
        assert_eq!(
            judge_response(&head, KEY, Profile::Idf6).verdict,
            Verdict::Redirect("ws://other:81/x".into())
        );
        let head = resp("", "404 Not Found");
        let r = judge_response(&head, KEY, Profile::Idf6);
        assert_eq!(
            (r.status, r.verdict),
            (Some(404), Verdict::Failed("Sec-WebSocket-Accept not found"))
        );
        let r = judge_response(b"garbage\r\n\r\n", KEY, Profile::Idf6);
        assert_eq!((r.status, r.verdict), (None, Verdict::Failed("HTTP upgrade failed")));
    }
}
