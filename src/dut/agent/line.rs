//! Framing of the agent protocol (docs/agent-protocol.md §1): the marker, sequence
//! numbers, the CRC-32 of the body, the maximum length, and the classification of every
//! received line as a log line, a protocol line or a garbled one.

/// The marker of a protocol line of this major version.
pub const MARKER: &[u8] = b"@W1 ";
/// What every protocol line of any version starts with.
pub const MARKER_ANY: &[u8] = b"@W";
/// The protocol's major version.
pub const PROTOCOL_VERSION: u32 = 1;
/// The default (and smallest) maximum line length, in bytes without the `\n`.
pub const DEFAULT_MAX_LINE: usize = 4096;
/// The largest maximum line length a hello may announce.
pub const MAX_MAX_LINE: usize = 1 << 20;
/// How much of a garbled line is kept for the report.
pub const GARBLED_EXCERPT: usize = 200;

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3, zlib's `crc32`) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// One protocol line for `body` (a JSON object without newlines), with its `\n`.
pub fn encode_line(seq: u32, body: &str) -> String {
    format!("@W1 {seq} {:08x} {body}\n", crc32(body.as_bytes()))
}

/// The length of the line [`encode_line`] makes, without the `\n`.
pub fn encoded_len(seq: u32, body: &str) -> usize {
    MARKER.len() + seq.to_string().len() + 1 + 8 + 1 + body.len()
}

/// Why a line that starts with the marker is garbled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Garble {
    /// Longer than the maximum.
    #[error("longer than {max} bytes ({len} bytes)")]
    TooLong {
        /// The limit.
        max: usize,
        /// The line's length.
        len: usize,
    },
    /// The marker of another major version.
    #[error("a line of agent protocol {0:?}, this wsim speaks {PROTOCOL_VERSION}")]
    OtherVersion(String),
    /// The header (`seq crc `) does not parse.
    #[error("bad header: {0}")]
    Header(&'static str),
    /// The checksum does not match the body.
    #[error("checksum mismatch (line says {said:08x}, body has {actual:08x})")]
    Checksum {
        /// In the line.
        said: u32,
        /// Of the body.
        actual: u32,
    },
    /// The body is not a message of the protocol.
    #[error("bad body: {0}")]
    Body(String),
}

/// A received line, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// Not a protocol line: DUT log output.
    Log(&'a [u8]),
    /// A protocol line whose framing and checksum hold; the body is still to decode.
    Frame {
        /// The sender's sequence number.
        seq: u32,
        /// The JSON body.
        body: &'a str,
    },
    /// Starts with the marker but fails a check.
    Garbled(Garble),
}

/// Classifies one line (without its `\n`; a trailing `\r` is dropped here).
pub fn classify(line: &[u8], max_line: usize) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.starts_with(MARKER_ANY) {
        return Line::Log(line);
    }
    if line.len() > max_line {
        return Line::Garbled(Garble::TooLong { max: max_line, len: line.len() });
    }
    let Some(rest) = line.strip_prefix(MARKER) else {
        // `@W` with another number and a space is another major version; anything
        // else is a damaged marker.
        let space = line.iter().position(|b| *b == b' ');
        let version = &line[2..space.unwrap_or(line.len())];
        if space.is_some()
            && version != b"1"
            && !version.is_empty()
            && version.len() <= 10
            && version.iter().all(u8::is_ascii_digit)
        {
            let v = String::from_utf8_lossy(version).into_owned();
            return Line::Garbled(Garble::OtherVersion(v));
        }
        return Line::Garbled(Garble::Header("not the marker @W1"));
    };
    let mut parts = rest.splitn(3, |b| *b == b' ');
    let (Some(seq), Some(crc), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return Line::Garbled(Garble::Header("fewer than three fields"));
    };
    let Some(seq) = parse_seq(seq) else {
        return Line::Garbled(Garble::Header("the sequence number is not 0 to 4294967295"));
    };
    if crc.len() != 8 || !crc.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
        return Line::Garbled(Garble::Header("the checksum is not 8 lower-case hex digits"));
    }
    let said = std::str::from_utf8(crc).ok().and_then(|s| u32::from_str_radix(s, 16).ok());
    let Some(said) = said else {
        return Line::Garbled(Garble::Header("the checksum is not 8 lower-case hex digits"));
    };
    let actual = crc32(body);
    if said != actual {
        return Line::Garbled(Garble::Checksum { said, actual });
    }
    match std::str::from_utf8(body) {
        Ok(body) => Line::Frame { seq, body },
        Err(_) => Line::Garbled(Garble::Body("not UTF-8".into())),
    }
}

fn parse_seq(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if s.len() > 1 && s[0] == b'0' {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// A piece of the byte stream, split at `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLine {
    /// A whole line (without its `\n`).
    Line(Vec<u8>),
    /// A line longer than the maximum: its first bytes and its full length.
    TooLong {
        /// The first `max` bytes.
        start: Vec<u8>,
        /// The whole length.
        len: usize,
    },
}

/// Splits a byte stream into lines, never holding more than `max` bytes of one line.
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    buf: Vec<u8>,
    /// Bytes of the current line beyond `max` (discarded).
    dropped: usize,
}

impl LineSplitter {
    /// A splitter for lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineSplitter { max, buf: Vec::new(), dropped: 0 }
    }

    /// Changes the maximum (after a hello).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Feeds bytes; returns the lines they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<RawLine> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.take(&bytes[..i]);
                    out.push(self.finish());
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.take(bytes);
                    bytes = &[];
                }
            }
        }
        out
    }

    /// The unfinished line at the end of the stream, if any (a truncated line).
    pub fn flush(&mut self) -> Option<RawLine> {
        (!self.buf.is_empty() || self.dropped > 0).then(|| self.finish())
    }

    fn take(&mut self, bytes: &[u8]) {
        // One spare byte so a line of exactly `max` bytes plus its `\r` still fits.
        let room = (self.max + 1).saturating_sub(self.buf.len());
        let n = room.min(bytes.len());
        self.buf.extend_from_slice(&bytes[..n]);
        self.dropped += bytes.len() - n;
    }

    fn finish(&mut self) -> RawLine {
        let buf = std::mem::take(&mut self.buf);
        let dropped = std::mem::replace(&mut self.dropped, 0);
        let trimmed = buf.strip_suffix(b"\r").map_or(buf.len(), <[u8]>::len);
        if dropped > 0 || trimmed > self.max {
            let len = buf.len() + dropped;
            let mut start = buf;
            start.truncate(self.max);
            RawLine::TooLong { start, len }
        } else {
            RawLine::Line(buf)
        }
    }
}

/// A short, printable excerpt of a line for reports.
pub fn excerpt(line: &[u8]) -> String {
    let cut = &line[..line.len().min(GARBLED_EXCERPT)];
    let s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > GARBLED_EXCERPT { format!("{s}…") } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn an_encoded_line_classifies_back() {
        let body = r#"{"t":"req","id":1,"op":"hello"}"#;
        let line = encode_line(7, body);
        assert!(line.ends_with('\n'));
        let raw = line.trim_end_matches('\n').as_bytes();
        assert_eq!(raw.len(), encoded_len(7, body));
        assert_eq!(classify(raw, DEFAULT_MAX_LINE), Line::Frame { seq: 7, body });
        let crlf = format!("{}\r", line.trim_end_matches('\n'));
        assert_eq!(classify(crlf.as_bytes(), DEFAULT_MAX_LINE), Line::Frame { seq: 7, body });
    }

    #[test]
    fn log_lines_and_garbled_lines() {
        assert_eq!(
            classify(b"I (123) wifi: connected", 4096),
            Line::Log(b"I (123) wifi: connected")
        );
        assert_eq!(classify(b"", 4096), Line::Log(b""));
        let good = encode_line(1, "{}");
        let good = good.trim_end().as_bytes();
        // A flipped body byte.
        let mut bad = good.to_vec();
        *bad.last_mut().unwrap() = b']';
        assert!(matches!(classify(&bad, 4096), Line::Garbled(Garble::Checksum { .. })));
        // Truncated.
        assert!(matches!(classify(&good[..good.len() - 1], 4096), Line::Garbled(_)));
        assert!(matches!(classify(b"@W1 ", 4096), Line::Garbled(Garble::Header(_))));
        assert!(matches!(classify(b"@W1 01 00000000 {}", 4096), Line::Garbled(Garble::Header(_))));
        assert!(matches!(
            classify(b"@W1 4294967296 00000000 {}", 4096),
            Line::Garbled(Garble::Header(_))
        ));
        assert!(matches!(classify(b"@W1 1 ABCDEF01 {}", 4096), Line::Garbled(Garble::Header(_))));
        assert_eq!(
            classify(b"@W2 0 00000000 {}", 4096),
            Line::Garbled(Garble::OtherVersion("2".into()))
        );
        // A damaged marker is garbled, not another version.
        for damaged in [&b"@W1x 0 00000000 {}"[..], b"@W", b"@Wx 1", b"@W1"] {
            assert!(
                matches!(classify(damaged, 4096), Line::Garbled(Garble::Header(_))),
                "{damaged:?}"
            );
        }
        let long = encode_line(1, &format!("{{\"x\":\"{}\"}}", "a".repeat(5000)));
        assert!(matches!(
            classify(long.trim_end().as_bytes(), 4096),
            Line::Garbled(Garble::TooLong { .. })
        ));
    }

    #[test]
    fn the_splitter_bounds_lines_and_keeps_the_rest() {
        let mut s = LineSplitter::new(8);
        assert_eq!(s.push(b"abc"), vec![]);
        assert_eq!(
            s.push(b"de\n12345678\r\n123456789\nxy"),
            vec![
                RawLine::Line(b"abcde".to_vec()),
                RawLine::Line(b"12345678\r".to_vec()),
                RawLine::TooLong { start: b"12345678".to_vec(), len: 9 },
            ]
        );
        assert_eq!(s.flush(), Some(RawLine::Line(b"xy".to_vec())));
        assert_eq!(s.flush(), None);
        let mut big = LineSplitter::new(4);
        let r = big.push(&[b'z'; 10_000]);
        assert!(r.is_empty());
        assert_eq!(
            big.push(b"\n"),
            vec![RawLine::TooLong { start: b"zzzz".to_vec(), len: 10_000 }]
        );
    }

    /// A small deterministic generator (xorshift) for property-style tests.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_and_mutated_lines_never_panic_and_never_pass_a_bad_checksum() {
        let mut st = 0x9E37_79B9_7F4A_7C15u64;
        let good = encode_line(42, r#"{"t":"resp","id":3,"ret":5}"#);
        for _ in 0..20_000 {
            let r = xorshift(&mut st);
            let mut line: Vec<u8> = if r.is_multiple_of(3) {
                (0..(r % 300)).map(|_| xorshift(&mut st) as u8).collect()
            } else {
                good.trim_end().as_bytes().to_vec()
            };
            if !r.is_multiple_of(3) {
                // Mutate: flip a byte, cut, or insert.
                let at = (xorshift(&mut st) as usize) % line.len();
                match r % 3 {
                    1 => line[at] ^= 1 << (xorshift(&mut st) % 8),
                    _ => line.truncate(at),
                }
            }
            if r.is_multiple_of(5) {
                line.splice(0..0, b"@W1 ".iter().copied());
            }
            match classify(&line, 64) {
                Line::Frame { body, .. } => {
                    // Whatever passes must really carry a matching checksum.
                    let s = String::from_utf8_lossy(&line);
                    let crc = s.split(' ').nth(2).unwrap();
                    assert_eq!(u32::from_str_radix(crc, 16).unwrap(), crc32(body.as_bytes()));
                }
                Line::Log(_) | Line::Garbled(_) => {}
            }
            let mut sp = LineSplitter::new(64);
            let _ = sp.push(&line);
            let _ = sp.flush();
        }
    }
}
