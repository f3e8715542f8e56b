//! `wsim connect URI`: runs the client model against any server and prints every event
//! as one JSON line.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::mem::replace;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use clap::{ArgMatches, Args};
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use wsim::esp::{
    Config, Echo, EchoReport, Env, EspWebsocketClient, EventFilter, EventId, OwnedEvent,
    PORT_MAX_DELAY, Profile, TransportType, ms_to_ticks_at,
};
use wsim::exit;

/// Options of `wsim connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server URI (`ws://` or `wss://`), as the C `uri` field.
    pub uri: String,
    /// IDF profile: idf6 (default) or idf5.5.
    #[arg(long, default_value = "idf6", value_parser = parse_profile)]
    pub profile: Profile,
    /// `buffer_size`: RX chunk and TX fragment size (default 1024).
    #[arg(long)]
    pub buffer_size: Option<i32>,
    /// `host`: overrides the URI's host.
    #[arg(long)]
    pub host: Option<String>,
    /// `port`: overrides the URI's port.
    #[arg(long)]
    pub port: Option<i32>,
    /// `path`: overrides the URI's path and query.
    #[arg(long)]
    pub path: Option<String>,
    /// `username` for Basic auth.
    #[arg(long)]
    pub username: Option<String>,
    /// `password` for Basic auth.
    #[arg(long)]
    pub password: Option<String>,
    /// `subprotocol`: sent as Sec-WebSocket-Protocol.
    #[arg(long)]
    pub subprotocol: Option<String>,
    /// `user_agent`.
    #[arg(long)]
    pub user_agent: Option<String>,
    /// An extra request header, `Name: value` (repeatable; appended to `headers`).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// `transport` for a URI without a scheme: tcp or ssl.
    #[arg(long, value_parser = ["tcp", "ssl"])]
    pub transport: Option<String>,
    /// `cert_pem`: a PEM file with the CA that verifies the server (no CA: no verification).
    #[arg(long)]
    pub cert_pem: Option<PathBuf>,
    /// `cert_pem` + `cert_len`: a DER file with the CA.
    #[arg(long, conflicts_with = "cert_pem")]
    pub cert_der: Option<PathBuf>,
    /// `client_cert` (PEM) for mutual TLS.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// `client_key` (PEM) for mutual TLS.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// `skip_cert_common_name_check`.
    #[arg(long)]
    pub skip_cert_common_name_check: bool,
    /// `cert_common_name`: the name the server certificate must carry.
    #[arg(long)]
    pub cert_common_name: Option<String>,
    /// `network_timeout_ms`.
    #[arg(long)]
    pub network_timeout_ms: Option<i32>,
    /// `reconnect_timeout_ms`.
    #[arg(long)]
    pub reconnect_timeout_ms: Option<i32>,
    /// `disable_auto_reconnect`.
    #[arg(long)]
    pub disable_auto_reconnect: bool,
    /// `enable_close_reconnect`.
    #[arg(long)]
    pub enable_close_reconnect: bool,
    /// `ping_interval_sec`.
    #[arg(long)]
    pub ping_interval_sec: Option<usize>,
    /// `pingpong_timeout_sec`.
    #[arg(long)]
    pub pingpong_timeout_sec: Option<i32>,
    /// `disable_pingpong_discon`.
    #[arg(long)]
    pub disable_pingpong_discon: bool,
    /// Action once connected: `send_text` with this text.
    #[arg(long, value_name = "TEXT")]
    pub send_text: Vec<String>,
    /// Action once connected: `send_bin` with these bytes, in hex.
    #[arg(long, value_name = "HEX", value_parser = wsim::text::parse_hex)]
    pub send_bin_hex: Vec<Vec<u8>>,
    /// Action once connected: pause this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub sleep_ms: Vec<u64>,
    /// Action once connected: `close` (empty CLOSE payload).
    #[arg(long)]
    pub close: bool,
    /// Action once connected: `close_with_code` with this code (and `--close-reason`).
    #[arg(long, value_name = "CODE")]
    pub close_code: Option<i32>,
    /// The reason sent with `--close-code`.
    #[arg(long, default_value = "", requires = "close_code")]
    pub close_reason: String,
    /// How long `close` waits for the server's CLOSE before forcing a stop.
    #[arg(long, default_value_t = 10_000)]
    pub close_timeout_ms: u64,
    /// Stop after this many seconds, finite and not negative (default: when the client
    /// finishes, or on Ctrl-C).
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Option<Duration>,
    /// Echo every text and binary message from the event handler, in the client task as
    /// firmware does: reassembled from its DATA chunks and fragments, sent back whole
    /// with `send_text` / `send_bin` once complete (messages up to 16 MiB).
    #[arg(long)]
    pub echo: bool,
    /// Seed for masks and handshake keys (default: from the OS).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A build option of the model, as an sdkconfig line (repeatable), e.g.
    /// `--sdkconfig CONFIG_ESP_TLS_INSECURE=y --sdkconfig
    /// CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY=y` for `wss://` without `--cert-pem`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub sdkconfig: Vec<String>,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::from_name(s).ok_or_else(|| format!("unknown profile {s:?}: expected idf6 or idf5.5"))
}

/// `--duration`: a finite, non-negative number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() {
        return Err(format!("{s:?} is not a finite number of seconds"));
    }
    if secs < 0.0 {
        return Err(format!("{s:?} is negative: give a number of seconds of 0 or more"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} seconds is too long"))
}

/// One step to run once connected.
#[derive(Debug, Clone)]
enum Action {
    Text(String),
    Bin(Vec<u8>),
    Sleep(u64),
    Close,
    CloseCode(i32, String),
}

/// The actions in the order they were given on the command line.
fn ordered_actions(args: &ConnectArgs, m: &ArgMatches) -> Vec<Action> {
    let mut v: Vec<(usize, Action)> = Vec::new();
    let idx = |id: &str| m.indices_of(id).map(|i| i.collect::<Vec<_>>()).unwrap_or_default();
    v.extend(idx("send_text").into_iter().zip(args.send_text.iter().cloned().map(Action::Text)));
    v.extend(
        idx("send_bin_hex").into_iter().zip(args.send_bin_hex.iter().cloned().map(Action::Bin)),
    );
    v.extend(idx("sleep_ms").into_iter().zip(args.sleep_ms.iter().copied().map(Action::Sleep)));
    if args.close
        && let Some(&i) = idx("close").first()
    {
        v.push((i, Action::Close));
    }
    if let (Some(code), Some(&i)) = (args.close_code, idx("close_code").first()) {
        v.push((i, Action::CloseCode(code, args.close_reason.clone())));
    }
    v.sort_by_key(|(i, _)| *i);
    v.into_iter().map(|(_, a)| a).collect()
}

fn read_file(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn build_config(a: &ConnectArgs) -> Result<Config, String> {
    // The scenario format's limits: the model allocates two buffers of `buffer_size`,
    // and its timers take durations up to a day.
    use wsim::scenario::{MAX_BUFFER_SIZE, MAX_TIME_MS};
    let day_s = (MAX_TIME_MS / 1000) as i64;
    let checks: [(&str, Option<i64>, i64); 5] = [
        ("--buffer-size", a.buffer_size.map(i64::from), i64::from(MAX_BUFFER_SIZE)),
        ("--network-timeout-ms", a.network_timeout_ms.map(i64::from), MAX_TIME_MS as i64),
        ("--reconnect-timeout-ms", a.reconnect_timeout_ms.map(i64::from), MAX_TIME_MS as i64),
        (
            "--ping-interval-sec",
            a.ping_interval_sec.map(|v| v.min(i64::MAX as usize) as i64),
            day_s,
        ),
        ("--pingpong-timeout-sec", a.pingpong_timeout_sec.map(i64::from), day_s),
    ];
    for (flag, value, max) in checks {
        if let Some(v) = value
            && v > max
        {
            return Err(format!("{flag} {v} exceeds the limit of {max}"));
        }
    }
    let mut c = Config {
        uri: Some(a.uri.clone()),
        host: a.host.clone(),
        port: a.port.unwrap_or(0),
        path: a.path.clone(),
        username: a.username.clone(),
        password: a.password.clone(),
        subprotocol: a.subprotocol.clone(),
        user_agent: a.user_agent.clone(),
        buffer_size: a.buffer_size.unwrap_or(0),
        skip_cert_common_name_check: a.skip_cert_common_name_check,
        cert_common_name: a.cert_common_name.clone(),
        network_timeout_ms: a.network_timeout_ms.unwrap_or(0),
        reconnect_timeout_ms: a.reconnect_timeout_ms.unwrap_or(0),
        disable_auto_reconnect: a.disable_auto_reconnect,
        enable_close_reconnect: a.enable_close_reconnect,
        ping_interval_sec: a.ping_interval_sec.unwrap_or(0),
        pingpong_timeout_sec: a.pingpong_timeout_sec.unwrap_or(0),
        disable_pingpong_discon: a.disable_pingpong_discon,
        transport: match a.transport.as_deref() {
            Some("tcp") => TransportType::OverTcp,
            Some("ssl") => TransportType::OverSsl,
            _ => TransportType::Unknown,
        },
        ..Config::default()
    };
    if !a.headers.is_empty() {
        c.headers = Some(a.headers.iter().map(|h| format!("{h}\r\n")).collect());
    }
    if let Some(p) = &a.cert_pem {
        c.cert_pem = Some(read_file(p)?);
    }
    if let Some(p) = &a.cert_der {
        let der = read_file(p)?;
        c.cert_len = der.len();
        c.cert_pem = Some(der);
    }
    if let Some(p) = &a.client_cert {
        c.client_cert = Some(read_file(p)?);
    }
    if let Some(p) = &a.client_key {
        c.client_key = Some(read_file(p)?);
    }
    Ok(c)
}

/// The JSON line for one event: the C field names, the payload as text or hex.
pub fn event_json(ev: &OwnedEvent, t_ms: u64) -> Value {
    let mut v = json!({
        "t_ms": t_ms,
        "event": ev.event.name(),
        "op_code": ev.op_code,
        "fin": ev.fin,
        "data_len": ev.data_len,
        "payload_len": ev.payload_len,
        "payload_offset": ev.payload_offset,
        "error_handle": ev.error_handle,
        "close_status_code": ev.close_status_code,
    });
    if !ev.data.is_empty() {
        match ev.text() {
            Some(t) => v["text"] = json!(t),
            None => v["hex"] = json!(ev.hex()),
        }
    }
    v
}

/// The exit code of `wsim connect` after Ctrl-C (SIGINT): 128 + 2, as shells report it.
pub const INTERRUPTED: i32 = wsim::exit::INTERRUPTED;

/// At most this many printed lines wait between the client's handler and stdout.
const QUEUE_LINES: usize = 1024;
/// At most this many bytes of printed lines wait (one line is always admitted).
const QUEUE_BYTES: usize = 1 << 20;
/// After `--duration` or Ctrl-C: how long `destroy` may take before it is abandoned.
/// On the device `stop()` waits for the task to notice: up to its 1 s poll when idle, up
/// to `network_timeout_ms` in a handshake or a stalled frame; the model keeps that.
const STOP_BUDGET: Duration = Duration::from_millis(50);
/// The longest message `--echo` reassembles; longer ones are not echoed.
const ECHO_MAX_BYTES: usize = 16 << 20;
/// After `--duration` or Ctrl-C: when the lines still queued stop being printed.
const EXIT_BUDGET: Duration = Duration::from_millis(90);

/// Why the main loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The client raised FINISH.
    Finished,
    /// `--duration` elapsed.
    Deadline,
    /// Ctrl-C.
    Interrupted,
    /// Stdout failed (closed pipe): nothing more can be shown.
    OutputClosed,
}

/// What the handler tells the main loop.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    connected: bool,
    finished: bool,
}

/// The bounded queue of JSON lines from the event handler to the printer thread.
///
/// The handler runs synchronously in the client task, as on the device; when the queue
/// is full it blocks there (outside the async runtime) until the printer has written
/// lines out, so a flooding server or a slow stdout slows the client's reads instead of
/// growing memory.
#[derive(Debug, Default)]
struct LineQueue {
    state: Mutex<QueueState>,
    not_full: Condvar,
    not_empty: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    lines: VecDeque<String>,
    bytes: usize,
    /// No more lines are accepted; the printer writes what is queued and ends.
    closed: bool,
}

impl QueueState {
    fn has_room(&self, len: usize) -> bool {
        self.lines.is_empty() || (self.lines.len() < QUEUE_LINES && self.bytes + len <= QUEUE_BYTES)
    }
}

impl LineQueue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `line`, waiting while the queue is full; drops it once the queue is closed.
    fn push(&self, line: String) {
        {
            let mut st = self.lock();
            if st.closed {
                return;
            }
            if st.has_room(line.len()) {
                st.bytes += line.len();
                st.lines.push_back(line);
                self.not_empty.notify_one();
                return;
            }
        }
        block_outside_runtime(|| {
            let mut st = self.lock();
            while !st.closed && !st.has_room(line.len()) {
                st = self.not_full.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if !st.closed {
                st.bytes += line.len();
                st.lines.push_back(line);
                self.not_empty.notify_one();
            }
        });
    }

    /// The next line, waiting for one; `None` once closed and empty. The flag says
    /// whether the queue is now empty (time to flush).
    fn pop(&self) -> Option<(String, bool)> {
        let mut st = self.lock();
        loop {
            if let Some(line) = st.lines.pop_front() {
                st.bytes -= line.len();
                self.not_full.notify_all();
                return Some((line, st.lines.is_empty()));
            }
            if st.closed {
                return None;
            }
            st = self.not_empty.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Accepts no more lines (a blocked handler returns at once); what is queued is
    /// still printed. With `discard`, the queued lines are dropped too.
    fn close(&self, discard: bool) {
        let mut st = self.lock();
        st.closed = true;
        if discard {
            st.lines.clear();
            st.bytes = 0;
        }
        self.not_full.notify_all();
        self.not_empty.notify_all();
    }
}

/// Runs a blocking wait from inside a tokio task without stalling the runtime: on a
/// multi-thread runtime (what `wsim` runs on) the worker hands its other tasks to
/// another thread first. Elsewhere it simply blocks; the printer is a plain thread, so
/// it still makes progress.
fn block_outside_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// The printer thread: writes queued lines to `out`, flushing whenever the queue runs
/// empty. On a write error it closes the queue (dropping what is left) and returns.
fn print_lines(queue: &LineQueue, out: impl Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let result = (|| {
        while let Some((line, drained)) = queue.pop() {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            if drained {
                out.flush()?;
            }
        }
        out.flush()
    })();
    if result.is_err() {
        queue.close(true);
    }
    result
}

/// A future that completes on Ctrl-C (SIGINT). The handler is installed now, so a
/// signal that comes before the future is first polled is not lost.
fn interrupted() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    if let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
        return Box::pin(async move {
            if sig.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        });
    }
    Box::pin(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

/// Runs `wsim connect`; returns the exit code.
pub async fn run(args: ConnectArgs, matches: &ArgMatches) -> i32 {
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsim connect: {e}");
            return exit::BAD_INPUT;
        }
    };
    let sdkconfig = match super::run::build_options(&args.sdkconfig) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wsim connect: {e}");
            return exit::BAD_INPUT;
        }
    };
    let env = args.seed.map_or_else(Env::real, Env::real_seeded).with_sdkconfig(sdkconfig);
    let client = match EspWebsocketClient::try_init(&config, &env, args.profile) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsim connect: init failed: {e}");
            return exit::BAD_INPUT;
        }
    };
    let mut interrupt = interrupted();
    let actions = ordered_actions(&args, matches);
    let started = Instant::now();
    let queue = Arc::new(LineQueue::default());
    let (printed_tx, mut printed) = oneshot::channel::<()>();
    let printer = {
        let queue = queue.clone();
        std::thread::Builder::new().name("wsim-connect-printer".into()).spawn(move || {
            let _ = print_lines(&queue, std::io::stdout());
            let _ = printed_tx.send(());
        })
    };
    if let Err(e) = printer {
        eprintln!("wsim connect: cannot start the printer thread: {e}");
        return exit::INTERNAL;
    }
    let (progress_tx, mut progress) = watch::channel(Progress::default());
    {
        let queue = queue.clone();
        client.register_events(EventFilter::Any, move |ev| {
            let t = started.elapsed().as_millis() as u64;
            queue.push(event_json(&ev.to_owned_event(), t).to_string());
            match ev.id {
                EventId::Connected => {
                    progress_tx.send_if_modified(|p| !replace(&mut p.connected, true))
                }
                EventId::Finish => {
                    progress_tx.send_if_modified(|p| !replace(&mut p.finished, true))
                }
                _ => false,
            };
        });
    }
    if args.echo {
        client.register_reaction(
            EventFilter::Any,
            Echo::new(ECHO_MAX_BYTES, PORT_MAX_DELAY, |r| match r {
                EchoReport::Sent { function, len, returned } if returned != len as i32 => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "wsim connect: echo: {function} of {len} bytes returned {returned}"
                    );
                }
                EchoReport::Sent { .. } => {}
                EchoReport::TooLong { len, .. } => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "wsim connect: echo: a message of {len} bytes is longer than {ECHO_MAX_BYTES}: not echoed"
                    );
                }
            }),
        );
    }
    if client.start().await != 0 {
        queue.close(false);
        eprintln!("wsim connect: start failed: the scheme must be ws or wss");
        return exit::BAD_INPUT;
    }
    let deadline = args.duration.and_then(|d| started.checked_add(d));
    let until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_deadline);
    let mut actions_started = false;
    let stop = loop {
        tokio::select! {
            biased;
            _ = &mut interrupt => break Stop::Interrupted,
            _ = &mut until_deadline => break Stop::Deadline,
            _ = &mut printed => break Stop::OutputClosed,
            changed = progress.changed() => {
                let p = *progress.borrow_and_update();
                if p.connected && !actions_started {
                    actions_started = true;
                    let c = client.clone();
                    let acts = actions.clone();
                    let close_timeout = ms_to_ticks_at(args.close_timeout_ms, env.sdkconfig.tick_period_ms());
                    tokio::spawn(async move { run_actions(&c, acts, close_timeout).await });
                }
                if p.finished || changed.is_err() {
                    break Stop::Finished;
                }
            }
        }
    };
    // Whether the client ever connected, as its handler saw it (also when the loop
    // stopped before it noticed).
    let connected = progress.borrow().connected;
    let code = |stop: Stop| match stop {
        Stop::Interrupted => INTERRUPTED,
        _ if connected => exit::SUCCESS,
        _ => exit::FAILED,
    };
    if stop == Stop::Finished {
        // The task has ended: destroy returns at once. Then print everything that is
        // queued, unless the deadline or Ctrl-C comes first.
        let _ = tokio::time::timeout(STOP_BUDGET, client.destroy()).await;
        queue.close(false);
        let stop = tokio::select! {
            biased;
            _ = &mut interrupt => Stop::Interrupted,
            _ = &mut until_deadline => Stop::Deadline,
            _ = &mut printed => Stop::Finished,
        };
        return code(stop);
    }
    // Stop the client within a bound: a client stuck in a handshake or a long frame is
    // abandoned (the device would wait for the network), then print what is queued.
    let t0 = Instant::now();
    if tokio::time::timeout(STOP_BUDGET, client.destroy()).await.is_err() {
        // Not eprintln!: stderr may be a closed pipe by now.
        let _ = writeln!(
            std::io::stderr(),
            "wsim connect: exiting without the client's FINISH: it did not stop within {} ms (stop() waits for the task's 1 s poll or a network read, as on the device)",
            STOP_BUDGET.as_millis()
        );
    }
    queue.close(false);
    if stop != Stop::OutputClosed {
        let _ = tokio::time::timeout_at(t0 + EXIT_BUDGET, &mut printed).await;
    }
    code(stop)
}

async fn run_actions(client: &EspWebsocketClient, actions: Vec<Action>, close_timeout: u32) {
    for a in actions {
        match a {
            Action::Text(t) => {
                client.send_text(t.as_bytes(), PORT_MAX_DELAY).await;
            }
            Action::Bin(b) => {
                client.send_bin(&b, PORT_MAX_DELAY).await;
            }
            Action::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Action::Close => {
                client.close(close_timeout).await;
            }
            Action::CloseCode(code, reason) => {
                client.close_with_code(code, reason.as_bytes(), close_timeout).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_in(q: &LineQueue) -> (usize, usize) {
        let st = q.lock();
        (st.lines.len(), st.bytes)
    }

    /// Pushes `lines` on a thread; returns it.
    fn pusher(q: &Arc<LineQueue>, lines: Vec<String>) -> std::thread::JoinHandle<()> {
        let q = q.clone();
        std::thread::spawn(move || lines.into_iter().for_each(|l| q.push(l)))
    }

    fn settle() {
        std::thread::sleep(Duration::from_millis(100));
    }

    #[test]
    fn a_full_queue_holds_the_handler_until_the_printer_takes_a_line() {
        let q = Arc::new(LineQueue::default());
        let t = pusher(&q, (0..=QUEUE_LINES).map(|i| i.to_string()).collect());
        settle();
        assert_eq!(lines_in(&q).0, QUEUE_LINES);
        assert!(!t.is_finished(), "the last push waits");
        assert_eq!(q.pop(), Some(("0".to_string(), false)));
        t.join().unwrap();
        assert_eq!(lines_in(&q).0, QUEUE_LINES);
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_but_always_takes_one_line() {
        let q = Arc::new(LineQueue::default());
        let big = "x".repeat(QUEUE_BYTES + 1);
        q.push(big.clone());
        assert_eq!(lines_in(&q), (1, QUEUE_BYTES + 1));
        let t = pusher(&q, vec!["y".into()]);
        settle();
        assert!(!t.is_finished(), "no room beside an oversized line");
        assert_eq!(q.pop(), Some((big, true)));
        t.join().unwrap();
        assert_eq!(lines_in(&q), (1, 1));
    }

    #[test]
    fn closing_releases_a_waiting_handler_and_keeps_or_discards_the_queue() {
        let q = Arc::new(LineQueue::default());
        let t = pusher(&q, (0..QUEUE_LINES + 5).map(|i| i.to_string()).collect());
        settle();
        assert!(!t.is_finished());
        q.close(false);
        t.join().unwrap();
        assert_eq!(lines_in(&q).0, QUEUE_LINES, "later lines are dropped, queued ones kept");
        q.push("late".into());
        assert_eq!(lines_in(&q).0, QUEUE_LINES);
        let mut n = 0;
        while q.pop().is_some() {
            n += 1;
        }
        assert_eq!(n, QUEUE_LINES);
        let q = LineQueue::default();
        q.push("a".into());
        q.close(true);
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_failing_output_closes_the_queue() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let q = Arc::new(LineQueue::default());
        q.push("a".into());
        q.push("b".into());
        assert!(print_lines(&q, Broken).is_err());
        assert_eq!(lines_in(&q), (0, 0));
        q.push("c".into());
        assert_eq!(q.pop(), None, "closed: later lines are dropped");
    }

    #[test]
    fn the_printer_writes_each_line_and_ends_when_closed() {
        let q = Arc::new(LineQueue::default());
        q.push("{\"a\":1}".into());
        q.push("{\"b\":2}".into());
        q.close(false);
        let mut out = Vec::new();
        print_lines(&q, &mut out).unwrap();
        assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
    }

    #[test]
    fn duration_is_finite_and_not_negative() {
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["inf", "-inf", "NaN", "-1", "1e400", "1e30", "", "x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
