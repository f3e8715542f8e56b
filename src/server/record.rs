//! A stream wrapper that records what crosses it: the handshake request, the client's
//! frames, and a wire log with times.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::io::ServerIo;
use super::wire::{ConnectionLog, Direction, WireEntry, parse_client_frames};

/// The recorded connections of one server, with a change counter to wait on.
#[derive(Debug, Clone)]
pub struct Recorder {
    logs: Arc<Mutex<Vec<ConnectionLog>>>,
    changed: watch::Sender<u64>,
    epoch: Instant,
}

impl Recorder {
    /// A recorder whose times count from now.
    pub fn new() -> Self {
        Recorder { logs: Arc::default(), changed: watch::Sender::new(0), epoch: Instant::now() }
    }

    /// A snapshot of every connection so far.
    pub fn snapshot(&self) -> Vec<ConnectionLog> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A receiver that changes whenever anything is recorded.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn update(&self, conn: usize, f: impl FnOnce(&mut ConnectionLog)) {
        {
            let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = logs.get_mut(conn) {
                f(l);
            }
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Starts the log of a new connection and wraps its stream.
    pub fn wrap<S: ServerIo>(&self, stream: S) -> Recorded<S> {
        let conn = {
            let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
            logs.push(ConnectionLog::default());
            logs.len() - 1
        };
        self.changed.send_modify(|v| *v += 1);
        Recorded {
            inner: stream,
            rec: self.clone(),
            conn,
            rx: Vec::new(),
            upgraded: false,
            tx: Vec::new(),
            answered: false,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

/// A stream whose traffic goes into a [`Recorder`].
#[derive(Debug)]
pub struct Recorded<S> {
    inner: S,
    rec: Recorder,
    conn: usize,
    rx: Vec<u8>,
    upgraded: bool,
    tx: Vec<u8>,
    answered: bool,
}

impl<S> Recorded<S> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Notes that the client closed the connection.
    pub fn mark_client_closed(&self) {
        self.rec.update(self.conn, |l| l.client_closed = true);
    }

    fn on_rx(&mut self, bytes: &[u8]) {
        let t = self.rec.now_ms();
        self.rx.extend_from_slice(bytes);
        let mut request = None;
        if !self.upgraded
            && let Some(p) = self.rx.windows(4).position(|w| w == b"\r\n\r\n")
        {
            request = Some(String::from_utf8_lossy(&self.rx[..p + 4]).into_owned());
            self.rx.drain(..p + 4);
            self.upgraded = true;
        }
        let frames = if self.upgraded { parse_client_frames(&mut self.rx) } else { Vec::new() };
        let entry = WireEntry::new(t, Direction::Rx, bytes);
        self.rec.update(self.conn, |l| {
            if let Some(r) = request {
                l.request = r;
            }
            l.frames.extend(frames);
            l.wire.push(entry);
        });
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let got = buf.filled()[before..].to_vec();
            if got.is_empty() {
                self.mark_client_closed();
            } else {
                self.on_rx(&got);
            }
        } else if let Poll::Ready(Err(_)) = r {
            self.mark_client_closed();
        }
        r
    }
}

impl<S> Recorded<S> {
    fn on_tx(&mut self, bytes: &[u8]) {
        let entry = WireEntry::new(self.rec.now_ms(), Direction::Tx, bytes);
        self.tx.extend_from_slice(bytes);
        if !self.answered
            && let Some(p) = self.tx.windows(4).position(|w| w == b"\r\n\r\n")
        {
            self.tx.drain(..p + 4);
            self.answered = true;
        }
        let frames = if self.answered { parse_client_frames(&mut self.tx) } else { Vec::new() };
        self.rec.update(self.conn, |l| {
            l.wire.push(entry);
            l.server_frames.extend(frames);
        });
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.on_tx(&buf[..n]);
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

impl<S: ServerIo> ServerIo for Recorded<S> {
    fn set_reset_on_drop(&self) {
        self.inner.set_reset_on_drop();
    }
}
