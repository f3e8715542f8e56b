//! The byte streams servers run over: anything readable and writable that can also be
//! reset (RST) on demand.

use tokio::io::{AsyncRead, AsyncWrite};

/// A server-side byte stream.
pub trait ServerIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// Arranges for the connection to end with a reset (RST) instead of FIN when dropped.
    fn set_reset_on_drop(&self);
}

impl ServerIo for tokio::net::TcpStream {
    fn set_reset_on_drop(&self) {
        // SO_LINGER 0: close() sends RST. Failing to set it leaves a FIN, which the
        // wire log shows.
        let _ = self.set_zero_linger();
    }
}

impl<S: ServerIo> ServerIo for tokio_rustls::server::TlsStream<S> {
    fn set_reset_on_drop(&self) {
        self.get_ref().0.set_reset_on_drop();
    }
}

impl ServerIo for crate::net::SimStream {
    fn set_reset_on_drop(&self) {
        crate::net::SimStream::set_reset_on_drop(self);
    }
}
