//! Serial ports as byte streams for the agent protocol: `--dut serial:PORT[@BAUD][,reset]`
//! on the host side and `wsim agent --serial PATH[@BAUD]` on the agent side.
//!
//! The `serialport` crate (built without libudev) is blocking, so a port is bridged to
//! async code by two threads: one reads (polling a stop flag between reads), one writes.
//! Both ends are bounded: the reader hands over at most [`READ_CHUNKS`] chunks before it
//! waits, the writer side is a small in-memory pipe. Dropping the [`SerialBridge`]'s
//! guard and both stream halves ends the threads, which closes the port.

use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;

/// The default baud rate (ESP-IDF's console default).
pub const DEFAULT_BAUD: u32 = 115_200;
/// How long a read blocks before the reader thread looks at its stop flag.
const READ_POLL: Duration = Duration::from_millis(50);
/// How long opening waits for a port that another opener (e.g. the previous scenario's
/// link, still closing) holds exclusively.
pub const BUSY_WAIT: Duration = Duration::from_secs(3);
/// Chunks the reader thread may hand over before it waits for the consumer.
const READ_CHUNKS: usize = 64;
/// How long the reset line is held (esptool's hard reset holds EN low for 100 ms).
pub const RESET_PULSE: Duration = Duration::from_millis(100);

/// Where a serial DUT is and how it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialTarget {
    /// The device path, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// The baud rate.
    pub baud: u32,
    /// Hard-reset the board (DTR/RTS, as esptool does) when the run first opens it.
    pub reset: bool,
}

impl SerialTarget {
    /// Parses `PORT[@BAUD][,reset]` (the part after `serial:`).
    pub fn parse(s: &str) -> Result<SerialTarget, String> {
        let (rest, reset) = match s.rsplit_once(',') {
            Some((r, "reset")) => (r, true),
            Some((_, other)) => {
                return Err(format!(
                    "serial:{s}: unknown option {other:?}; expected serial:PORT[@BAUD][,reset]"
                ));
            }
            None => (s, false),
        };
        let (path, baud) = parse_path_baud(rest).map_err(|e| format!("serial:{s}: {e}"))?;
        Ok(SerialTarget { path, baud, reset })
    }
}

impl std::fmt::Display for SerialTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.path, self.baud)?;
        if self.reset {
            f.write_str(",reset")?;
        }
        Ok(())
    }
}

/// Parses `PATH[@BAUD]`: a non-empty path and a baud rate from 300 to 12 000 000.
pub fn parse_path_baud(s: &str) -> Result<(String, u32), String> {
    let (path, baud) = match s.rsplit_once('@') {
        Some((p, b)) => {
            let baud =
                b.parse::<u32>().ok().filter(|b| (300..=12_000_000).contains(b)).ok_or_else(
                    || format!("baud rate {b:?}: expected a number from 300 to 12000000"),
                )?;
            (p, baud)
        }
        None => (s, DEFAULT_BAUD),
    };
    if path.is_empty() {
        return Err("no device path (e.g. /dev/ttyUSB0)".into());
    }
    Ok((path.to_string(), baud))
}

/// Opens `path` at `baud` (8N1, no flow control, exclusive), waiting up to
/// [`BUSY_WAIT`] while another opener holds it; clears what was received before.
pub fn open_port(path: &str, baud: u32) -> Result<Box<dyn serialport::SerialPort>, String> {
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match serialport::new(path, baud).timeout(READ_POLL).open() {
            Ok(p) => {
                // Bytes from before this open (a previous session's tail) are stale.
                let _ = p.clear(serialport::ClearBuffer::Input);
                return Ok(p);
            }
            Err(e) if e.kind() == serialport::ErrorKind::NoDevice && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("cannot open {path} at {baud} baud: {e}")),
        }
    }
}

/// A hard reset into the application, as esptool does it on boards with the usual
/// auto-reset circuit (RTS drives EN, DTR drives GPIO0): GPIO0 high (DTR off), EN low
/// (RTS on) for [`RESET_PULSE`], then EN high (RTS off).
pub fn hard_reset(port: &mut dyn serialport::SerialPort) -> Result<(), String> {
    let e = |e: serialport::Error| format!("reset by DTR/RTS failed: {e}");
    port.write_data_terminal_ready(false).map_err(e)?;
    port.write_request_to_send(true).map_err(e)?;
    std::thread::sleep(RESET_PULSE);
    port.write_request_to_send(false).map_err(e)?;
    Ok(())
}

/// Ends the bridge's threads when dropped.
#[derive(Debug)]
pub struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The async halves of a bridged blocking stream, and the guard that ends its threads.
pub struct SerialBridge {
    /// What the device sends.
    pub reader: ChunkReader,
    /// What goes to the device.
    pub writer: tokio::io::DuplexStream,
    /// Dropping it stops the reader thread (the writer ends with `writer`).
    pub guard: StopOnDrop,
}

/// Bridges a blocking port to async halves. Must be called inside a Tokio runtime (the
/// write side's pump is a task of it).
pub fn bridge(port: Box<dyn serialport::SerialPort>) -> Result<SerialBridge, String> {
    let reader = port.try_clone().map_err(|e| format!("cannot share the port: {e}"))?;
    Ok(bridge_io(Box::new(PortRead(reader)), Box::new(port)))
}

struct PortRead(Box<dyn serialport::SerialPort>);

impl Read for PortRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

/// Bridges any blocking reader (whose reads time out now and then, so the stop flag is
/// seen) and writer to async halves.
pub fn bridge_io(mut r: Box<dyn Read + Send>, mut w: Box<dyn Write + Send>) -> SerialBridge {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<std::io::Result<Vec<u8>>>(READ_CHUNKS);
    let stop2 = stop.clone();
    let _ = std::thread::Builder::new().name("wsim-serial-read".into()).spawn(move || {
        let mut buf = vec![0u8; 4096];
        while !stop2.load(Ordering::Relaxed) {
            match r.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Ok(Vec::new()));
                    return;
                }
                Ok(n) => {
                    if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let (ours, theirs) = tokio::io::duplex(8 * 1024);
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(4);
    let _ = std::thread::Builder::new().name("wsim-serial-write".into()).spawn(move || {
        while let Some(b) = wrx.blocking_recv() {
            if w.write_all(&b).and_then(|()| w.flush()).is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let mut from = ours;
        let mut buf = vec![0u8; 4096];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if wtx.send(buf[..n].to_vec()).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    SerialBridge {
        reader: ChunkReader { rx, pending: Vec::new(), at: 0 },
        writer: theirs,
        guard: StopOnDrop(stop),
    }
}

/// The read half of a bridge: chunks from the reader thread as an [`AsyncRead`]; an
/// empty chunk is the end of the stream, an error is passed on.
pub struct ChunkReader {
    rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    at: usize,
}

impl AsyncRead for ChunkReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if self.at < self.pending.len() {
                let n = buf.remaining().min(self.pending.len() - self.at);
                let at = self.at;
                buf.put_slice(&self.pending[at..at + n]);
                self.at += n;
                return Poll::Ready(Ok(()));
            }
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // The thread ended: end of stream.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    self.pending = chunk;
                    self.at = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = SerialTarget::parse("/dev/ttyUSB0").unwrap();
        assert_eq!((t.path.as_str(), t.baud, t.reset), ("/dev/ttyUSB0", 115_200, false));
        let t = SerialTarget::parse("/dev/ttyACM1@921600,reset").unwrap();
        assert_eq!((t.path.as_str(), t.baud, t.reset), ("/dev/ttyACM1", 921_600, true));
        assert_eq!(t.to_string(), "/dev/ttyACM1@921600,reset");
        for bad in ["", "@115200", "/dev/x@", "/dev/x@fast", "/dev/x@10", "/dev/x,rest"] {
            assert!(SerialTarget::parse(bad).is_err(), "{bad}");
        }
        let e = SerialTarget::parse("/dev/x,rest").unwrap_err();
        assert!(e.contains("unknown option \"rest\""), "{e}");
    }

    #[test]
    fn a_missing_port_is_a_clear_error_at_once() {
        let t0 = Instant::now();
        let e = open_port("/dev/wsim-no-such-port", 115_200).err().unwrap();
        assert!(e.contains("cannot open /dev/wsim-no-such-port at 115200 baud"), "{e}");
        assert!(t0.elapsed() < BUSY_WAIT);
    }

    #[tokio::test]
    async fn the_bridge_passes_bytes_both_ways_and_ends() {
        use tokio::io::AsyncWriteExt;
        let (theirs_w, theirs_r) =
            (Vec::new(), std::io::Cursor::new(b"from the device\n".to_vec()));
        let sink = Arc::new(std::sync::Mutex::new(theirs_w));
        struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut b = bridge_io(Box::new(theirs_r), Box::new(Shared(sink.clone())));
        let mut got = Vec::new();
        b.reader.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"from the device\n");
        b.writer.write_all(b"to the device").await.unwrap();
        b.writer.flush().await.unwrap();
        drop(b.writer);
        for _ in 0..100 {
            if sink.lock().unwrap().len() == 13 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(sink.lock().unwrap().as_slice(), b"to the device");
    }
}
