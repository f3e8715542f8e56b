//! Numeric codes the real stack reports: `esp_err_t` values, esp-tls error codes,
//! mbedTLS error and certificate-verify flags, and newlib `errno` values.
//!
//! The values are the ESP-IDF ones, so event data carries the numbers firmware sees.

/// `ESP_OK`.
pub const ESP_OK: i32 = 0;
/// `ESP_FAIL`.
pub const ESP_FAIL: i32 = -1;
/// `ESP_ERR_NO_MEM`.
pub const ESP_ERR_NO_MEM: i32 = 0x101;
/// `ESP_ERR_INVALID_ARG`.
pub const ESP_ERR_INVALID_ARG: i32 = 0x102;
/// `ESP_ERR_INVALID_STATE`.
pub const ESP_ERR_INVALID_STATE: i32 = 0x103;

const ESP_TLS_BASE: i32 = 0x8000;
/// DNS lookup failed.
pub const ESP_ERR_ESP_TLS_CANNOT_RESOLVE_HOSTNAME: i32 = ESP_TLS_BASE + 0x01;
/// TCP connect refused or unreachable.
pub const ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST: i32 = ESP_TLS_BASE + 0x04;
/// TCP connect did not complete within the timeout.
pub const ESP_ERR_ESP_TLS_CONNECTION_TIMEOUT: i32 = ESP_TLS_BASE + 0x06;
/// The peer closed the connection (FIN) while reading.
pub const ESP_ERR_ESP_TLS_TCP_CLOSED_FIN: i32 = ESP_TLS_BASE + 0x08;
/// A certificate or key given in the configuration could not be parsed.
pub const ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED: i32 = ESP_TLS_BASE + 0x15;
/// The TLS setup failed (e.g. "No server verification option set").
pub const ESP_ERR_MBEDTLS_SSL_SETUP_FAILED: i32 = ESP_TLS_BASE + 0x17;
/// The client private key could not be parsed.
pub const ESP_ERR_MBEDTLS_PK_PARSE_KEY_FAILED: i32 = ESP_TLS_BASE + 0x19;
/// The TLS handshake failed (certificate verification among other causes).
pub const ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED: i32 = ESP_TLS_BASE + 0x1A;

/// `-MBEDTLS_ERR_X509_CERT_VERIFY_FAILED`, as esp-tls stores it (negated, so positive).
pub const MBEDTLS_X509_CERT_VERIFY_FAILED: i32 = 0x2700;
/// `-MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE`: the peer sent a fatal alert.
pub const MBEDTLS_SSL_FATAL_ALERT_MESSAGE: i32 = 0x7780;
/// `-MBEDTLS_ERR_SSL_CONN_EOF`: the peer closed the connection during the handshake.
pub const MBEDTLS_SSL_CONN_EOF: i32 = 0x7280;
/// `-MBEDTLS_ERR_SSL_TIMEOUT`: the handshake timed out.
pub const MBEDTLS_SSL_TIMEOUT: i32 = 0x6800;
/// `-MBEDTLS_ERR_SSL_BAD_INPUT_DATA`: anything else the handshake rejected.
pub const MBEDTLS_SSL_BAD_INPUT_DATA: i32 = 0x7100;

/// `MBEDTLS_X509_BADCERT_EXPIRED`.
pub const BADCERT_EXPIRED: i32 = 0x01;
/// `MBEDTLS_X509_BADCERT_CN_MISMATCH`.
pub const BADCERT_CN_MISMATCH: i32 = 0x04;
/// `MBEDTLS_X509_BADCERT_NOT_TRUSTED`.
pub const BADCERT_NOT_TRUSTED: i32 = 0x08;
/// `MBEDTLS_X509_BADCERT_FUTURE`.
pub const BADCERT_FUTURE: i32 = 0x200;
/// `MBEDTLS_X509_BADCERT_OTHER`.
pub const BADCERT_OTHER: i32 = 0x0100;

/// newlib `ECONNRESET`.
pub const ECONNRESET: i32 = 104;
/// newlib `ECONNREFUSED`.
pub const ECONNREFUSED: i32 = 111;
/// newlib `ECONNABORTED`.
pub const ECONNABORTED: i32 = 113;
/// newlib `ETIMEDOUT`.
pub const ETIMEDOUT: i32 = 116;
/// newlib `EHOSTUNREACH`.
pub const EHOSTUNREACH: i32 = 118;
/// newlib `EINPROGRESS`: what lwIP's non-blocking `connect()` leaves in `errno`.
pub const EINPROGRESS: i32 = 119;
/// newlib `ENOTCONN`: what the transport records when a read meets the peer's FIN.
pub const ENOTCONN: i32 = 128;
/// newlib `EIO`.
pub const EIO: i32 = 5;

/// `esp_err_to_name()` for the codes the model can produce.
pub fn esp_err_to_name(code: i32) -> &'static str {
    match code {
        ESP_OK => "ESP_OK",
        ESP_FAIL => "ESP_FAIL",
        ESP_ERR_NO_MEM => "ESP_ERR_NO_MEM",
        ESP_ERR_INVALID_ARG => "ESP_ERR_INVALID_ARG",
        ESP_ERR_INVALID_STATE => "ESP_ERR_INVALID_STATE",
        ESP_ERR_ESP_TLS_CANNOT_RESOLVE_HOSTNAME => "ESP_ERR_ESP_TLS_CANNOT_RESOLVE_HOSTNAME",
        ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST => "ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST",
        ESP_ERR_ESP_TLS_CONNECTION_TIMEOUT => "ESP_ERR_ESP_TLS_CONNECTION_TIMEOUT",
        ESP_ERR_ESP_TLS_TCP_CLOSED_FIN => "ESP_ERR_ESP_TLS_TCP_CLOSED_FIN",
        ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED => "ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED",
        ESP_ERR_MBEDTLS_SSL_SETUP_FAILED => "ESP_ERR_MBEDTLS_SSL_SETUP_FAILED",
        ESP_ERR_MBEDTLS_PK_PARSE_KEY_FAILED => "ESP_ERR_MBEDTLS_PK_PARSE_KEY_FAILED",
        ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED => "ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED",
        _ => "UNKNOWN ERROR",
    }
}

/// Maps an I/O error to the newlib `errno` the ESP's lwIP socket would report.
pub fn errno_of(err: &std::io::Error) -> i32 {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionRefused => ECONNREFUSED,
        ErrorKind::ConnectionReset => ECONNRESET,
        ErrorKind::ConnectionAborted => ECONNABORTED,
        ErrorKind::NotConnected | ErrorKind::BrokenPipe => ENOTCONN,
        ErrorKind::TimedOut => ETIMEDOUT,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => EHOSTUNREACH,
        _ => EIO,
    }
}

/// How a DUT numbers `errno` values. Scenarios, the model and a device use newlib's
/// numbers (ESP-IDF's lwIP sets the C library's `errno`); the C client built for
/// ESP-IDF's `linux` target runs on the host's sockets and reports glibc's, which
/// differ for most socket errors (EINPROGRESS is 119 on a device, 115 on Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrnoNumbering {
    /// newlib's numbers: the model and every chip.
    #[default]
    Newlib,
    /// glibc's numbers: the `linux` target.
    Linux,
}

/// newlib's socket `errno` numbers and glibc's for the same names.
const NEWLIB_TO_LINUX: [(&str, i32, i32); 25] = [
    ("ECONNRESET", 104, 104),
    ("ENOBUFS", 105, 105),
    ("EAFNOSUPPORT", 106, 97),
    ("EPROTOTYPE", 107, 91),
    ("ENOTSOCK", 108, 88),
    ("ENOPROTOOPT", 109, 92),
    ("ESHUTDOWN", 110, 108),
    ("ECONNREFUSED", 111, 111),
    ("EADDRINUSE", 112, 98),
    ("ECONNABORTED", 113, 103),
    ("ENETUNREACH", 114, 101),
    ("ENETDOWN", 115, 100),
    ("ETIMEDOUT", 116, 110),
    ("EHOSTDOWN", 117, 112),
    ("EHOSTUNREACH", 118, 113),
    ("EINPROGRESS", 119, 115),
    ("EALREADY", 120, 114),
    ("EDESTADDRREQ", 121, 89),
    ("EMSGSIZE", 122, 90),
    ("EPROTONOSUPPORT", 123, 93),
    ("EADDRNOTAVAIL", 125, 99),
    ("ENETRESET", 126, 102),
    ("EISCONN", 127, 106),
    ("ENOTCONN", 128, 107),
    ("EOPNOTSUPP", 95, 95),
];

impl ErrnoNumbering {
    /// The numbering of a DUT whose hello names `chip`.
    pub fn of_chip(chip: &str) -> ErrnoNumbering {
        if chip == "linux" { ErrnoNumbering::Linux } else { ErrnoNumbering::Newlib }
    }

    /// This DUT's number for the error newlib numbers `n`, with its name when the two
    /// numberings differ (numbers outside the socket errors are the same in both).
    pub fn from_newlib(self, n: i32) -> (i32, Option<&'static str>) {
        if self == ErrnoNumbering::Newlib {
            return (n, None);
        }
        match NEWLIB_TO_LINUX.iter().find(|(_, newlib, _)| *newlib == n) {
            Some((name, _, linux)) if *linux != n => (*linux, Some(name)),
            _ => (n, None),
        }
    }

    /// `text` with every `errno=N` (N in newlib's numbering, as the model prints it)
    /// rewritten in this DUT's numbering.
    pub fn rewrite_text(self, text: &str) -> std::borrow::Cow<'_, str> {
        if self == ErrnoNumbering::Newlib || !text.contains("errno=") {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find("errno=") {
            let (head, tail) = rest.split_at(i + "errno=".len());
            out.push_str(head);
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            match tail[..digits].parse::<i32>() {
                Ok(n) => out.push_str(&self.from_newlib(n).0.to_string()),
                Err(_) => out.push_str(&tail[..digits]),
            }
            rest = &tail[digits..];
        }
        out.push_str(rest);
        std::borrow::Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linux_dut_numbers_socket_errors_as_glibc_does() {
        let l = ErrnoNumbering::Linux;
        assert_eq!(l.from_newlib(EINPROGRESS), (115, Some("EINPROGRESS")));
        assert_eq!(l.from_newlib(ETIMEDOUT), (110, Some("ETIMEDOUT")));
        assert_eq!(l.from_newlib(ENOTCONN), (107, Some("ENOTCONN")));
        assert_eq!(l.from_newlib(ECONNRESET), (104, None));
        assert_eq!(l.from_newlib(0), (0, None));
        assert_eq!(ErrnoNumbering::Newlib.from_newlib(EINPROGRESS), (119, None));
        assert_eq!(ErrnoNumbering::of_chip("linux"), l);
        assert_eq!(ErrnoNumbering::of_chip("esp32s3"), ErrnoNumbering::Newlib);
    }

    #[test]
    fn texts_are_rewritten_at_every_errno_and_nowhere_else() {
        let l = ErrnoNumbering::Linux;
        assert_eq!(
            l.rewrite_text("failed with -1, tls_flags=0, errno=119"),
            "failed with -1, tls_flags=0, errno=115"
        );
        assert_eq!(l.rewrite_text("errno=116 then errno=104;"), "errno=110 then errno=104;");
        assert_eq!(l.rewrite_text("errno= errno=x code=119"), "errno= errno=x code=119");
        assert_eq!(ErrnoNumbering::Newlib.rewrite_text("errno=119"), "errno=119");
    }
}
