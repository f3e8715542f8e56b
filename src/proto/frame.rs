//! Frame headers (RFC 6455 §5.2), parsed permissively and encoded with any claimed
//! length, and an incremental decoder that hands out payload in the pieces that arrive.

use super::mask::apply_mask;

/// The longest header: 2 bytes, a 64-bit length, a mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame's opcode; reserved values are kept, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0.
    Continuation,
    /// 0x1.
    Text,
    /// 0x2.
    Binary,
    /// 0x8.
    Close,
    /// 0x9.
    Ping,
    /// 0xA.
    Pong,
    /// Any other value of the four bits (0x3–0x7, 0xB–0xF).
    Reserved(u8),
}

impl Opcode {
    /// The opcode in the low four bits of `v` (the high bits are ignored).
    pub fn from_u8(v: u8) -> Opcode {
        match v & 0x0F {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            r => Opcode::Reserved(r),
        }
    }

    /// The four-bit value.
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
            Opcode::Reserved(r) => r & 0x0F,
        }
    }

    /// Whether it is a control opcode (0x8–0xF).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x08 != 0
    }
}

impl From<u8> for Opcode {
    fn from(v: u8) -> Opcode {
        Opcode::from_u8(v)
    }
}

impl From<Opcode> for u8 {
    fn from(o: Opcode) -> u8 {
        o.as_u8()
    }
}

/// Which length field an encoded header uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthForm {
    /// The shortest that holds the length (what RFC 6455 requires).
    #[default]
    Shortest,
    /// The 7-bit field (lengths up to 125 only).
    Bits7,
    /// 126 and a 16-bit field (lengths up to 65535 only).
    Bits16,
    /// 127 and a 64-bit field (any length, even one RFC 6455 calls invalid).
    Bits64,
}

/// One frame header, as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN bit.
    pub fin: bool,
    /// The three RSV bits as a number 0–7 (RSV1 is 4).
    pub rsv: u8,
    /// Opcode.
    pub opcode: Opcode,
    /// The mask key when the mask bit is set.
    pub mask: Option<[u8; 4]>,
    /// The payload length the header claims (whatever follows it).
    pub len: u64,
}

impl FrameHeader {
    /// A final, unmasked frame header without RSV bits.
    pub fn new(opcode: Opcode, len: u64) -> FrameHeader {
        FrameHeader { fin: true, rsv: 0, opcode, mask: None, len }
    }

    /// An unmasked header from a first byte (FIN, RSV, opcode) and a length.
    pub fn from_b0(b0: u8, len: u64) -> FrameHeader {
        FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: Opcode::from_u8(b0),
            mask: None,
            len,
        }
    }

    /// The first byte: FIN, RSV, opcode.
    pub fn b0(&self) -> u8 {
        (u8::from(self.fin) << 7) | ((self.rsv & 7) << 4) | self.opcode.as_u8()
    }

    /// The header at the front of `buf` and its size, or `None` while `buf` holds less
    /// than a whole header. Every byte sequence of the right size is a header.
    pub fn parse(buf: &[u8]) -> Option<(FrameHeader, usize)> {
        let (&b0, &b1) = (buf.first()?, buf.get(1)?);
        let (len, at) = match b1 & 0x7F {
            126 => (u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)), 4),
            127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
            n => (u64::from(n), 2),
        };
        let (mask, size) = if b1 & 0x80 != 0 {
            (Some(buf.get(at..at + 4)?.try_into().ok()?), at + 4)
        } else {
            (None, at)
        };
        let mut h = FrameHeader::from_b0(b0, len);
        h.mask = mask;
        Some((h, size))
    }

    /// The header in the shortest length form.
    pub fn encode(&self) -> RawHeader {
        self.encode_as(LengthForm::Shortest).unwrap_or_default()
    }

    /// The header with the length in `form`; `None` when the length does not fit it.
    pub fn encode_as(&self, form: LengthForm) -> Option<RawHeader> {
        let form = match form {
            LengthForm::Shortest if self.len <= 125 => LengthForm::Bits7,
            LengthForm::Shortest if self.len <= 0xFFFF => LengthForm::Bits16,
            LengthForm::Shortest => LengthForm::Bits64,
            f => f,
        };
        let mut r = RawHeader::default();
        let masked = if self.mask.is_some() { 0x80 } else { 0 };
        r.push(&[self.b0()]);
        match form {
            LengthForm::Bits7 if self.len <= 125 => r.push(&[masked | self.len as u8]),
            LengthForm::Bits16 if self.len <= 0xFFFF => {
                r.push(&[masked | 126]);
                r.push(&(self.len as u16).to_be_bytes());
            }
            LengthForm::Bits64 => {
                r.push(&[masked | 127]);
                r.push(&self.len.to_be_bytes());
            }
            _ => return None,
        }
        if let Some(m) = self.mask {
            r.push(&m);
        }
        Some(r)
    }
}

/// An encoded header: at most [`MAX_HEADER_LEN`] bytes, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl RawHeader {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    fn push(&mut self, b: &[u8]) {
        let at = self.len as usize;
        let end = (at + b.len()).min(MAX_HEADER_LEN);
        self.bytes[at..end].copy_from_slice(&b[..end - at]);
        self.len = end as u8;
    }
}

impl std::ops::Deref for RawHeader {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// A whole frame: `header` (whose `len` may claim a length other than the payload's),
/// then `payload`, masked with the header's key when it has one.
pub fn encode_frame(header: &FrameHeader, payload: &[u8]) -> Vec<u8> {
    let raw = header.encode();
    let mut out = Vec::with_capacity(raw.len() + payload.len());
    out.extend_from_slice(&raw);
    out.extend_from_slice(payload);
    if let Some(m) = header.mask {
        apply_mask(m, 0, &mut out[raw.len()..]);
    }
    out
}

/// What a [`FrameDecoder`] found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A frame begins: its header, and the header's bytes exactly as they came.
    Header {
        /// The parsed header.
        header: FrameHeader,
        /// Its bytes on the wire.
        raw: RawHeader,
    },
    /// A piece of the current frame's payload, as it came (still masked when the frame
    /// is; unmask with [`super::apply_mask`] at `offset`).
    Payload {
        /// The bytes.
        bytes: &'a [u8],
        /// Where they start in the payload.
        offset: u64,
    },
    /// The current frame's payload is complete.
    End,
}

/// Splits a byte stream into frames as bytes arrive. It holds at most one header's
/// bytes; payload is handed out in the pieces the caller feeds, so a claimed length
/// (up to 2^64−1) costs nothing until bytes really come.
#[derive(Debug, Clone, Default)]
pub struct FrameDecoder {
    head: RawHeader,
    frame: Option<(FrameHeader, u64)>,
}

impl FrameDecoder {
    /// A decoder at the start of a frame.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// The header of the frame whose payload is being read, if any.
    pub fn current(&self) -> Option<&FrameHeader> {
        self.frame.as_ref().map(|(h, _)| h)
    }

    /// Takes what it can from the front of `input`: the bytes it used, and what they
    /// made (`None`: everything was used and more is needed). Call again with the rest
    /// until it returns `None`.
    pub fn next<'a>(&mut self, input: &'a [u8]) -> (usize, Option<Decoded<'a>>) {
        if let Some((h, done)) = &mut self.frame {
            let left = h.len - *done;
            if left == 0 {
                self.frame = None;
                return (0, Some(Decoded::End));
            }
            if input.is_empty() {
                return (0, None);
            }
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
            let offset = *done;
            *done += n as u64;
            return (n, Some(Decoded::Payload { bytes: &input[..n], offset }));
        }
        let mut used = 0;
        loop {
            if let Some((header, size)) = FrameHeader::parse(&self.head) {
                debug_assert_eq!(size, self.head.len());
                let raw = std::mem::take(&mut self.head);
                self.frame = Some((header, 0));
                return (used, Some(Decoded::Header { header, raw }));
            }
            let Some(&b) = input.get(used) else { return (used, None) };
            // One byte at a time keeps the header exact; headers are at most 14 bytes.
            self.head.push(&[b]);
            used += 1;
        }
    }

    /// Feeds all of `input`, calling `f` with everything it makes, in order.
    pub fn feed<'a>(&mut self, mut input: &'a [u8], mut f: impl FnMut(Decoded<'a>)) {
        loop {
            let (n, got) = self.next(input);
            input = &input[n..];
            match got {
                Some(d) => f(d),
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (the tests need no seed from outside).
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// Decodes `input` fed in pieces; returns each frame's header, its unmasked payload
    /// and whether it was complete.
    fn decode(input: &[u8], cuts: &[usize]) -> Vec<(FrameHeader, Vec<u8>, bool)> {
        let mut d = FrameDecoder::new();
        let mut out: Vec<(FrameHeader, Vec<u8>, bool)> = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let c = c.clamp(at, input.len());
            d.feed(&input[at..c], |ev| match ev {
                Decoded::Header { header, raw } => {
                    assert_eq!(FrameHeader::parse(&raw).map(|p| p.0), Some(header));
                    out.push((header, Vec::new(), false));
                }
                Decoded::Payload { bytes, offset } => {
                    let (h, p, _) = out.last_mut().expect("payload after a header");
                    assert_eq!(offset, p.len() as u64);
                    let mut b = bytes.to_vec();
                    if let Some(m) = h.mask {
                        apply_mask(m, offset, &mut b);
                    }
                    p.extend_from_slice(&b);
                }
                Decoded::End => out.last_mut().expect("end after a header").2 = true,
            });
            at = c;
        }
        out
    }

    #[test]
    fn opcodes_round_trip_and_keep_reserved_values() {
        for v in 0..16u8 {
            assert_eq!(Opcode::from_u8(v).as_u8(), v);
        }
        assert_eq!(Opcode::from_u8(0x83), Opcode::Reserved(3));
        assert_eq!(Opcode::from(0x9), Opcode::Ping);
        assert!(Opcode::Reserved(0xB).is_control() && !Opcode::Reserved(3).is_control());
    }

    #[test]
    fn lengths_use_the_shortest_form_unless_told() {
        let h = |len| FrameHeader::from_b0(0x82, len);
        assert_eq!(h(125).encode().as_bytes(), &[0x82, 125]);
        assert_eq!(h(300).encode().as_bytes(), &[0x82, 126, 1, 44]);
        assert_eq!(h(70000).encode().as_bytes()[..2], [0x82, 127]);
        assert_eq!(h(5).encode_as(LengthForm::Bits64).unwrap().len(), 10);
        assert_eq!(h(5).encode_as(LengthForm::Bits16).unwrap().as_bytes(), &[0x82, 126, 0, 5]);
        assert_eq!(h(126).encode_as(LengthForm::Bits7), None);
        assert_eq!(h(65536).encode_as(LengthForm::Bits16), None);
        let max = h(u64::MAX).encode();
        assert_eq!(FrameHeader::parse(&max), Some((h(u64::MAX), 10)));
    }

    #[test]
    fn a_claimed_length_other_than_the_payload_is_written_as_claimed() {
        let f = encode_frame(&FrameHeader::from_b0(0x81, 10), b"abc");
        assert_eq!(f, vec![0x81, 10, b'a', b'b', b'c']);
    }

    #[test]
    fn masked_frames_are_masked_and_decode_back() {
        let mut h = FrameHeader::new(Opcode::Text, 5);
        h.mask = Some([1, 2, 3, 4]);
        let f = encode_frame(&h, b"hello");
        assert_eq!(&f[..6], &[0x81, 0x85, 1, 2, 3, 4]);
        assert_eq!(f[6], b'h' ^ 1);
        assert_eq!(decode(&f, &[1, 3, 7]), vec![(h, b"hello".to_vec(), true)]);
    }

    #[test]
    fn a_claimed_length_of_two_to_the_64_costs_nothing() {
        let mut f = FrameHeader::from_b0(0x82, u64::MAX).encode().to_vec();
        f.extend_from_slice(&[7; 100]);
        let got = decode(&f, &[3]);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0.len, got[0].1.len(), got[0].2), (u64::MAX, 100, false));
        let mut d = FrameDecoder::new();
        d.feed(&f, |_| {});
        assert_eq!(d.current().map(|h| h.len), Some(u64::MAX));
    }

    #[test]
    fn empty_frames_end_at_once() {
        let f = [encode_frame(&FrameHeader::new(Opcode::Close, 0), b""), vec![0x89]].concat();
        let got = decode(&f, &[]);
        assert_eq!(got.len(), 1);
        assert!(got[0].2);
    }

    /// Property: random frames, encoded and cut anywhere, decode to themselves.
    #[test]
    fn random_frames_round_trip_through_any_cuts() {
        let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let mut frames = Vec::new();
            let mut wire = Vec::new();
            for _ in 0..rng.below(4) + 1 {
                let size = match rng.below(4) {
                    0 => rng.below(126),
                    1 => 126 + rng.below(400),
                    2 => rng.below(3),
                    _ => 65_530 + rng.below(20),
                } as usize;
                let payload: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
                let mut h = FrameHeader::from_b0(rng.next() as u8, size as u64);
                if rng.below(2) == 0 {
                    h.mask = Some((rng.next() as u32).to_be_bytes());
                }
                let form = [LengthForm::Shortest, LengthForm::Bits64][rng.below(2) as usize];
                let raw = h.encode_as(form).unwrap();
                wire.extend_from_slice(&raw);
                let start = wire.len();
                wire.extend_from_slice(&payload);
                if let Some(m) = h.mask {
                    apply_mask(m, 0, &mut wire[start..]);
                }
                frames.push((h, payload, true));
            }
            let mut cuts: Vec<usize> =
                (0..rng.below(6)).map(|_| rng.below(wire.len() as u64 + 1) as usize).collect();
            cuts.sort_unstable();
            assert_eq!(decode(&wire, &cuts), frames);
        }
    }

    /// Property: random and mutated bytes never panic, and the decoder accounts for every
    /// byte (header bytes plus payload bytes equal the input).
    #[test]
    fn random_and_mutated_bytes_never_panic() {
        let mut rng = Xorshift(0xD1B5_4A32_D192_ED03);
        let seed = encode_frame(&FrameHeader::new(Opcode::Binary, 70_000), &[0u8; 70_000]);
        for i in 0..5000 {
            let mut input: Vec<u8> = if i % 2 == 0 {
                (0..rng.below(64)).map(|_| rng.next() as u8).collect()
            } else {
                let mut s = seed[..rng.below(seed.len() as u64) as usize].to_vec();
                for _ in 0..rng.below(4) + 1 {
                    if !s.is_empty() {
                        let at = rng.below(s.len() as u64) as usize;
                        s[at] = rng.next() as u8;
                    }
                }
                s
            };
            if i % 7 == 0 {
                input.splice(0..0, [0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
            }
            let mut d = FrameDecoder::new();
            let mut counted = 0usize;
            let mut at = 0;
            while at < input.len() {
                let end = (at + 1 + rng.below(20) as usize).min(input.len());
                d.feed(&input[at..end], |ev| match ev {
                    Decoded::Header { raw, .. } => counted += raw.len(),
                    Decoded::Payload { bytes, .. } => counted += bytes.len(),
                    Decoded::End => {}
                });
                at = end;
            }
            let pending = d.head.len();
            assert_eq!(counted + pending, input.len());
            let _ = FrameHeader::parse(&input);
        }
    }
}
