//! The fuzzer's side of the opening handshake: reading the client's upgrade request
//! (bounded in size and time) and answering it.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::proto::{HeaderScan, ScanState, accept_key};

/// The longest request head accepted.
pub const MAX_REQUEST: usize = 16 * 1024;

/// The `Server` header of the fuzzer's responses.
pub const SERVER: &str =
    concat!("wsim/", env!("CARGO_PKG_VERSION"), " (AutobahnTestSuite fuzzingserver compatible)");

/// A client's HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The request head as received.
    pub raw: String,
    /// The path without the query.
    pub path: String,
    /// Query parameters in order (percent-decoded).
    pub query: Vec<(String, String)>,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter.
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether it asks for a WebSocket upgrade with a key.
    pub fn is_upgrade(&self) -> bool {
        self.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
            && self.header("sec-websocket-key").is_some()
    }

    /// The 101 response for it.
    pub fn response_101(&self) -> String {
        let key = self.header("sec-websocket-key").unwrap_or("");
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nServer: {SERVER}\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key.trim())
        )
    }
}

/// Why no request could be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The peer closed or the read failed.
    #[error("the connection ended before the request was complete")]
    Closed,
    /// More than [`MAX_REQUEST`] bytes without an end.
    #[error("the request head is longer than {MAX_REQUEST} bytes")]
    TooLong,
    /// Not an HTTP request line.
    #[error("malformed request line {0:?}")]
    Malformed(String),
}

/// Reads one request head; returns it, the bytes that followed it, and the sizes of
/// the reads (for the octet statistics).
pub async fn read_request<S: AsyncRead + Unpin>(
    s: &mut S,
) -> Result<(Request, Vec<u8>, Vec<usize>), RequestError> {
    let mut scan = HeaderScan::new(MAX_REQUEST);
    let mut buf = Vec::new();
    let mut reads = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.map_err(|_| RequestError::Closed)?;
        if n == 0 {
            return Err(RequestError::Closed);
        }
        reads.push(n);
        buf.extend_from_slice(&chunk[..n]);
        match scan.feed(&chunk[..n]) {
            ScanState::Pending => {}
            ScanState::TooLong => return Err(RequestError::TooLong),
            ScanState::Done(at) => {
                let end = buf.len() - n + at;
                let rest = buf.split_off(end);
                return Ok((parse(&buf)?, rest, reads));
            }
        }
    }
}

/// Parses a request head.
pub fn parse(head: &[u8]) -> Result<Request, RequestError> {
    let raw = String::from_utf8_lossy(head).into_owned();
    let mut lines = raw.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let (Some("GET"), Some(target), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(RequestError::Malformed(first.to_string()));
    };
    if !v.starts_with("HTTP/") {
        return Err(RequestError::Malformed(first.to_string()));
    }
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let query = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let path = path.to_string();
    Ok(Request { raw: raw.clone(), path, query, headers })
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_digit(b[i + 1]), hex_digit(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_decode_bytewise_and_a_broken_one_stays_literal() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(percent_decode("%a\u{e9}x"), "%a\u{e9}x");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "\u{e9}");
    }

    #[tokio::test]
    async fn a_request_is_read_with_its_query_and_what_follows() {
        let raw = b"GET /runCase?case=3&agent=esp%20client HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81";
        let mut s = &raw[..];
        let (r, rest, reads) = read_request(&mut s).await.unwrap();
        assert_eq!(r.path, "/runCase");
        assert_eq!(r.params("case"), ["3"]);
        assert_eq!(r.params("agent"), ["esp client"]);
        assert!(r.is_upgrade());
        assert_eq!(rest, b"\x81");
        assert_eq!(reads, [raw.len()]);
        assert!(
            r.response_101().contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")
        );
        let mut bad = &b"POST / HTTP/1.1\r\n\r\n"[..];
        assert!(matches!(read_request(&mut bad).await, Err(RequestError::Malformed(_))));
    }
}
