//! A stream wrapper that records what crosses it: the handshake request, the frames each
//! way, and a wire log with times, within limits a peer cannot push past.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::Instant;

use super::io::{Observe, Tap};
use super::wire::{ClientFrame, ConnectionLog, Direction, FrameCollector, WireEntry};
use crate::proto::{HeaderScan, ScanState};

/// The largest handshake request kept (and scanned for its end); a longer header block
/// is kept up to here and its frames are not parsed.
pub const REQUEST_LIMIT: usize = 64 * 1024;

/// What one server's recorder may keep, over all its connections together, so that a
/// flood of connections, frames or bytes cannot exhaust memory. What goes past a limit
/// is counted, not kept: `ConnectionLog::frames_dropped` and `wire_dropped`,
/// `ClientFrame::truncated`, [`Recorder::dropped_connections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// Connections with a log; later ones are served but not recorded.
    pub connections: usize,
    /// Bytes of requests and frame payloads kept.
    pub bytes: usize,
    /// Frames kept (both directions).
    pub frames: usize,
    /// Wire-log entries kept.
    pub wire_entries: usize,
}

impl RecordLimits {
    /// For scenario servers: far above what a scenario needs, small enough for a host.
    pub const SCENARIO: RecordLimits = RecordLimits {
        connections: 10_000,
        bytes: 64 * 1024 * 1024,
        frames: 100_000,
        wire_entries: 100_000,
    };

    /// Keeps nothing at all (`wsim serve`): no per-connection state in the recorder.
    pub const NONE: RecordLimits =
        RecordLimits { connections: 0, bytes: 0, frames: 0, wire_entries: 0 };
}

impl Default for RecordLimits {
    fn default() -> Self {
        RecordLimits::SCENARIO
    }
}

/// The logs and what is left of the limits.
#[derive(Debug)]
struct Store {
    logs: Vec<ConnectionLog>,
    left: RecordLimits,
    dropped_connections: u64,
}

/// The recorded connections of one server, with a change counter to wait on.
#[derive(Debug, Clone)]
pub struct Recorder {
    store: Arc<Mutex<Store>>,
    changed: watch::Sender<u64>,
    epoch: Instant,
}

impl Recorder {
    /// A recorder with the scenario limits whose times count from now.
    pub fn new() -> Self {
        Recorder::with_limits(RecordLimits::SCENARIO)
    }

    /// A recorder that keeps at most `limits`.
    pub fn with_limits(limits: RecordLimits) -> Self {
        let store = Store { logs: Vec::new(), left: limits, dropped_connections: 0 };
        Recorder {
            store: Arc::new(Mutex::new(store)),
            changed: watch::Sender::new(0),
            epoch: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot of every recorded connection so far.
    pub fn snapshot(&self) -> Vec<ConnectionLog> {
        self.lock().logs.clone()
    }

    /// Calls `f` with the logs as they are, without copying them.
    pub fn with_logs<R>(&self, f: impl FnOnce(&[ConnectionLog]) -> R) -> R {
        f(&self.lock().logs)
    }

    /// Connections served but not recorded (over the connection limit).
    pub fn dropped_connections(&self) -> u64 {
        self.lock().dropped_connections
    }

    /// A receiver that changes whenever anything is recorded.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn update(&self, conn: usize, f: impl FnOnce(&mut Store, usize)) {
        f(&mut self.lock(), conn);
        self.changed.send_modify(|v| *v += 1);
    }

    /// Starts the log of a new connection (if the limit allows) and wraps its stream.
    pub fn wrap<S>(&self, stream: S) -> Recorded<S> {
        let conn = {
            let mut st = self.lock();
            if st.left.connections > 0 {
                st.left.connections -= 1;
                st.logs.push(ConnectionLog::default());
                Some(st.logs.len() - 1)
            } else {
                st.dropped_connections += 1;
                None
            }
        };
        if conn.is_some() {
            self.changed.send_modify(|v| *v += 1);
        }
        let record =
            ConnRecord { rec: self.clone(), conn, rx: Side::default(), tx: Side::default() };
        Tap::new(stream, record)
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

/// One direction's parsing state: the HTTP header block, then frames.
#[derive(Debug)]
struct Side {
    scan: HeaderScan,
    head: Vec<u8>,
    gave_up: bool,
    frames: FrameCollector,
}

impl Default for Side {
    fn default() -> Self {
        Side {
            scan: HeaderScan::new(REQUEST_LIMIT),
            head: Vec::new(),
            gave_up: false,
            frames: FrameCollector::new(),
        }
    }
}

impl Side {
    /// Feeds bytes; returns the header block when it ends (or is given up on as too
    /// long), and pushes completed frames. `keep_head` keeps the block's bytes.
    fn feed(
        &mut self,
        bytes: &[u8],
        keep_head: bool,
        left: &mut RecordLimits,
        frames: &mut Vec<ClientFrame>,
    ) -> Option<String> {
        let (head_part, rest, block) = match self.scan.feed(bytes) {
            ScanState::Done(0) => (&bytes[..0], bytes, false),
            ScanState::Done(at) => (&bytes[..at], &bytes[at..], true),
            ScanState::Pending => (bytes, &bytes[..0], false),
            ScanState::TooLong if self.gave_up => return None,
            ScanState::TooLong => {
                self.gave_up = true;
                (bytes, &bytes[..0], true)
            }
        };
        if keep_head && !head_part.is_empty() {
            let room = REQUEST_LIMIT.saturating_sub(self.head.len()).min(left.bytes);
            let n = head_part.len().min(room);
            self.head.extend_from_slice(&head_part[..n]);
            left.bytes -= n;
        }
        if !rest.is_empty() {
            let mut budget = if left.frames > 0 { left.bytes } else { 0 };
            self.frames.feed(rest, &mut budget, frames);
            left.bytes = left.bytes.min(budget);
        }
        (block && keep_head)
            .then(|| String::from_utf8_lossy(&std::mem::take(&mut self.head)).into_owned())
    }
}

/// A stream whose traffic goes into a [`Recorder`].
pub type Recorded<S> = Tap<S, ConnRecord>;

/// One connection's entry in a [`Recorder`] (nothing when the recorder keeps none), fed
/// by the [`Tap`] around the connection's stream.
#[derive(Debug)]
pub struct ConnRecord {
    rec: Recorder,
    conn: Option<usize>,
    rx: Side,
    tx: Side,
}

impl ConnRecord {
    /// Notes that the client closed the connection.
    pub fn mark_client_closed(&self) {
        if let Some(c) = self.conn {
            self.rec.update(c, |st, c| st.logs[c].client_closed = true);
        }
    }

    fn on_bytes(&mut self, dir: Direction, bytes: &[u8]) {
        let Some(conn) = self.conn else { return };
        let t = self.rec.now_ms();
        let (rx, tx) = (&mut self.rx, &mut self.tx);
        self.rec.update(conn, |st, c| {
            let Store { logs, left, .. } = st;
            let log = &mut logs[c];
            if left.wire_entries > 0 {
                left.wire_entries -= 1;
                log.wire.push(WireEntry::new(t, dir, bytes));
            } else {
                log.wire_dropped += 1;
            }
            let mut frames = Vec::new();
            match dir {
                Direction::Rx => {
                    if let Some(r) = rx.feed(bytes, true, left, &mut frames) {
                        log.request = r;
                    }
                }
                Direction::Tx => {
                    tx.feed(bytes, false, left, &mut frames);
                }
            }
            for f in frames {
                if left.frames > 0 {
                    left.frames -= 1;
                    match dir {
                        Direction::Rx => log.frames.push(f),
                        Direction::Tx => log.server_frames.push(f),
                    }
                } else {
                    log.frames_dropped += 1;
                }
            }
        });
    }
}

impl Observe for ConnRecord {
    fn read(&mut self, bytes: &[u8]) {
        self.on_bytes(Direction::Rx, bytes);
    }

    fn read_ended(&mut self) {
        self.mark_client_closed();
    }

    fn wrote(&mut self, bytes: &[u8]) {
        self.on_bytes(Direction::Tx, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::wire::{frame_header, server_frame};

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n";

    fn masked(payload: &[u8]) -> Vec<u8> {
        let mut h = crate::proto::FrameHeader::new(crate::proto::Opcode::Binary, 0);
        h.len = payload.len() as u64;
        h.mask = Some([1, 2, 3, 4]);
        crate::proto::encode_frame(&h, payload)
    }

    #[test]
    fn records_the_request_and_frames_that_race_it() {
        let rec = Recorder::new();
        let mut r = rec.wrap(());
        let bytes = [REQUEST, &masked(b"hi")[..]].concat();
        r.observer_mut().on_bytes(Direction::Rx, &bytes[..10]);
        r.observer_mut().on_bytes(Direction::Rx, &bytes[10..]);
        r.observer_mut().on_bytes(Direction::Tx, b"HTTP/1.1 101 OK\r\n\r\n");
        r.observer_mut().on_bytes(Direction::Tx, &server_frame(0x81, b"yo"));
        let log = &rec.snapshot()[0];
        assert_eq!(log.request.as_bytes(), REQUEST);
        assert_eq!(log.frames.len(), 1);
        assert_eq!(log.frames[0].payload, b"hi");
        assert_eq!(log.server_frames[0].payload, b"yo");
        assert_eq!(log.wire.len(), 4);
    }

    #[test]
    fn a_flood_of_frames_stays_within_the_limits() {
        let limits = RecordLimits { connections: 2, bytes: 10_000, frames: 50, wire_entries: 20 };
        let rec = Recorder::with_limits(limits);
        let mut r = rec.wrap(());
        r.observer_mut().on_bytes(Direction::Rx, REQUEST);
        let frame = masked(&[7; 1000]);
        for _ in 0..1000 {
            r.observer_mut().on_bytes(Direction::Rx, &frame);
        }
        let log = &rec.snapshot()[0];
        assert_eq!(log.frames.len(), 50);
        assert_eq!(log.frames_dropped, 950);
        let kept: usize = log.frames.iter().map(|f| f.payload.len()).sum::<usize>();
        assert!(kept + log.request.len() <= 10_000, "{kept}");
        assert!(log.frames.iter().all(|f| f.len == 1000));
        assert!(log.frames.iter().any(|f| f.truncated));
        assert_eq!((log.wire.len(), log.wire_dropped), (20, 981));
        let json = serde_json::to_value(log).unwrap();
        assert_eq!(json["wire_dropped"], 981);
        assert_eq!(json["frames"][49]["truncated"], true);
        assert!(json["frames"][0].get("truncated").is_none(), "absent when false");
        let (_a, _b) = (rec.wrap(()), rec.wrap(()));
        assert_eq!((rec.snapshot().len(), rec.dropped_connections()), (2, 1));
    }

    #[test]
    fn a_frame_claiming_two_to_the_64_bytes_is_not_a_panic() {
        let rec = Recorder::new();
        let mut r = rec.wrap(());
        r.observer_mut().on_bytes(Direction::Rx, REQUEST);
        let mut f = frame_header(0x82, u64::MAX);
        f[1] |= 0x80;
        f.extend_from_slice(&[0, 0, 0, 0]);
        r.observer_mut().on_bytes(Direction::Rx, &f);
        r.observer_mut().on_bytes(Direction::Rx, &[0; 4096]);
        assert!(rec.snapshot()[0].frames.is_empty());
    }

    #[test]
    fn an_oversized_request_is_kept_up_to_the_limit_and_frames_are_not_parsed() {
        let rec = Recorder::new();
        let mut r = rec.wrap(());
        r.observer_mut().on_bytes(Direction::Rx, &vec![b'a'; REQUEST_LIMIT + 10]);
        r.observer_mut().on_bytes(Direction::Rx, &server_frame(0x81, b"x"));
        let log = &rec.snapshot()[0];
        assert_eq!(log.request.len(), REQUEST_LIMIT);
        assert!(log.frames.is_empty());
    }

    #[test]
    fn a_recorder_without_limits_keeps_nothing() {
        let rec = Recorder::with_limits(RecordLimits::NONE);
        let mut r = rec.wrap(());
        r.observer_mut().on_bytes(Direction::Rx, REQUEST);
        r.observer().mark_client_closed();
        assert!(rec.snapshot().is_empty());
        assert_eq!(rec.dropped_connections(), 1);
    }
}
