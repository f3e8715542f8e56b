//! The byte streams servers run over: anything readable and writable that can also be
//! reset (RST) on demand, and a wrapper that shows what crosses such a stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// What a [`Tap`] reports about the bytes crossing it.
pub trait Observe {
    /// Bytes came from the peer.
    fn read(&mut self, bytes: &[u8]);
    /// The peer closed its side (EOF) or reading failed.
    fn read_ended(&mut self);
    /// Bytes went to the peer.
    fn wrote(&mut self, bytes: &[u8]);
}

/// A server stream that shows every byte crossing it to an observer (the recorder, the
/// idle clock) and otherwise passes everything through.
#[derive(Debug)]
pub struct Tap<S, O> {
    inner: S,
    observer: O,
}

impl<S, O> Tap<S, O> {
    /// Wraps `inner`.
    pub fn new(inner: S, observer: O) -> Self {
        Tap { inner, observer }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// The observer, to change.
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }
}

impl<S: AsyncRead + Unpin, O: Observe + Unpin> AsyncRead for Tap<S, O> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &r {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.observer.read(&buf.filled()[before..]);
            }
            Poll::Ready(_) => this.observer.read_ended(),
            Poll::Pending => {}
        }
        r
    }
}

impl<S: AsyncWrite + Unpin, O: Observe + Unpin> AsyncWrite for Tap<S, O> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            this.observer.wrote(&buf[..n]);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: ServerIo, O: Observe + Send + Unpin + 'static> ServerIo for Tap<S, O> {
    fn set_reset_on_drop(&self) {
        self.inner.set_reset_on_drop();
    }
}
