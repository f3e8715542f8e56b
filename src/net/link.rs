//! One direction of a connection: bytes read from one end, passed through the active
//! toxics, written to the other end. The same pump serves the simulated network and the
//! real-world TCP proxy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::rng::SharedRng;
use super::toxic::{ActiveToxic, Direction, FrameFault, Toxic};
use crate::proto::{
    Decoded, FrameDecoder, FrameHeader, HeaderScan, Opcode, ScanState, encode_frame,
};

/// The state of a whole connection, shared by its two directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Data flows.
    Open,
    /// Closed with FIN both ways.
    Closed,
    /// Reset (RST) both ways.
    Reset,
}

/// A connection's shared control.
pub type ConnCtl = Arc<watch::Sender<ConnState>>;

/// What a pump does when its connection is reset: make both ends see RST.
pub type ResetHook = Arc<dyn Fn() + Send + Sync>;

/// The writing end of a link, which a reset must be able to abandon without the FIN
/// that dropping it would send.
pub trait LinkWrite: AsyncWrite + Unpin {
    /// Lets go of the end without closing the stream's write side.
    fn abandon(self);
}

impl LinkWrite for tokio::net::tcp::OwnedWriteHalf {
    fn abandon(self) {
        self.forget();
    }
}

impl<T: AsyncRead + AsyncWrite> LinkWrite for tokio::io::WriteHalf<T> {
    fn abandon(self) {}
}

/// A new connection control, open.
pub fn new_ctl() -> ConnCtl {
    Arc::new(watch::Sender::new(ConnState::Open))
}

/// Per-direction state of the frame-aware toxic. Frames pass through as their bytes
/// arrive; nothing is held back waiting for a whole frame, so a frame claiming any
/// length costs no memory here.
#[derive(Default)]
struct FrameState {
    decoder: FrameDecoder,
    /// The index of the frame being read.
    index: usize,
    /// Bytes of that frame seen so far (header included).
    seen: usize,
    stalled: bool,
}

/// Where the frames of one direction begin: after its HTTP handshake. Constant memory.
struct HandshakeScan(HeaderScan);

impl Default for HandshakeScan {
    fn default() -> Self {
        // A passthrough keeps no bytes, so the scan needs no size limit.
        HandshakeScan(HeaderScan::new(usize::MAX))
    }
}

impl HandshakeScan {
    /// Feeds a chunk; returns the offset in it where frames begin (its length while the
    /// handshake goes on, 0 once it is over).
    fn feed(&mut self, chunk: &[u8]) -> usize {
        match self.0.feed(chunk) {
            ScanState::Done(at) => at,
            ScanState::Pending | ScanState::TooLong => chunk.len(),
        }
    }
}

/// What the frame toxic asks for after a chunk.
#[derive(Default)]
struct FrameOut {
    pieces: Vec<(Duration, Vec<u8>)>,
    close_after: bool,
}

fn apply_frames(f: &FrameFault, st: &mut FrameState, chunk: &[u8]) -> FrameOut {
    let mut out = FrameOut::default();
    if st.stalled {
        return out;
    }
    let delay = Duration::from_millis(f.delay_ms);
    // The frame whose bytes the last piece holds, so one frame's bytes stay one piece.
    let mut open_piece: Option<usize> = None;
    let mut rest = chunk;
    loop {
        let (used, got) = st.decoder.next(rest);
        let mut bytes = &rest[..used];
        rest = &rest[used..];
        let i = st.index;
        if let Some(s) = f.stall.as_ref().filter(|s| s.frame == i) {
            bytes = &bytes[..bytes.len().min(s.bytes.saturating_sub(st.seen))];
        }
        if !bytes.is_empty() && !f.suppress.contains(&i) {
            match (open_piece, out.pieces.last_mut()) {
                (Some(o), Some(last)) if o == i => last.1.extend_from_slice(bytes),
                _ => {
                    // Every frame is held `delay` once, from its first byte.
                    let d = if st.seen == 0 { delay } else { Duration::ZERO };
                    out.pieces.push((d, bytes.to_vec()));
                    open_piece = Some(i);
                }
            }
        }
        st.seen += bytes.len();
        if f.stall.as_ref().is_some_and(|s| s.frame == i && st.seen >= s.bytes) {
            st.stalled = true;
            return out;
        }
        match got {
            None => return out,
            Some(Decoded::Header { .. } | Decoded::Payload { .. }) => continue,
            Some(Decoded::End) => {}
        }
        st.index += 1;
        st.seen = 0;
        open_piece = None;
        if let Some(inj) = &f.inject
            && inj.after == i
            && let Some(bytes) = crate::text::parse_hex(&inj.hex).ok()
        {
            out.pieces.push((delay, bytes));
        }
        if let Some(c) = &f.close
            && c.after == i
        {
            let close = encode_frame(&FrameHeader::new(Opcode::Close, 2), &c.code.to_be_bytes());
            out.pieces.push((delay, close));
            out.close_after = true;
            return out;
        }
        if f.drop_after == Some(i + 1) {
            out.close_after = true;
            return out;
        }
    }
}

/// Moves bytes from `from` to `to` through the toxics of `dir`, until either end closes
/// or the connection is closed or reset.
#[expect(clippy::too_many_arguments, reason = "a pump is its two ends plus its context")]
pub async fn pump<R, W>(
    mut from: R,
    mut to: W,
    dir: Direction,
    mut toxics: watch::Receiver<Vec<ActiveToxic>>,
    ctl: ConnCtl,
    rng: SharedRng,
    on_reset: ResetHook,
    started: Instant,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: LinkWrite,
{
    // A reader of its own stamps each chunk with the time it arrived, so a delay is
    // measured from arrival and chunks in flight are delayed side by side (as
    // toxiproxy's latency does), not one after another.
    let (chunk_tx, mut chunks) =
        tokio::sync::mpsc::channel::<(Instant, std::io::Result<Vec<u8>>)>(64);
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let r = from.read(&mut buf).await.map(|n| buf[..n].to_vec());
            let end = !matches!(&r, Ok(v) if !v.is_empty());
            if chunk_tx.send((Instant::now(), r)).await.is_err() || end {
                return;
            }
        }
    });
    let _abort_reader = AbortOnDrop(reader);
    let mut state = ctl.subscribe();
    let mut seen_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut passed: u64 = 0;
    let mut frames: BTreeMap<String, FrameState> = BTreeMap::new();
    // Frame-aware toxics see only what follows the HTTP handshake of this direction.
    let mut handshake = HandshakeScan::default();
    loop {
        let now = Instant::now();
        let active: Vec<ActiveToxic> =
            toxics.borrow_and_update().iter().filter(|t| t.direction == dir).cloned().collect();
        seen_since.retain(|n, _| active.iter().any(|t| &t.name == n));
        for t in &active {
            seen_since.entry(t.name.clone()).or_insert(now.max(started));
        }
        let down = active.iter().any(|t| matches!(t.toxic, Toxic::Down));
        let mut deadline: Option<(Instant, ConnState)> = None;
        let mut blackhole = false;
        for t in &active {
            let since = seen_since[&t.name];
            let fire = match t.toxic {
                Toxic::ResetPeer { timeout_ms } => {
                    Some((since + Duration::from_millis(timeout_ms), ConnState::Reset))
                }
                Toxic::Timeout { timeout_ms } => {
                    blackhole = true;
                    (timeout_ms > 0)
                        .then(|| (since + Duration::from_millis(timeout_ms), ConnState::Closed))
                }
                _ => None,
            };
            if let Some(f) = fire
                && deadline.is_none_or(|d| f.0 < d.0)
            {
                deadline = Some(f);
            }
        }
        let current = *state.borrow_and_update();
        if current != ConnState::Open {
            finish(current, to, &on_reset).await;
            return;
        }
        tokio::select! {
            biased;
            _ = state.changed() => continue,
            _ = toxics.changed() => continue,
            _ = async { sleep_until(deadline.map_or(now, |d| d.0)).await }, if deadline.is_some() => {
                if let Some((_, s)) = deadline {
                    ctl.send_replace(s);
                }
                continue;
            }
            got = chunks.recv(), if !down => {
                let Some((arrived, r)) = got else { return };
                let chunk = match r {
                    Ok(v) if v.is_empty() => {
                        let delay = active.iter().find_map(|t| match t.toxic {
                            Toxic::SlowClose { delay_ms } => Some(delay_ms),
                            _ => None,
                        });
                        if let Some(d) = delay {
                            tokio::time::sleep(Duration::from_millis(d)).await;
                        }
                        let _ = to.shutdown().await;
                        return;
                    }
                    Ok(v) => v,
                    Err(_) => {
                        ctl.send_replace(ConnState::Reset);
                        continue;
                    }
                };
                if blackhole {
                    continue;
                }
                let frames_from = handshake.feed(&chunk);
                let mut pieces: Vec<(Duration, Vec<u8>)> = vec![(Duration::ZERO, chunk)];
                let mut close_after = false;
                for t in &active {
                    match &t.toxic {
                        Toxic::Frames(f) => {
                            let st = frames.entry(t.name.clone()).or_default();
                            let mut next = Vec::new();
                            for (i, (d, p)) in pieces.into_iter().enumerate() {
                                // Frame toxics run first, on the chunk as read: only the
                                // first piece can hold handshake bytes.
                                let split = if i == 0 { frames_from.min(p.len()) } else { 0 };
                                if split > 0 {
                                    next.push((d, p[..split].to_vec()));
                                }
                                let o = apply_frames(f, st, &p[split..]);
                                close_after |= o.close_after;
                                next.extend(o.pieces.into_iter().map(|(d2, b)| (d + d2, b)));
                            }
                            pieces = next;
                        }
                        Toxic::LimitData { bytes } => {
                            let mut next = Vec::new();
                            for (d, mut p) in pieces {
                                let left = bytes.saturating_sub(passed) as usize;
                                if p.len() >= left {
                                    p.truncate(left);
                                    close_after = true;
                                }
                                passed += p.len() as u64;
                                if !p.is_empty() {
                                    next.push((d, p));
                                }
                                if close_after {
                                    break;
                                }
                            }
                            pieces = next;
                        }
                        Toxic::Slicer { average_size, size_variation, delay_us } => {
                            let mut next = Vec::new();
                            for (d, p) in pieces {
                                let mut at = 0;
                                let mut first = true;
                                while at < p.len() {
                                    let var = if *size_variation > 0 {
                                        (rng.u64() % (2 * *size_variation as u64 + 1)) as i64 - *size_variation as i64
                                    } else {
                                        0
                                    };
                                    let size = ((*average_size as i64 + var).max(1) as usize).min(p.len() - at);
                                    let gap = if first { d } else { Duration::from_micros(*delay_us) };
                                    first = false;
                                    next.push((gap, p[at..at + size].to_vec()));
                                    at += size;
                                }
                            }
                            pieces = next;
                        }
                        Toxic::Latency { latency_ms, jitter_ms } => {
                            let jitter = if *jitter_ms > 0 {
                                (rng.u64() % (2 * jitter_ms + 1)) as i64 - *jitter_ms as i64
                            } else {
                                0
                            };
                            let lat = Duration::from_millis((*latency_ms as i64 + jitter).max(0) as u64);
                            // Measured from arrival: time already spent queued counts.
                            let due = (arrived + lat).saturating_duration_since(Instant::now());
                            if let Some(first) = pieces.first_mut() {
                                first.0 += due;
                            }
                        }
                        Toxic::Bandwidth { rate_kbps } => {
                            let rate = u128::from((*rate_kbps).max(1)) * 1000;
                            for (d, p) in pieces.iter_mut() {
                                let us = p.len() as u128 * 1_000_000 / rate;
                                *d += Duration::from_micros(us.min(u128::from(u64::MAX)) as u64);
                            }
                        }
                        _ => {}
                    }
                }
                for (d, p) in pieces {
                    if !d.is_zero() {
                        tokio::time::sleep(d).await;
                    }
                    if to.write_all(&p).await.is_err() || to.flush().await.is_err() {
                        ctl.send_replace(ConnState::Reset);
                        break;
                    }
                }
                if close_after {
                    ctl.send_replace(ConnState::Closed);
                }
            }
        }
    }
}

/// Aborts a task when dropped (the pump's reader goes with the pump).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn finish<W: LinkWrite>(state: ConnState, mut to: W, on_reset: &ResetHook) {
    match state {
        ConnState::Reset => {
            on_reset();
            to.abandon();
        }
        _ => {
            let _ = to.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::toxic::{CloseInjection, Stall};

    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        encode_frame(&FrameHeader::from_b0(b0, payload.len() as u64), payload)
    }

    fn bytes_of(o: &FrameOut) -> Vec<Vec<u8>> {
        o.pieces.iter().map(|p| p.1.clone()).collect()
    }

    #[test]
    fn the_handshake_end_is_found_across_chunks() {
        let mut h = HandshakeScan::default();
        assert_eq!(h.feed(b"HTTP/1.1 101 OK\r\nA: b\r\n\r"), 24);
        assert_eq!(h.feed(b"\nframe"), 1);
        assert_eq!(h.feed(b"more"), 0);
    }

    #[test]
    fn frames_are_suppressed_and_counted_across_chunks() {
        let f = FrameFault { suppress: vec![1], ..Default::default() };
        let mut st = FrameState::default();
        let (a, b, c) = (frame(0x81, b"a"), frame(0x81, b"bb"), frame(0x81, b"c"));
        let all = [a.clone(), b, c.clone()].concat();
        let first = apply_frames(&f, &mut st, &all[..4]);
        assert_eq!(bytes_of(&first), vec![a]);
        let rest = apply_frames(&f, &mut st, &all[4..]);
        assert_eq!(bytes_of(&rest), vec![c]);
        assert!(!rest.close_after);
    }

    #[test]
    fn a_stall_cuts_its_frame_and_everything_after() {
        let f = FrameFault { stall: Some(Stall { frame: 0, bytes: 3 }), ..Default::default() };
        let mut st = FrameState::default();
        let o = apply_frames(&f, &mut st, &frame(0x82, b"hello"));
        assert_eq!(o.pieces.len(), 1);
        assert_eq!(o.pieces[0].1, vec![0x82, 5, b'h']);
        assert!(apply_frames(&f, &mut st, &frame(0x81, b"x")).pieces.is_empty());
    }

    #[test]
    fn an_injected_close_ends_the_connection() {
        let f = FrameFault {
            close: Some(CloseInjection { after: 0, code: 1001 }),
            ..Default::default()
        };
        let mut st = FrameState::default();
        let o = apply_frames(&f, &mut st, &frame(0x81, b"x"));
        assert_eq!(o.pieces[1].1, vec![0x88, 2, 0x03, 0xE9]);
        assert!(o.close_after);
    }

    #[test]
    fn frames_pass_as_they_arrive_and_are_delayed_once() {
        let f = FrameFault { delay_ms: 5, ..Default::default() };
        let mut st = FrameState::default();
        let a = frame(0x82, &[1; 300]);
        let first = apply_frames(&f, &mut st, &a[..100]);
        assert_eq!(first.pieces, vec![(Duration::from_millis(5), a[..100].to_vec())]);
        let rest = apply_frames(&f, &mut st, &[&a[100..], &a[..]].concat());
        assert_eq!(
            rest.pieces,
            vec![(Duration::ZERO, a[100..].to_vec()), (Duration::from_millis(5), a.clone())]
        );
    }

    #[test]
    fn a_frame_claiming_two_to_the_64_bytes_streams_through() {
        let f = FrameFault { suppress: vec![1], ..Default::default() };
        let mut st = FrameState::default();
        let mut big = FrameHeader::from_b0(0x82, u64::MAX).encode().to_vec();
        big.extend_from_slice(&[0; 1000]);
        let o = apply_frames(&f, &mut st, &big);
        assert_eq!(bytes_of(&o), vec![big]);
        assert_eq!(apply_frames(&f, &mut st, &[9; 50]).pieces[0].1, vec![9; 50]);
        assert_eq!(st.index, 0, "still inside frame 0");
    }
}
