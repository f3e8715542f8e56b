//! An incremental UTF-8 validator: text arrives in pieces (frames, chops) and the
//! fuzzer fails the connection at the first octet that cannot start or continue a
//! valid sequence (fail fast), not only at the end of the message.

/// Validates UTF-8 fed in pieces, in constant memory.
#[derive(Debug, Clone, Default)]
pub struct Utf8Stream {
    /// Continuation bytes still expected.
    need: u8,
    /// The allowed range of the next continuation byte (tightened after E0, ED, F0, F4).
    lo: u8,
    hi: u8,
    /// Octets accepted so far.
    at: u64,
}

impl Utf8Stream {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Utf8Stream::default()
    }

    /// Feeds a piece; `Err(index)` gives the payload octet index of the first invalid
    /// octet.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), u64> {
        for &b in bytes {
            if self.need == 0 {
                match b {
                    0x00..=0x7F => {}
                    0xC2..=0xDF => self.expect(1, 0x80, 0xBF),
                    0xE0 => self.expect(2, 0xA0, 0xBF),
                    0xE1..=0xEC | 0xEE..=0xEF => self.expect(2, 0x80, 0xBF),
                    0xED => self.expect(2, 0x80, 0x9F),
                    0xF0 => self.expect(3, 0x90, 0xBF),
                    0xF1..=0xF3 => self.expect(3, 0x80, 0xBF),
                    0xF4 => self.expect(3, 0x80, 0x8F),
                    _ => return Err(self.at),
                }
            } else {
                if b < self.lo || b > self.hi {
                    return Err(self.at);
                }
                self.need -= 1;
                (self.lo, self.hi) = (0x80, 0xBF);
            }
            self.at += 1;
        }
        Ok(())
    }

    fn expect(&mut self, n: u8, lo: u8, hi: u8) {
        (self.need, self.lo, self.hi) = (n, lo, hi);
    }

    /// Whether the text so far ends on a character boundary (a complete message).
    pub fn is_complete(&self) -> bool {
        self.need == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(b: &[u8]) -> bool {
        let mut s = Utf8Stream::new();
        s.feed(b).is_ok() && s.is_complete()
    }

    #[test]
    fn agrees_with_the_standard_library_on_every_short_sequence() {
        for a in 0..=255u8 {
            for b in [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xf4] {
                for c in [0x80u8, 0xbf, 0x41] {
                    for d in [0x80u8, 0xbf] {
                        let v = [a, b, c, d];
                        for n in 1..=4 {
                            assert_eq!(
                                check(&v[..n]),
                                std::str::from_utf8(&v[..n]).is_ok(),
                                "{:02x?}",
                                &v[..n]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fails_fast_at_the_first_bad_octet_across_pieces() {
        let mut s = Utf8Stream::new();
        assert_eq!(
            s.feed(&[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5]),
            Ok(())
        );
        assert_eq!(s.feed(&[0xf4]), Ok(()));
        assert!(!s.is_complete());
        assert_eq!(s.feed(&[0x90]), Err(12));
    }
}
