//! Masking (RFC 6455 §5.3): the XOR with a 4-byte key, in one place.

/// XORs `buf` with `key`, where `buf` starts at byte `offset` of the payload, so a
/// payload can be (un)masked in pieces as it arrives. Masking twice restores the bytes.
pub fn apply_mask(key: [u8; 4], offset: u64, buf: &mut [u8]) {
    let phase = (offset % 4) as usize;
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(phase + i) & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..=255u8).collect();
        let mut whole = data.clone();
        apply_mask(key, 0, &mut whole);
        assert_eq!(&whole[..5], &[0x12, 0x35, 0x54, 0x7B, 0x16]);
        let mut pieces = data.clone();
        let (a, b) = pieces.split_at_mut(7);
        apply_mask(key, 0, a);
        apply_mask(key, 7, b);
        assert_eq!(pieces, whole);
        apply_mask(key, 0, &mut whole);
        assert_eq!(whole, data, "masking twice restores the payload");
    }
}
