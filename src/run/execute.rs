//! Running one scenario: its world, its steps, its verdict.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::events::{EventRecord, ScenarioReport, TraceEntry, Verdict};
use super::matcher::{describe, mismatches, sha256_hex};
use super::world::{
    FaultTarget, Network, ServerSlot, client_config, frame_bytes, start_servers, substitute,
};
use crate::certs::TestPki;
use crate::dut::{ClientCommand, Dut, DutError, DutEvent, HostDut};
use crate::esp::{Env, EventId, PORT_MAX_DELAY, Profile, TickType, ms_to_ticks};
use crate::net::{ActiveToxic, ConnectionFault, SharedRng, SimNet};
use crate::scenario::{
    CallSpec, ClientCall, DEFAULT_WITHIN_MS, Expectation, FaultSpec, LoadedScenario, Payload,
    ServerAction, ServerExpectation, SimpleCommand, Step, World,
};
use crate::server::{ConnAction, ConnectionLog, ServerHandle};

/// What every scenario of a run shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The test PKI of the run.
    pub pki: std::sync::Arc<TestPki>,
    /// The profile.
    pub profile: Profile,
    /// The run's seed.
    pub seed: u64,
    /// The world scenarios run in.
    pub world: World,
}

/// The seed of one scenario: the run's seed mixed with the scenario id (FNV-1a), so a
/// scenario's randomness does not depend on which others run.
pub fn scenario_seed(run_seed: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325 ^ run_seed;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

enum Stop {
    Fail(String),
    Error(String),
}

type StepResult = Result<(), Stop>;

struct Exec<'a> {
    loaded: &'a LoadedScenario,
    ctx: &'a RunContext,
    seed: u64,
    base: PathBuf,
    dut: HostDut,
    servers: BTreeMap<String, ServerSlot>,
    addrs: BTreeMap<String, SocketAddr>,
    active_faults: Vec<(String, FaultSpec)>,
    fault_counter: usize,
    tls: BTreeMap<String, bool>,
    pending: BTreeMap<String, VecDeque<DutEvent>>,
    seen: BTreeMap<String, Vec<EventRecord>>,
    trace: Vec<TraceEntry>,
    t0: Instant,
    step_started: Instant,
    frame_cursor: BTreeMap<String, usize>,
    background: JoinSet<(String, &'static str, Result<i64, DutError>)>,
}

impl<'a> Exec<'a> {
    fn t_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    fn resolve(&self, text: &str) -> String {
        substitute(text, &self.addrs, &self.tls)
    }

    fn payload(&self, p: &Payload) -> Result<Vec<u8>, Stop> {
        p.bytes(self.seed, &self.base).map_err(|e| Stop::Error(e.to_string()))
    }

    fn record_event(&mut self, e: DutEvent) {
        let rec = EventRecord::from(e.event.clone());
        self.trace.push(TraceEntry::Event {
            t_ms: self.t_ms(),
            client: e.client.clone(),
            event: rec.clone(),
        });
        self.seen.entry(e.client.clone()).or_default().push(rec);
        self.pending.entry(e.client.clone()).or_default().push_back(e);
    }

    /// Takes in everything the DUT and background calls have produced so far.
    fn drain(&mut self) {
        while let Ok(e) = self.dut.events().try_recv() {
            self.record_event(e);
        }
        while let Some(Ok((client, function, r))) = self.background.try_join_next() {
            let t = self.t_ms();
            self.trace.push(TraceEntry::Call {
                t_ms: t,
                client,
                function: function.to_string(),
                returned: r.unwrap_or(i64::MIN),
            });
        }
    }

    fn ignored(&self, id: EventId) -> bool {
        self.loaded.scenario.ignore.contains(&id)
    }

    /// The next non-ignored event of `client`, until `deadline`.
    async fn next_event(&mut self, client: &str, deadline: Instant) -> Option<DutEvent> {
        loop {
            self.drain();
            if let Some(q) = self.pending.get_mut(client)
                && let Some(e) = q.pop_front()
            {
                if self.ignored(e.event.event) {
                    continue;
                }
                return Some(e);
            }
            match tokio::time::timeout_at(deadline, self.dut.events().recv()).await {
                Ok(Some(e)) => self.record_event(e),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    fn recent(&self, client: &str) -> String {
        let seen = self.seen.get(client).map(Vec::as_slice).unwrap_or_default();
        let from = seen.len().saturating_sub(6);
        let list: Vec<String> = seen[from..].iter().map(|r| format!("    {r}")).collect();
        if list.is_empty() { "    (no events)".to_string() } else { list.join("\n") }
    }

    fn command(&self, call: &ClientCall) -> Result<(ClientCommand, Option<i64>, bool), Stop> {
        let (spec, simple) = match call {
            ClientCall::Simple(s) => (CallSpec::default(), Some(*s)),
            ClientCall::Full(c) => ((**c).clone(), c.call),
        };
        let timeout: TickType = spec.timeout_ms.map_or(PORT_MAX_DELAY, ms_to_ticks);
        let data = |p: &Option<Payload>| -> Result<Vec<u8>, Stop> {
            p.as_ref().map(|x| self.payload(x)).transpose().map(Option::unwrap_or_default)
        };
        let cmd = if let Some(s) = simple {
            match s {
                SimpleCommand::Start => ClientCommand::Start,
                SimpleCommand::Stop => ClientCommand::Stop,
                SimpleCommand::Destroy => ClientCommand::Destroy,
                SimpleCommand::DestroyOnExit => ClientCommand::DestroyOnExit,
                SimpleCommand::Close => ClientCommand::Close { timeout },
                SimpleCommand::SendFin => ClientCommand::SendFin { timeout },
                SimpleCommand::IsConnected => ClientCommand::IsConnected,
                SimpleCommand::GetPingIntervalSec => ClientCommand::GetPingIntervalSec,
                SimpleCommand::GetReconnectTimeout => ClientCommand::GetReconnectTimeout,
            }
        } else if spec.send_text.is_some() {
            ClientCommand::SendText { data: data(&spec.send_text)?, timeout }
        } else if spec.send_bin.is_some() {
            ClientCommand::SendBin { data: data(&spec.send_bin)?, timeout }
        } else if spec.send_text_partial.is_some() {
            ClientCommand::SendTextPartial { data: data(&spec.send_text_partial)?, timeout }
        } else if spec.send_bin_partial.is_some() {
            ClientCommand::SendBinPartial { data: data(&spec.send_bin_partial)?, timeout }
        } else if spec.send_cont_msg.is_some() {
            ClientCommand::SendContMsg { data: data(&spec.send_cont_msg)?, timeout }
        } else if let Some(o) = &spec.send_with_opcode {
            ClientCommand::SendWithOpcode { opcode: o.opcode, data: data(&o.data)?, timeout }
        } else if let Some(c) = &spec.close_with_code {
            ClientCommand::CloseWithCode { code: c.code, reason: data(&c.reason)?, timeout }
        } else if let Some(u) = &spec.set_uri {
            ClientCommand::SetUri { uri: self.resolve(u) }
        } else if let Some(h) = &spec.set_headers {
            ClientCommand::SetHeaders { headers: h.clone() }
        } else if let Some(h) = &spec.append_header {
            ClientCommand::AppendHeader { key: h.key.clone(), value: h.value.clone() }
        } else if let Some(s) = spec.set_ping_interval_sec {
            ClientCommand::SetPingIntervalSec { sec: s }
        } else if let Some(ms) = spec.set_reconnect_timeout {
            ClientCommand::SetReconnectTimeout { ms }
        } else {
            return Err(Stop::Error("a client call without a command".into()));
        };
        Ok((cmd, spec.returns, spec.background))
    }

    async fn client_step(&mut self, calls: &BTreeMap<String, ClientCall>) -> StepResult {
        for (name, call) in calls {
            let (cmd, returns, background) = self.command(call)?;
            let function = cmd.name();
            let fut = self.dut.call(name, cmd);
            if background {
                let n = name.clone();
                self.background.spawn(async move { (n, function, fut.await) });
                continue;
            }
            let r = fut.await.map_err(|e| Stop::Error(e.to_string()))?;
            self.drain();
            let t = self.t_ms();
            self.trace.push(TraceEntry::Call {
                t_ms: t,
                client: name.clone(),
                function: function.into(),
                returned: r,
            });
            if let Some(want) = returns
                && want != r
            {
                return Err(Stop::Fail(format!(
                    "client.{name}: {function}() returned {r}, expected {want}"
                )));
            }
        }
        Ok(())
    }

    fn server(&self, name: &str) -> Result<&ServerHandle, Stop> {
        self.servers
            .get(name)
            .map(|s| &s.handle)
            .ok_or_else(|| Stop::Error(format!("server {name:?} is not running")))
    }

    /// Adds faults and pushes every server's toxics and connection faults.
    fn add_faults(&mut self, specs: &[FaultSpec]) -> StepResult {
        for f in specs {
            self.fault_counter += 1;
            let name = f.name.clone().unwrap_or_else(|| format!("fault-{}", self.fault_counter));
            self.active_faults.push((name, f.clone()));
        }
        self.push_faults()
    }

    fn push_faults(&mut self) -> StepResult {
        for (server, slot) in &self.servers {
            let mine = self.active_faults.iter().filter(|(_, f)| &f.server == server);
            let toxics: Vec<ActiveToxic> = mine
                .clone()
                .filter_map(|(n, f)| {
                    f.toxic.clone().map(|toxic| ActiveToxic {
                        name: n.clone(),
                        direction: f.direction,
                        toxic,
                    })
                })
                .collect();
            let mut conn = ConnectionFault::default();
            for (_, f) in mine {
                if let Some(c) = &f.connection {
                    conn.refuse.extend(c.refuse.iter().copied());
                    conn.blackhole |= c.blackhole;
                }
            }
            let wants_faults = !toxics.is_empty() || conn != ConnectionFault::default();
            match &slot.faults {
                FaultTarget::Sim(net, port) => net.set_connection_fault(*port, conn),
                FaultTarget::Proxy => {
                    if let Some(p) = &slot.proxy {
                        p.set_connection_fault(conn);
                    }
                }
                FaultTarget::None if wants_faults => {
                    return Err(Stop::Error(format!("server {server:?} has no proxy for faults")));
                }
                FaultTarget::None => {}
            }
            slot.toxics.send_replace(toxics);
        }
        Ok(())
    }

    fn server_step(&mut self, actions: &BTreeMap<String, ServerAction>) -> StepResult {
        for (name, a) in actions {
            let fb = |f| frame_bytes(f, self.seed, &self.base).map_err(Stop::Error);
            let action = if let Some(f) = &a.send {
                ConnAction::Write {
                    chunks: vec![fb(f)?],
                    gap_ms: 0,
                    sends_close: f.close.is_some(),
                }
            } else if let Some(fs) = &a.send_many {
                let mut bytes = Vec::new();
                for f in fs {
                    bytes.extend(fb(f)?);
                }
                let sends_close = fs.iter().any(|f| f.close.is_some());
                ConnAction::Write { chunks: vec![bytes], gap_ms: 0, sends_close }
            } else if let Some(m) = &a.send_fragmented {
                let (opcode, msg) = match (&m.text, &m.binary) {
                    (Some(t), None) => (0x1u8, self.payload(t)?),
                    (None, Some(b)) => (0x2u8, self.payload(b)?),
                    _ => {
                        return Err(Stop::Error(
                            "send_fragmented needs exactly one of text, binary".into(),
                        ));
                    }
                };
                let mut pieces = Vec::new();
                let mut at = 0;
                for &n in &m.frames {
                    let end = (at + n).min(msg.len());
                    pieces.push(&msg[at..end]);
                    at = end;
                }
                if at < msg.len() || pieces.is_empty() {
                    pieces.push(&msg[at..]);
                }
                let mut bytes = Vec::new();
                let last = pieces.len() - 1;
                for (i, p) in pieces.iter().enumerate() {
                    let op = if i == 0 { opcode } else { 0 };
                    let fin = if i == last { 0x80 } else { 0 };
                    bytes.extend(crate::server::server_frame(op | fin, p));
                    for il in m.interleave.iter().filter(|x| x.after == i) {
                        bytes.extend(fb(&il.frame)?);
                    }
                }
                ConnAction::Write { chunks: vec![bytes], gap_ms: 0, sends_close: false }
            } else if let Some(p) = &a.send_partial {
                let mut bytes = fb(&p.frame)?;
                bytes.truncate(p.bytes);
                ConnAction::Write { chunks: vec![bytes], gap_ms: 0, sends_close: false }
            } else if let Some(r) = &a.raw {
                ConnAction::Write { chunks: vec![self.payload(r)?], gap_ms: 0, sends_close: false }
            } else if let Some(rs) = &a.raw_chunks {
                let chunks = rs.iter().map(|p| self.payload(p)).collect::<Result<Vec<_>, _>>()?;
                ConnAction::Write { chunks, gap_ms: a.gap_ms, sends_close: false }
            } else if a.drop {
                ConnAction::Drop
            } else {
                ConnAction::Reset
            };
            self.server(name)?.act(action).map_err(|e| Stop::Fail(e.to_string()))?;
        }
        Ok(())
    }

    async fn expect_step(&mut self, client: &str, list: Vec<Expectation>) -> StepResult {
        for x in list {
            let within = Duration::from_millis(x.within_ms.unwrap_or(DEFAULT_WITHIN_MS));
            let deadline = Instant::now() + within;
            let Some(e) = self.next_event(client, deadline).await else {
                return Err(Stop::Fail(format!(
                    "expect.{client}: expected {} {} within {} ms, got nothing\n  recent events of {client}:\n{}",
                    x.event.map_or("event", |e| e.name()),
                    describe(&x),
                    within.as_millis(),
                    self.recent(client)
                )));
            };
            let mut bad = mismatches(&x, &e.event, self.seed, &self.base);
            if let Some(min) = x.after_ms {
                let waited = self.step_started.elapsed().as_millis() as u64;
                if waited < min {
                    bad.push(format!("arrived after {waited} ms, expected at least {min} ms"));
                }
            }
            if !bad.is_empty() {
                return Err(Stop::Fail(format!(
                    "expect.{client}: expected {} {}\n  got: {}\n  mismatched: {}\n  recent events of {client}:\n{}",
                    x.event.map_or("event", |e| e.name()),
                    describe(&x),
                    EventRecord::from(e.event.clone()),
                    bad.join("; "),
                    self.recent(client)
                )));
            }
        }
        Ok(())
    }

    async fn quiet_step(&mut self, client: &str, for_ms: u64) -> StepResult {
        let deadline = Instant::now() + Duration::from_millis(for_ms);
        if let Some(e) = self.next_event(client, deadline).await {
            return Err(Stop::Fail(format!(
                "expect_none.{client}: expected no event for {for_ms} ms, got {}\n  recent events of {client}:\n{}",
                EventRecord::from(e.event),
                self.recent(client)
            )));
        }
        Ok(())
    }

    async fn server_expect_step(&mut self, name: &str, x: &ServerExpectation) -> StepResult {
        let within = Duration::from_millis(x.within_ms.unwrap_or(DEFAULT_WITHIN_MS));
        let cursor = self.frame_cursor.get(name).copied().unwrap_or(0);
        let (seed, base) = (self.seed, self.base.clone());
        let mut x = x.clone();
        x.request_line = x.request_line.map(|l| self.resolve(&l));
        x.request_has = x.request_has.iter().map(|l| self.resolve(l)).collect();
        let x = &x;
        let check = |conns: &[ConnectionLog]| check_server(x, conns, cursor, seed, &base);
        let server = self.server(name)?;
        server.wait_until(within, |c| check(c).is_ok()).await;
        let conns = server.connections();
        match check(&conns) {
            Ok(advance) => {
                self.frame_cursor.insert(name.to_string(), cursor + advance);
                Ok(())
            }
            Err(why) => Err(Stop::Fail(format!(
                "expect_server.{name}: {why} (after {} ms)",
                within.as_millis()
            ))),
        }
    }

    async fn step(&mut self, step: &Step) -> StepResult {
        self.step_started = Instant::now();
        if let Some(c) = &step.client {
            return self.client_step(c).await;
        }
        if let Some(s) = &step.server {
            return self.server_step(s);
        }
        if let Some(m) = &step.expect {
            for (client, xs) in m {
                self.expect_step(client, xs.to_vec()).await?;
            }
            return Ok(());
        }
        if let Some(m) = &step.expect_none {
            for (client, q) in m {
                self.quiet_step(client, q.for_ms).await?;
            }
            return Ok(());
        }
        if let Some(m) = &step.expect_server {
            for (name, x) in m {
                self.server_expect_step(name, x).await?;
            }
            return Ok(());
        }
        if let Some(ms) = step.wait_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            self.drain();
        }
        if let Some(f) = &step.fault {
            for name in &f.remove {
                let before = self.active_faults.len();
                self.active_faults.retain(|(n, _)| n != name);
                if self.active_faults.len() == before {
                    return Err(Stop::Error(format!(
                        "fault.remove: no active fault named {name:?}"
                    )));
                }
            }
            self.add_faults(&f.add)?;
        }
        Ok(())
    }
}

fn header_lines(request: &str) -> Vec<&str> {
    request.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect()
}

/// Checks a server expectation; on success returns how many frames it consumed.
fn check_server(
    x: &ServerExpectation,
    conns: &[ConnectionLog],
    cursor: usize,
    seed: u64,
    base: &Path,
) -> Result<usize, String> {
    if let Some(n) = x.connections
        && conns.len() != n
    {
        return Err(format!("expected {n} connections, saw {}", conns.len()));
    }
    let newest = conns.last();
    let request = newest.map(|c| c.request.as_str()).unwrap_or("");
    if let Some(line) = &x.request_line {
        let first = request.split("\r\n").next().unwrap_or("");
        if first != line {
            return Err(format!("request line: expected {line:?}, got {first:?}"));
        }
    }
    let headers = header_lines(request);
    for h in &x.request_has {
        if !headers.contains(&h.as_str()) {
            return Err(format!("request lacks the header line {h:?}; it has {headers:?}"));
        }
    }
    for name in &x.request_lacks {
        if headers
            .iter()
            .any(|l| l.split(':').next().is_some_and(|n| n.trim().eq_ignore_ascii_case(name)))
        {
            return Err(format!("request has a {name:?} header; it should not: {headers:?}"));
        }
    }
    if let Some(order) = &x.header_order {
        let names: Vec<&str> = headers.iter().map(|l| l.split(':').next().unwrap_or("")).collect();
        if names != order.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(format!("header order: expected {order:?}, got {names:?}"));
        }
    }
    if let Some(closed) = x.client_closed {
        let got = newest.is_some_and(|c| c.client_closed);
        if got != closed {
            return Err(format!("client_closed: expected {closed}, got {got}"));
        }
    }
    let frames: Vec<_> = conns.iter().flat_map(|c| c.frames.iter()).skip(cursor).collect();
    for (i, fx) in x.frames.iter().enumerate() {
        let Some(f) = frames.get(i) else {
            return Err(format!(
                "expected frame {} from the client, saw only {} new frames",
                i + 1,
                frames.len()
            ));
        };
        let mut bad = Vec::new();
        if fx.opcode.is_some_and(|o| o != f.opcode) {
            bad.push(format!("opcode {} (expected {})", f.opcode, fx.opcode.unwrap_or_default()));
        }
        if fx.fin.is_some_and(|v| v != f.fin) {
            bad.push(format!("fin {}", f.fin));
        }
        if fx.masked.is_some_and(|v| v != f.masked) {
            bad.push(format!("masked {}", f.masked));
        }
        if fx.len.is_some_and(|v| v != f.len) {
            bad.push(format!("len {} (expected {})", f.len, fx.len.unwrap_or_default()));
        }
        if let Some(t) = &fx.text
            && t.as_bytes() != f.payload
        {
            bad.push(format!("payload {:?} (expected {t:?})", String::from_utf8_lossy(&f.payload)));
        }
        if let Some(p) = &fx.data {
            let want = p.bytes(seed, base).map_err(|e| e.to_string())?;
            if want != f.payload {
                bad.push(format!(
                    "payload sha256 {} ({} bytes), expected sha256 {} ({} bytes)",
                    sha256_hex(&f.payload),
                    f.len,
                    sha256_hex(&want),
                    want.len()
                ));
            }
        }
        if !bad.is_empty() {
            return Err(format!("client frame {}: {}", i + 1, bad.join(", ")));
        }
    }
    if x.no_more_frames && frames.len() > x.frames.len() {
        return Err(format!("expected no more frames, saw {}", frames.len() - x.frames.len()));
    }
    Ok(x.frames.len())
}

/// Removes `null` members, so summaries show only what a step sets.
fn without_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k, without_nulls(x)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(without_nulls).collect())
        }
        x => x,
    }
}

fn step_summary(step: &Step) -> String {
    let v = without_nulls(serde_json::to_value(step).unwrap_or_default());
    let mut s = String::new();
    if let Some(m) = v.as_object() {
        for (k, val) in m {
            if !val.is_null() {
                s = format!("{k}: {val}");
                break;
            }
        }
    }
    if s.chars().count() > 160 {
        s = s.chars().take(160).collect::<String>() + "…";
    }
    s
}

/// Runs one scenario to its verdict.
pub async fn run_scenario(loaded: &LoadedScenario, ctx: &RunContext) -> ScenarioReport {
    let wall0 = std::time::Instant::now();
    let sc = &loaded.scenario;
    let seed = scenario_seed(ctx.seed, &loaded.id);
    let mut report = ScenarioReport {
        id: loaded.id.clone(),
        name: sc.name.clone(),
        tags: sc.tags.clone(),
        file: loaded.file.clone(),
        verdict: Verdict::Pass,
        detail: None,
        failed_step: None,
        wall_ms: 0,
        virtual_ms: 0,
        seed,
        trace: Vec::new(),
        servers: BTreeMap::new(),
    };
    if !sc.worlds.is_empty() && !sc.worlds.contains(&ctx.world) {
        report.verdict = Verdict::Skip;
        report.detail = Some(format!(
            "runs in the {} world only, the run uses {}",
            sc.worlds.iter().map(|w| w.name()).collect::<Vec<_>>().join(", "),
            ctx.world.name()
        ));
        return report;
    }
    if !sc.profiles.is_empty() && !sc.profiles.contains(&ctx.profile) {
        report.verdict = Verdict::Skip;
        report.detail = Some(format!(
            "applies to {} only, the run uses {}",
            sc.profiles.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
            ctx.profile
        ));
        return report;
    }
    let base = loaded.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let uses_faults = !sc.faults.is_empty() || sc.steps.iter().any(|s| s.fault.is_some());
    // The world's one RNG: masks, handshake keys and every fault draw come from it.
    let rng = SharedRng::seeded(seed);
    let network = match ctx.world {
        World::Sim => Network::Sim(SimNet::new(rng.clone())),
        World::Real => Network::Real { proxied: uses_faults },
    };
    let servers = match start_servers(&sc.servers, &ctx.pki, seed, &base, &network, &rng).await {
        Ok(s) => s,
        Err(e) => {
            report.verdict = Verdict::Error;
            report.detail = Some(format!("cannot start the servers: {e}"));
            return report;
        }
    };
    let addrs = servers.iter().map(|(n, s)| (n.clone(), s.client_addr)).collect();
    let tls = servers.iter().map(|(n, s)| (n.clone(), s.handle.is_tls())).collect();
    let env = match &network {
        Network::Sim(net) => Env::with_rng(std::sync::Arc::new(net.clone()), rng),
        Network::Real { .. } => {
            Env::with_rng(std::sync::Arc::new(crate::transport::TcpConnector), rng)
        }
    };
    let mut exec = Exec {
        loaded,
        ctx,
        seed,
        base: base.clone(),
        dut: HostDut::new(env, ctx.profile),
        servers,
        addrs,
        tls,
        pending: BTreeMap::new(),
        seen: BTreeMap::new(),
        trace: Vec::new(),
        t0: Instant::now(),
        step_started: Instant::now(),
        frame_cursor: BTreeMap::new(),
        background: JoinSet::new(),
        active_faults: Vec::new(),
        fault_counter: 0,
    };
    let virtual0 = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_millis(sc.timeout_ms), async {
        exec.add_faults(&sc.faults).map_err(|s| (None, s))?;
        for (name, spec) in &sc.clients {
            let resolve = |t: &str| exec.resolve(t);
            let cfg = client_config(spec, &exec.ctx.pki, &base, &resolve)
                .map_err(|e| (None, Stop::Error(e)))?;
            let ok = exec.dut.create_client(name, &cfg);
            let t = exec.t_ms();
            exec.trace.push(TraceEntry::Call {
                t_ms: t,
                client: name.clone(),
                function: "init".into(),
                returned: i64::from(ok),
            });
        }
        for (i, step) in sc.steps.iter().enumerate() {
            let t = exec.t_ms();
            exec.trace.push(TraceEntry::Step { t_ms: t, step: i + 1, summary: step_summary(step) });
            exec.step(step).await.map_err(|s| (Some(i), s))?;
        }
        Ok::<(), (Option<usize>, Stop)>(())
    })
    .await;
    let line_of = |i: usize| loaded.step_lines.get(i).copied().unwrap_or(1);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err((step, stop))) => {
            let (verdict, msg) = match stop {
                Stop::Fail(m) => (Verdict::Fail, m),
                Stop::Error(m) => (Verdict::Error, m),
            };
            report.verdict = verdict;
            report.failed_step = step.map(|i| i + 1);
            report.detail = Some(match step {
                Some(i) => {
                    format!("step {} ({}:{}): {msg}", i + 1, loaded.file.display(), line_of(i))
                }
                None => msg,
            });
        }
        Err(_) => {
            report.verdict = Verdict::Error;
            report.detail =
                Some(format!("the scenario exceeded its bound of {} ms", sc.timeout_ms));
        }
    }
    // The trace ends with the last step; teardown is not part of it.
    exec.drain();
    report.trace = std::mem::take(&mut exec.trace);
    report.virtual_ms = virtual0.elapsed().as_millis() as u64;
    for (name, s) in exec.servers.iter_mut() {
        report.servers.insert(name.clone(), s.handle.connections());
        // Closing the servers first lets idle clients notice at once instead of at
        // the end of their 1 s poll.
        s.handle.stop();
    }
    exec.servers.clear();
    // Bounded: a client stuck in a stalled frame never stops on the device either.
    let _ = tokio::time::timeout(Duration::from_secs(15), exec.dut.shutdown()).await;
    exec.background.abort_all();
    report.wall_ms = wall0.elapsed().as_millis() as u64;
    report
}
