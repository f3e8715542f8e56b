//! The transport's error handle: what `esp_transport_get_error_handle()` and
//! `esp_transport_get_errno()` expose after a failure.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The esp-tls error record plus the socket `errno`, as one transport keeps them.
///
/// Values stay until they are read with [`ErrorRecord::get_and_clear`]; a later success
/// does not reset them, exactly as on the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TransportErrors {
    /// `esp_tls_last_error_t::last_error` (an `esp_err_t`).
    pub last_error: i32,
    /// `esp_tls_error_code`: the mbedTLS error code, stored positive.
    pub esp_tls_error_code: i32,
    /// `esp_tls_flags`: mbedTLS certificate-verify flags.
    pub esp_tls_flags: i32,
    /// The socket `errno` captured at the failure.
    pub sock_errno: i32,
}

/// What one transport records: the error handle's values, and the C global `errno`
/// as the transport's calls leave it.
#[derive(Debug, Clone, Copy, Default)]
struct Recorded {
    errors: TransportErrors,
    errno: i32,
}

/// A shared, cloneable handle on one transport's [`TransportErrors`] and on the
/// `errno` its socket calls leave behind.
///
/// The reader, the writer and the connect path of one transport all record into it.
#[derive(Debug, Clone, Default)]
pub struct ErrorRecord(Arc<Mutex<Recorded>>);

impl ErrorRecord {
    /// A snapshot of the current values, without clearing them.
    pub fn peek(&self) -> TransportErrors {
        self.lock().errors
    }

    /// Records an esp-tls failure (`last_error`, and the mbedTLS code and flags if non-zero).
    pub fn capture_tls(&self, last_error: i32, tls_code: i32, flags: i32) {
        let e = &mut self.lock().errors;
        e.last_error = last_error;
        if tls_code != 0 {
            e.esp_tls_error_code = tls_code;
        }
        if flags != 0 {
            e.esp_tls_flags = flags;
        }
    }

    /// Records the socket `errno` in the error handle (what `esp_transport_get_errno()`
    /// returns). The global `errno` is not touched: the C code captures values read
    /// with `getsockopt(SO_ERROR)` or chosen by itself (a connect timeout) this way.
    pub fn capture_errno(&self, errno: i32) {
        self.lock().errors.sock_errno = errno;
    }

    /// A socket call failed and set the global `errno`, and the transport captured it:
    /// both values become `errno`.
    pub fn fail_with_errno(&self, errno: i32) {
        let mut r = self.lock();
        r.errors.sock_errno = errno;
        r.errno = errno;
    }

    /// A call set the global `errno` without a capture (a non-blocking `connect()`
    /// leaves `EINPROGRESS`).
    pub fn set_errno(&self, errno: i32) {
        self.lock().errno = errno;
    }

    /// The global `errno` as the transport's calls left it: what the client's ERROR
    /// texts print (`errno=%d`), which is not the captured socket errno.
    pub fn errno(&self) -> i32 {
        self.lock().errno
    }

    /// `esp_tls_get_and_clear_last_error()` plus `esp_transport_get_errno()`: returns the
    /// values and resets them to zero. The global `errno` stays.
    pub fn get_and_clear(&self) -> TransportErrors {
        std::mem::take(&mut self.lock().errors)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // The record holds plain integers; a panic elsewhere cannot leave it inconsistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
