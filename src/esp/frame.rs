//! RFC 6455 framing as `transport_ws` does it: opcodes, the client's masked frame
//! header, masking.

/// `WS_TRANSPORT_OPCODES_CONT`.
pub const OP_CONT: u8 = 0x0;
/// `WS_TRANSPORT_OPCODES_TEXT`.
pub const OP_TEXT: u8 = 0x1;
/// `WS_TRANSPORT_OPCODES_BINARY`.
pub const OP_BINARY: u8 = 0x2;
/// `WS_TRANSPORT_OPCODES_CLOSE`.
pub const OP_CLOSE: u8 = 0x8;
/// `WS_TRANSPORT_OPCODES_PING`.
pub const OP_PING: u8 = 0x9;
/// `WS_TRANSPORT_OPCODES_PONG`.
pub const OP_PONG: u8 = 0xA;
/// `WS_TRANSPORT_OPCODES_FIN`: the FIN bit, or-ed into an opcode.
pub const FIN: u8 = 0x80;
/// `WS_TRANSPORT_OPCODES_NONE` (0x100): no frame header was read. Truncates to 0 in
/// the event's `uint8_t op_code`.
pub const OP_NONE: u16 = 0x100;

/// Whether an opcode is a control opcode (PING, PONG, CLOSE and the reserved 0xB-0xF).
pub fn is_control(opcode: u8) -> bool {
    opcode & 0x08 != 0
}

/// Whether an opcode is one RFC 6455 reserves (0x3-0x7, 0xB-0xF).
pub fn is_reserved(opcode: u8) -> bool {
    matches!(opcode, 0x3..=0x7 | 0xB..=0xF)
}

/// A client frame header: `b0` (FIN, RSV, opcode), the mask bit, the length in the
/// shortest form, and the 4-byte mask. At most 14 bytes.
pub fn client_header(b0: u8, len: usize, mask: [u8; 4]) -> Vec<u8> {
    let mut h = Vec::with_capacity(14);
    h.push(b0);
    if len <= 125 {
        h.push(0x80 | len as u8);
    } else if len < 65536 {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&(len as u64).to_be_bytes());
    }
    h.extend_from_slice(&mask);
    h
}

/// XORs `data` with `mask`, the mask index starting at 0 (for client frames and, as the
/// device does, for every read chunk of a masked server frame).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_length_forms() {
        let m = [1, 2, 3, 4];
        assert_eq!(client_header(0x81, 5, m), vec![0x81, 0x85, 1, 2, 3, 4]);
        assert_eq!(client_header(0x01, 1024, m), vec![0x01, 0xFE, 0x04, 0x00, 1, 2, 3, 4]);
        let long = client_header(0x82, 70_000, m);
        assert_eq!(&long[..2], &[0x82, 0xFF]);
        assert_eq!(&long[2..10], &70_000u64.to_be_bytes());
        assert_eq!(long.len(), 14);
    }

    #[test]
    fn masking_is_an_involution() {
        let mut d = b"hello world".to_vec();
        apply_mask(&mut d, [9, 8, 7, 6]);
        assert_ne!(d, b"hello world");
        apply_mask(&mut d, [9, 8, 7, 6]);
        assert_eq!(d, b"hello world");
    }

    #[test]
    fn opcode_classes() {
        assert!(is_control(OP_PING) && is_control(0xB) && !is_control(OP_TEXT));
        assert!(is_reserved(0x3) && is_reserved(0xF) && !is_reserved(OP_PONG));
    }
}
