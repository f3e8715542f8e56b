//! Byte streams and connectors: the seam between the esp-like socket layer and
//! whatever carries the bytes (real TCP sockets now, the simulated network later).

use std::future::Future;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

use super::codes;

/// A bidirectional byte stream the transport can run over.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// A boxed [`ByteStream`].
pub type BoxStream = Box<dyn ByteStream>;

/// Why a connector could not open a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFailure {
    /// The host name did not resolve.
    #[error("cannot resolve host name {0:?}")]
    Dns(String),
    /// The connection was refused or the host is unreachable (with the `errno`).
    #[error("connect failed (errno {0})")]
    Refused(i32),
}

impl ConnectFailure {
    /// The esp-tls `last_error` the device records for this failure.
    pub fn esp_err(&self) -> i32 {
        match self {
            ConnectFailure::Dns(_) => codes::ESP_ERR_ESP_TLS_CANNOT_RESOLVE_HOSTNAME,
            ConnectFailure::Refused(_) => codes::ESP_ERR_ESP_TLS_FAILED_CONNECT_TO_HOST,
        }
    }

    /// The socket `errno` the device records for this failure.
    pub fn errno(&self) -> i32 {
        match self {
            ConnectFailure::Dns(_) => 0,
            ConnectFailure::Refused(e) => *e,
        }
    }
}

/// The future a [`Connector`] returns.
pub type ConnectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<BoxStream, ConnectFailure>> + Send + 'a>>;

/// Opens byte streams to `host:port`: name resolution plus TCP connect.
///
/// The transport bounds the call with its own timeout, so a connector may wait forever.
pub trait Connector: Send + Sync + 'static {
    /// Opens a stream to `host:port`.
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a>;
}

/// Real TCP sockets through the operating system.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let addrs: Vec<_> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| ConnectFailure::Dns(host.to_string()))?
                .collect();
            let mut failure = ConnectFailure::Dns(host.to_string());
            for addr in addrs {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(stream) => return Ok(Box::new(stream) as BoxStream),
                    Err(e) => failure = ConnectFailure::Refused(codes::errno_of(&e)),
                }
            }
            Err(failure)
        })
    }
}
