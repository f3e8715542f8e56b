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

/// A shared, cloneable handle on one transport's [`TransportErrors`].
///
/// The reader, the writer and the connect path of one transport all record into it.
#[derive(Debug, Clone, Default)]
pub struct ErrorRecord(Arc<Mutex<TransportErrors>>);

impl ErrorRecord {
    /// A snapshot of the current values, without clearing them.
    pub fn peek(&self) -> TransportErrors {
        *self.lock()
    }

    /// Records an esp-tls failure (`last_error`, and the mbedTLS code and flags if non-zero).
    pub fn capture_tls(&self, last_error: i32, tls_code: i32, flags: i32) {
        let mut e = self.lock();
        e.last_error = last_error;
        if tls_code != 0 {
            e.esp_tls_error_code = tls_code;
        }
        if flags != 0 {
            e.esp_tls_flags = flags;
        }
    }

    /// Records the socket `errno`.
    pub fn capture_errno(&self, errno: i32) {
        self.lock().sock_errno = errno;
    }

    /// `esp_tls_get_and_clear_last_error()` plus `esp_transport_get_errno()`: returns the
    /// values and resets them to zero.
    pub fn get_and_clear(&self) -> TransportErrors {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TransportErrors> {
        // The record holds plain integers; a panic elsewhere cannot leave it inconsistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
