//! The `esp_transport` contract over a byte stream: connect with a timeout, reads with
//! the four outcomes of the device (bytes, timeout, closed by FIN, failed), writes,
//! readiness polls and the connection-closed poll.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::timeout;

use super::codes;
use super::error_record::ErrorRecord;
use super::stream::{BoxStream, Connector};
use super::tls::TlsOptions;

/// `ERR_TCP_TRANSPORT_CONNECTION_TIMEOUT`: a read that got nothing in time.
pub const READ_TIMEOUT: i32 = 0;
/// `ERR_TCP_TRANSPORT_CONNECTION_CLOSED_BY_FIN`.
pub const READ_CLOSED_BY_FIN: i32 = -1;
/// `ERR_TCP_TRANSPORT_CONNECTION_FAILED`.
pub const READ_FAILED: i32 = -2;

/// Plain TCP (`ws`) or TLS (`wss`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// The TCP transport.
    Plain,
    /// The SSL transport with its options.
    Tls(Box<TlsOptions>),
}

/// One esp transport (TCP or SSL): creates connections and keeps the error record that
/// survives across them.
pub struct EspTransport {
    connector: Arc<dyn Connector>,
    security: Security,
    errors: ErrorRecord,
}

impl std::fmt::Debug for EspTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspTransport").field("security", &self.security).finish_non_exhaustive()
    }
}

fn ms(timeout_ms: i32) -> Duration {
    Duration::from_millis(timeout_ms.max(0) as u64)
}

impl EspTransport {
    /// A transport that opens its streams through `connector`.
    pub fn new(connector: Arc<dyn Connector>, security: Security) -> Self {
        EspTransport { connector, security, errors: ErrorRecord::default() }
    }

    /// `esp_transport_get_default_port()`: 80 for TCP, 443 for SSL.
    pub fn default_port(&self) -> u16 {
        match self.security {
            Security::Plain => 80,
            Security::Tls(_) => 443,
        }
    }

    /// The transport's error handle.
    pub fn errors(&self) -> &ErrorRecord {
        &self.errors
    }

    /// `esp_transport_connect()`: TCP connect (and the TLS handshake) within `timeout_ms`.
    /// On failure the error record is filled and `None` is returned (the C `-1`).
    ///
    /// The global `errno` it leaves is `EINPROGRESS` once a name resolved: lwIP's
    /// non-blocking `connect()` always sets it, and the outcome is then read with
    /// `select()` and `getsockopt(SO_ERROR)`, which set no `errno` (esp-tls captures the
    /// `SO_ERROR` value, or `ETIMEDOUT` on a timeout, into the error handle only).
    pub async fn connect(&self, host: &str, port: u16, timeout_ms: i32) -> Option<Connection> {
        let tcp = match timeout(ms(timeout_ms), self.connector.connect(host, port)).await {
            Err(_) => {
                self.errors.set_errno(codes::EINPROGRESS);
                self.errors.capture_tls(codes::ESP_ERR_ESP_TLS_CONNECTION_TIMEOUT, 0, 0);
                self.errors.capture_errno(codes::ETIMEDOUT);
                return None;
            }
            Ok(Err(failure)) => {
                if failure.esp_err() != codes::ESP_ERR_ESP_TLS_CANNOT_RESOLVE_HOSTNAME {
                    self.errors.set_errno(codes::EINPROGRESS);
                }
                self.errors.capture_tls(failure.esp_err(), 0, 0);
                self.errors.capture_errno(failure.errno());
                return None;
            }
            Ok(Ok(stream)) => stream,
        };
        self.errors.set_errno(codes::EINPROGRESS);
        let stream = match &self.security {
            Security::Plain => tcp,
            Security::Tls(opts) => self.tls_handshake(opts, host, tcp, timeout_ms).await?,
        };
        let (rd, wr) = tokio::io::split(stream);
        Some(Connection {
            reader: EspReader {
                rd,
                pending: Vec::new(),
                pos: 0,
                eof: false,
                failed: None,
                errors: self.errors.clone(),
            },
            writer: EspWriter { wr: Some(wr), errors: self.errors.clone() },
        })
    }

    async fn tls_handshake(
        &self,
        opts: &TlsOptions,
        host: &str,
        tcp: BoxStream,
        timeout_ms: i32,
    ) -> Option<BoxStream> {
        let prepared = match opts.prepare(host) {
            Ok(p) => p,
            Err(e) => {
                self.errors.capture_tls(e.esp_err, 0, 0);
                return None;
            }
        };
        let connector = tokio_rustls::TlsConnector::from(prepared.config);
        match timeout(ms(timeout_ms), connector.connect(prepared.server_name, tcp)).await {
            Ok(Ok(tls)) => Some(Box::new(tls)),
            Ok(Err(e)) => {
                // The verifier's flags choose the mbedTLS code, but esp-tls reads the
                // verify result only when a peer certificate is available, which it is
                // not after a failed first handshake: `esp_tls_flags` stays 0 (spec §8).
                let flags = *prepared.verify_flags.lock().unwrap_or_else(|p| p.into_inner());
                let code = tls_failure_code(&e, flags);
                self.errors.capture_tls(codes::ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED, code, 0);
                None
            }
            Err(_) => {
                self.errors.capture_tls(
                    codes::ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED,
                    codes::MBEDTLS_SSL_TIMEOUT,
                    0,
                );
                None
            }
        }
    }
}

/// The mbedTLS error code (positive, as esp-tls stores it) for a failed handshake.
fn tls_failure_code(err: &std::io::Error, verify_flags: i32) -> i32 {
    if verify_flags != 0 {
        return codes::MBEDTLS_X509_CERT_VERIFY_FAILED;
    }
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::AlertReceived(_)) => codes::MBEDTLS_SSL_FATAL_ALERT_MESSAGE,
        Some(rustls::Error::InvalidCertificate(_)) => codes::MBEDTLS_X509_CERT_VERIFY_FAILED,
        Some(_) => codes::MBEDTLS_SSL_BAD_INPUT_DATA,
        // Not a TLS error: the peer went away during the handshake.
        None => codes::MBEDTLS_SSL_CONN_EOF,
    }
}

/// An open connection, split so that the client task can poll for input while another
/// task writes, as two FreeRTOS tasks share one socket on the device.
#[derive(Debug)]
pub struct Connection {
    /// The receive side.
    pub reader: EspReader,
    /// The send side.
    pub writer: EspWriter,
}

/// The receive side of a connection.
pub struct EspReader {
    rd: ReadHalf<BoxStream>,
    /// Bytes pulled from the stream by a poll and not yet read (and handshake leftovers).
    pending: Vec<u8>,
    pos: usize,
    /// The peer's FIN has been seen.
    eof: bool,
    /// A socket error a poll met (a reset): `select()` reports the socket readable, and
    /// the `recv()` that follows fails with it.
    failed: Option<i32>,
    errors: ErrorRecord,
}

impl std::fmt::Debug for EspReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspReader")
            .field("buffered", &(self.pending.len() - self.pos))
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

enum Fill {
    Data,
    Eof,
    Failed(i32),
    TimedOut,
}

impl EspReader {
    /// Bytes already received and not yet read.
    pub fn buffered(&self) -> usize {
        self.pending.len() - self.pos
    }

    /// Waits up to `wait` for one byte of input (`None`: only if it is already there).
    /// A poll needs no more: the read that follows takes the rest straight into the
    /// caller's buffer, and an idle connection holds no read memory.
    async fn fill(&mut self, wait: Option<Duration>) -> Fill {
        let mut first = [0u8; 1];
        let res = match wait {
            Some(d) => match timeout(d, self.rd.read(&mut first)).await {
                Ok(r) => r,
                Err(_) => return Fill::TimedOut,
            },
            None => match self.rd.read(&mut first).now_or_never() {
                Some(r) => r,
                None => return Fill::TimedOut,
            },
        };
        match res {
            Ok(0) => {
                self.eof = true;
                Fill::Eof
            }
            Ok(_) => {
                self.pending.drain(..self.pos);
                self.pos = 0;
                self.pending.push(first[0]);
                Fill::Data
            }
            Err(e) => Fill::Failed(codes::errno_of(&e)),
        }
    }

    /// Reads what has already arrived straight into `buf`, without waiting.
    fn read_ready(&mut self, buf: &mut [u8]) -> usize {
        match self.rd.read(buf).now_or_never() {
            Some(Ok(0)) => {
                self.eof = true;
                0
            }
            Some(Ok(n)) => n,
            // An error surfaces again on the next read; what we have is delivered first.
            Some(Err(_)) | None => 0,
        }
    }

    fn take_buffered(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.buffered());
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.pending.len() {
            // Release the memory so idle connections hold no read buffer.
            self.pending = Vec::new();
            self.pos = 0;
        }
        n
    }

    /// `esp_transport_read()`: up to `buf.len()` bytes, as one `recv()` returns them.
    /// Returns the count, [`READ_TIMEOUT`], [`READ_CLOSED_BY_FIN`] or [`READ_FAILED`].
    pub async fn read(&mut self, buf: &mut [u8], timeout_ms: i32) -> i32 {
        if buf.is_empty() {
            return 0;
        }
        if self.buffered() > 0 {
            let mut n = self.take_buffered(buf);
            // A recv() returns everything that has arrived, not just what a poll saw.
            if n < buf.len() && !self.eof {
                n += self.read_ready(&mut buf[n..]);
            }
            return n as i32;
        }
        if let Some(errno) = self.failed.take() {
            self.errors.fail_with_errno(errno);
            return READ_FAILED;
        }
        if self.eof {
            return self.closed_by_fin();
        }
        match timeout(ms(timeout_ms), self.rd.read(buf)).await {
            Err(_) => READ_TIMEOUT,
            Ok(Ok(0)) => {
                self.eof = true;
                self.closed_by_fin()
            }
            Ok(Ok(n)) => n as i32,
            Ok(Err(e)) => {
                self.errors.fail_with_errno(codes::errno_of(&e));
                READ_FAILED
            }
        }
    }

    /// A 0-byte read: the transport records `ESP_ERR_ESP_TLS_TCP_CLOSED_FIN` but captures
    /// no errno (`recv()` returning 0 sets none), so `esp_transport_sock_errno` stays 0.
    fn closed_by_fin(&self) -> i32 {
        self.errors.capture_tls(codes::ESP_ERR_ESP_TLS_TCP_CLOSED_FIN, 0, 0);
        READ_CLOSED_BY_FIN
    }

    /// `esp_transport_poll_read()`: 1 when data, the peer's FIN or a socket error is
    /// there to read, 0 on timeout. A reset makes the socket readable on both lwIP and
    /// Linux (lwIP flags it readable and in error, so `select()` counts 2 and the C poll
    /// does not take its error path): the read that follows fails with the errno.
    pub async fn poll_read(&mut self, timeout_ms: i32) -> i32 {
        if self.buffered() > 0 || self.eof || self.failed.is_some() {
            return 1;
        }
        match self.fill(Some(ms(timeout_ms))).await {
            Fill::Data | Fill::Eof => 1,
            Fill::TimedOut => 0,
            Fill::Failed(errno) => {
                self.failed = Some(errno);
                1
            }
        }
    }

    /// `esp_transport_poll_connection_closed()` (spec §5.5): 1 when the peer closed the
    /// connection (FIN or reset), -1 when data arrived instead, 0 on timeout.
    pub async fn poll_connection_closed(&mut self, timeout_ms: i32) -> i32 {
        if self.buffered() > 0 {
            return -1;
        }
        if self.eof {
            return 1;
        }
        if let Some(errno) = self.failed {
            return if matches!(errno, codes::ECONNRESET | codes::ENOTCONN | codes::ECONNABORTED) {
                1
            } else {
                -1
            };
        }
        match self.fill(Some(ms(timeout_ms))).await {
            Fill::Eof => 1,
            Fill::Data => -1,
            Fill::TimedOut => 0,
            Fill::Failed(errno)
                if errno == codes::ECONNRESET
                    || errno == codes::ENOTCONN
                    || errno == codes::ECONNABORTED =>
            {
                1
            }
            Fill::Failed(_) => -1,
        }
    }
}

/// The send side of a connection.
pub struct EspWriter {
    wr: Option<WriteHalf<BoxStream>>,
    errors: ErrorRecord,
}

impl std::fmt::Debug for EspWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspWriter").field("open", &self.wr.is_some()).finish_non_exhaustive()
    }
}

impl EspWriter {
    /// `esp_transport_poll_write()`: 1 when writable, -1 once the connection is closed.
    /// Stream back-pressure shows up as a write timeout instead.
    pub fn poll_write(&self) -> i32 {
        if self.wr.is_some() { 1 } else { -1 }
    }

    /// `esp_transport_write()`: writes all of `buf` within `timeout_ms` (`None` waits
    /// forever). Returns the count, 0 on timeout, or -1 on error.
    pub async fn write(&mut self, buf: &[u8], timeout_ms: Option<u64>) -> i32 {
        let Some(wr) = self.wr.as_mut() else {
            self.errors.fail_with_errno(codes::ENOTCONN);
            return -1;
        };
        let op = async {
            wr.write_all(buf).await?;
            wr.flush().await
        };
        let res = match timeout_ms {
            Some(t) => match timeout(Duration::from_millis(t), op).await {
                Ok(r) => r,
                Err(_) => return 0,
            },
            None => op.await,
        };
        match res {
            Ok(()) => buf.len() as i32,
            Err(e) => {
                self.errors.fail_with_errno(codes::errno_of(&e));
                -1
            }
        }
    }

    /// `esp_transport_close()`: sends FIN (and TLS close_notify) and releases the socket.
    pub async fn close(&mut self) {
        if let Some(mut wr) = self.wr.take() {
            // Bounded: a peer that stopped reading must not keep the close waiting.
            let _ = timeout(Duration::from_millis(100), wr.shutdown()).await;
        }
    }
}
