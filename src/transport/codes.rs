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
