//! Small text conversions several layers share: hex as scenario files, fault specs and
//! command-line flags write bytes, a seed mixed from a text, and the message of a panic.

/// Bytes from hex digits, whitespace allowed between them. The error says what is wrong.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{s:?} has an odd number of hex digits"));
    }
    digits
        .chunks(2)
        .map(|p| {
            let pair = String::from_utf8_lossy(p);
            u8::from_str_radix(&pair, 16).map_err(|_| format!("{pair:?} is not a hex byte"))
        })
        .collect()
}

/// FNV-1a of `text`, starting from the offset basis mixed with `seed`: a stable,
/// seedable 64-bit mix (scenario seeds, random-payload streams).
pub fn fnv1a(seed: u64, text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325 ^ seed;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The message a panic carried (`panic!("…")` or a formatted one).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_with_spaces_and_its_errors() {
        assert_eq!(parse_hex("00 ff\n0A").unwrap(), vec![0, 255, 10]);
        assert!(parse_hex("abc").unwrap_err().contains("odd number"));
        assert!(parse_hex("zz").unwrap_err().contains("\"zz\" is not a hex byte"));
        assert!(parse_hex("é1").is_err());
    }

    #[test]
    fn fnv1a_is_the_reference_hash_at_seed_zero() {
        // FNV-1a 64 of "a" (the published test vector).
        assert_eq!(fnv1a(0, "a"), 0xaf63dc4c8601ec8c);
        assert_ne!(fnv1a(1, "a"), fnv1a(0, "a"));
    }

    #[test]
    fn panic_messages_are_recovered_from_the_payload() {
        let literal = std::panic::catch_unwind(|| panic!("a literal")).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "a literal");
        let n = 7;
        let formatted = std::panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(formatted.as_ref()), "formatted 7");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(42u8)).unwrap_err();
        assert_eq!(panic_message(other.as_ref()), "a panic without a message");
    }
}
