//! Running one scenario: its world, its steps, its verdict.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::events::{EventRecord, ScenarioReport, TraceEntry, Verdict};
use super::matcher::{mismatches, sha256_hex};
use super::world::{DutSite, FaultTarget, Network, ServerSlot, start_servers};
use crate::certs::TestPki;
use crate::dut::agent::{AgentDut, DutSpec};
use crate::dut::{
    ClientCommand, Dut, DutError, DutEvent, DutReport, HandlerCall, HostDut, ReactionSpec,
};
use crate::esp::{Env, EventId, PORT_MAX_DELAY, Profile, Sdkconfig, TickType, ms_to_ticks_at};
use crate::net::{ActiveToxic, ConnectionFault, SharedRng, SimNet};
use crate::scenario::{
    Call, CallPlan, EventExpectation, FaultEffect, LoadedScenario, MAX_EVENTS, PlanStep,
    PlannedFault, ReactionKind, ReactionPlan, SendKind, ServerActionPlan, ServerAddr,
    ServerExpectationPlan, StepAction, Timeout, World,
};
use crate::server::{ConnectionLog, ServerHandle};
use crate::transport::codes::ErrnoNumbering;

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
    /// The build options of the run (a scenario may set more).
    pub sdkconfig: Sdkconfig,
    /// The DUT: the model in this process, or an agent (real world only).
    pub dut: DutSpec,
    /// Where servers listen, what placeholders name, the external DUT's chip.
    pub site: DutSite,
}

/// The seed of one scenario: the run's seed mixed with the scenario id (FNV-1a), so a
/// scenario's randomness does not depend on which others run.
pub fn scenario_seed(run_seed: u64, id: &str) -> u64 {
    crate::text::fnv1a(run_seed, id)
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
    /// Milliseconds per FreeRTOS tick of this scenario's build.
    tick_ms: u64,
    dut: Box<dyn Dut>,
    servers: BTreeMap<String, ServerSlot>,
    addrs: BTreeMap<String, ServerAddr>,
    active_faults: Vec<PlannedFault>,
    pending: BTreeMap<String, VecDeque<DutEvent>>,
    seen: BTreeMap<String, Vec<EventRecord>>,
    trace: Vec<TraceEntry>,
    t0: Instant,
    step_started: Instant,
    frame_cursor: BTreeMap<String, usize>,
    background: JoinSet<(String, &'static str, Result<i64, DutError>)>,
    /// What each reaction's calls must return, by client and reaction number.
    reaction_returns: BTreeMap<(String, usize), i64>,
    /// The first handler call that returned something else.
    reaction_failure: Option<String>,
}

impl<'a> Exec<'a> {
    fn t_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
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

    fn record(&mut self, r: DutReport) {
        match r {
            DutReport::Event(e) => self.record_event(e),
            DutReport::Call(c) => self.record_handler_call(c),
        }
    }

    /// A call a client's handler made: traced, and checked against the reaction's
    /// `returns`.
    fn record_handler_call(&mut self, c: HandlerCall) {
        let t = self.t_ms();
        let function = format!("{} (handler, reaction {})", c.function, c.reaction);
        if let Some(&want) = self.reaction_returns.get(&(c.client.clone(), c.reaction))
            && want != c.returned
            && self.reaction_failure.is_none()
        {
            self.reaction_failure = Some(format!(
                "client.{}: reaction {}: {}() from the event handler returned {}, expected {want}\n  recent events of {}:\n{}",
                c.client,
                c.reaction,
                c.function,
                c.returned,
                c.client,
                self.recent(&c.client)
            ));
        }
        self.trace.push(TraceEntry::Call {
            t_ms: t,
            client: c.client,
            function,
            returned: c.returned,
        });
    }

    /// Fails the step when a handler's call returned what its reaction forbids.
    fn check_reactions(&mut self) -> StepResult {
        self.drain();
        match self.reaction_failure.take() {
            Some(m) => Err(Stop::Fail(m)),
            None => Ok(()),
        }
    }

    /// A planned timeout in ticks at the build's tick rate (`CONFIG_FREERTOS_HZ`).
    fn ticks(&self, t: &Timeout) -> TickType {
        t.map_or(PORT_MAX_DELAY, |ms| ms_to_ticks_at(ms, self.tick_ms))
    }

    /// The DUT's description of a planned reaction.
    fn reaction_spec(&self, r: &ReactionPlan) -> ReactionSpec {
        match &r.kind {
            ReactionKind::Call { on, call } => {
                ReactionSpec::Call { on: on.clone(), call: self.command(call) }
            }
            ReactionKind::Echo { timeout } => ReactionSpec::Echo { timeout: self.ticks(timeout) },
            ReactionKind::CloseAfter { messages, code, reason, timeout } => {
                ReactionSpec::CloseAfter {
                    messages: *messages,
                    code: *code,
                    reason: reason.produce(self.seed),
                    timeout: self.ticks(timeout),
                }
            }
        }
    }

    /// Takes in everything the DUT and background calls have produced so far.
    fn drain(&mut self) {
        while let Ok(r) = self.dut.events().try_recv() {
            self.record(r);
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
        self.loaded.plan.ignore.contains(&id)
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
                Ok(Some(r)) => self.record(r),
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

    /// The DUT command for a planned call, with its generated bytes and rendered
    /// placeholders.
    fn command(&self, call: &Call) -> ClientCommand {
        let seed = self.seed;
        let ticks = |t: &Timeout| self.ticks(t);
        match call {
            Call::Start => ClientCommand::Start,
            Call::Stop => ClientCommand::Stop,
            Call::Destroy => ClientCommand::Destroy,
            Call::DestroyOnExit => ClientCommand::DestroyOnExit,
            Call::Close { timeout } => ClientCommand::Close { timeout: ticks(timeout) },
            Call::SendFin { timeout } => ClientCommand::SendFin { timeout: ticks(timeout) },
            Call::IsConnected => ClientCommand::IsConnected,
            Call::GetPingIntervalSec => ClientCommand::GetPingIntervalSec,
            Call::GetReconnectTimeout => ClientCommand::GetReconnectTimeout,
            Call::Send { kind, data, timeout } => {
                let (data, timeout) = (data.produce(seed), ticks(timeout));
                match kind {
                    SendKind::Text => ClientCommand::SendText { data, timeout },
                    SendKind::Bin => ClientCommand::SendBin { data, timeout },
                    SendKind::TextPartial => ClientCommand::SendTextPartial { data, timeout },
                    SendKind::BinPartial => ClientCommand::SendBinPartial { data, timeout },
                    SendKind::ContMsg => ClientCommand::SendContMsg { data, timeout },
                }
            }
            Call::SendWithOpcode { opcode, data, timeout } => ClientCommand::SendWithOpcode {
                opcode: *opcode,
                data: data.produce(seed),
                timeout: ticks(timeout),
            },
            Call::CloseWithCode { code, reason, timeout } => ClientCommand::CloseWithCode {
                code: *code,
                reason: reason.produce(seed),
                timeout: ticks(timeout),
            },
            Call::SetUri(t) => ClientCommand::SetUri { uri: t.render(&self.addrs) },
            Call::SetHeaders(h) => ClientCommand::SetHeaders { headers: h.clone() },
            Call::AppendHeader { key, value } => {
                ClientCommand::AppendHeader { key: key.clone(), value: value.clone() }
            }
            Call::SetPingIntervalSec(sec) => ClientCommand::SetPingIntervalSec { sec: *sec },
            Call::SetReconnectTimeout(ms) => ClientCommand::SetReconnectTimeout { ms: *ms },
        }
    }

    async fn client_step(&mut self, calls: &[(String, CallPlan)]) -> StepResult {
        for (name, plan) in calls {
            let (cmd, returns, background) =
                (self.command(&plan.call), plan.returns, plan.background);
            let function = cmd.name();
            if background {
                let fut = self
                    .dut
                    .call_background(name, cmd)
                    .await
                    .map_err(|e| Stop::Error(e.to_string()))?;
                let n = name.clone();
                self.background.spawn(async move { (n, function, fut.await) });
                continue;
            }
            let fut = self.dut.call(name, cmd);
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
    fn add_faults(&mut self, faults: &[PlannedFault]) -> StepResult {
        self.active_faults.extend(faults.iter().cloned());
        self.push_faults()
    }

    fn push_faults(&mut self) -> StepResult {
        for (server, slot) in &self.servers {
            let mut toxics = Vec::new();
            let mut conn = ConnectionFault::default();
            for f in self.active_faults.iter().filter(|f| &f.server == server) {
                match &f.effect {
                    FaultEffect::Toxic { direction, toxic } => toxics.push(ActiveToxic {
                        name: f.name.clone(),
                        direction: *direction,
                        toxic: toxic.clone(),
                    }),
                    FaultEffect::Connection(c) => {
                        conn.refuse.extend(c.refuse.iter().copied());
                        conn.blackhole |= c.blackhole;
                    }
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

    fn server_step(&mut self, actions: &[(String, ServerActionPlan)]) -> StepResult {
        for (name, a) in actions {
            let action = a.to_action(self.seed);
            self.server(name)?.act(action).map_err(|e| Stop::Fail(e.to_string()))?;
        }
        Ok(())
    }

    async fn expect_step(&mut self, client: &str, list: &[EventExpectation]) -> StepResult {
        for x in list {
            let within = Duration::from_millis(x.within_ms);
            let deadline = Instant::now() + within;
            let Some(e) = self.next_event(client, deadline).await else {
                return Err(Stop::Fail(format!(
                    "expect.{client}: expected {} {} within {} ms, got nothing\n  recent events of {client}:\n{}",
                    x.event.name(),
                    x.shown,
                    within.as_millis(),
                    self.recent(client)
                )));
            };
            let errno = ErrnoNumbering::of_chip(self.ctx.site.chip.as_deref().unwrap_or("host"));
            let mut bad = mismatches(x, &e.event, e.digest.as_deref(), self.seed, errno);
            if let Some(min) = x.after_ms {
                let waited = self.step_started.elapsed().as_millis() as u64;
                if waited < min {
                    bad.push(format!("arrived after {waited} ms, expected at least {min} ms"));
                }
            }
            if !bad.is_empty() {
                return Err(Stop::Fail(format!(
                    "expect.{client}: expected {} {}\n  got: {}\n  mismatched: {}\n  recent events of {client}:\n{}",
                    x.event.name(),
                    x.shown,
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

    async fn server_expect_step(&mut self, name: &str, x: &ServerExpectationPlan) -> StepResult {
        let within = Duration::from_millis(x.within_ms);
        let cursor = self.frame_cursor.get(name).copied().unwrap_or(0);
        let want = ServerWants {
            x,
            request_line: x.request_line.as_ref().map(|t| t.render(&self.addrs)),
            request_has: x.request_has.iter().map(|t| t.render(&self.addrs)).collect(),
            data: x.frames.iter().map(|f| f.data.as_ref().map(|d| d.produce(self.seed))).collect(),
            prefix: x
                .frames
                .iter()
                .map(|f| f.prefix.as_ref().map(|d| d.produce(self.seed)))
                .collect(),
        };
        let check = |conns: &[ConnectionLog]| check_server(&want, conns, cursor);
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

    async fn step(&mut self, step: &PlanStep) -> StepResult {
        self.step_started = Instant::now();
        match &step.action {
            StepAction::Client(c) => self.client_step(c).await,
            StepAction::Server(s) => self.server_step(s),
            StepAction::Expect(m) => {
                for (client, xs) in m {
                    self.expect_step(client, xs).await?;
                }
                Ok(())
            }
            StepAction::Quiet(m) => {
                for (client, for_ms) in m {
                    self.quiet_step(client, *for_ms).await?;
                }
                Ok(())
            }
            StepAction::ExpectServer(m) => {
                for (name, x) in m {
                    self.server_expect_step(name, x).await?;
                }
                Ok(())
            }
            StepAction::Wait(ms) => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                self.drain();
                Ok(())
            }
            StepAction::Fault { remove, add } => {
                // Loading checked that each name is active here.
                self.active_faults.retain(|f| !remove.contains(&f.name));
                self.add_faults(add)
            }
        }
    }
}

/// A server expectation with its placeholders rendered and its payloads generated.
struct ServerWants<'a> {
    x: &'a ServerExpectationPlan,
    request_line: Option<String>,
    request_has: Vec<String>,
    data: Vec<Option<Vec<u8>>>,
    prefix: Vec<Option<Vec<u8>>>,
}

fn header_lines(request: &str) -> Vec<&str> {
    request.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect()
}

/// Checks a server expectation; on success returns how many frames it consumed.
fn check_server(w: &ServerWants, conns: &[ConnectionLog], cursor: usize) -> Result<usize, String> {
    let x = w.x;
    if let Some(n) = x.connections
        && conns.len() != n
    {
        return Err(format!("expected {n} connections, saw {}", conns.len()));
    }
    let newest = conns.last();
    let request = newest.map(|c| c.request.as_str()).unwrap_or("");
    if let Some(line) = &w.request_line {
        let first = request.split("\r\n").next().unwrap_or("");
        if first != line {
            return Err(format!("request line: expected {line:?}, got {first:?}"));
        }
    }
    let headers = header_lines(request);
    for h in &w.request_has {
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
        if let Some(want) = w.data.get(i).and_then(Option::as_ref)
            && *want != f.payload
        {
            bad.push(format!(
                "payload sha256 {} ({} bytes), expected sha256 {} ({} bytes)",
                sha256_hex(&f.payload),
                f.len,
                sha256_hex(want),
                want.len()
            ));
        }
        if let Some(want) = w.prefix.get(i).and_then(Option::as_ref)
            && !f.payload.starts_with(want)
        {
            let shown = f.payload.len().min(want.len());
            bad.push(format!(
                "payload starts {:02x?}, expected it to start {:02x?}",
                &f.payload[..shown],
                want
            ));
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

/// A server or a model task that panicked is wsim's failure, not the DUT's and never a
/// pass: the scenario errors, naming the panic, with whatever else it found kept after it.
fn blame_server_failures(report: &mut ScenarioReport, failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    let mut detail = format!("internal error in wsim: {}", failures.join("; "));
    if let Some(before) = report.detail.take() {
        detail.push_str(&format!("\n(the scenario also reported: {before})"));
    }
    report.verdict = Verdict::Error;
    report.detail = Some(detail);
}

/// An external DUT's problems (a lost link, garbled or lost lines) make the verdict an
/// error that names them; a step that already errored because of the DUT keeps its
/// detail, with the link's other problems added.
fn blame_dut(report: &mut ScenarioReport, problems: &[String]) {
    if problems.is_empty() {
        return;
    }
    let before = report.detail.take();
    let already = report.verdict == Verdict::Error
        && before.as_deref().is_some_and(|d| d.contains("the DUT"));
    let mut detail = if already {
        let rest: Vec<&str> = problems
            .iter()
            .map(String::as_str)
            .filter(|p| !p.starts_with("the DUT was lost"))
            .collect();
        let mut d = before.unwrap_or_default();
        if !rest.is_empty() {
            d.push_str(&format!("\n(the DUT's link also had: {})", rest.join("; ")));
        }
        d
    } else {
        let mut d = format!("the DUT: {}", problems.join("; "));
        if let Some(b) = before {
            d.push_str(&format!("\n(the scenario also reported: {b})"));
        }
        d
    };
    detail.shrink_to_fit();
    report.verdict = Verdict::Error;
    report.detail = Some(detail);
}

/// Connects to an external DUT for one scenario and gives it a clean session with the
/// scenario's build options, the run's CA as the global store, and the seed.
async fn open_agent(
    spec: &DutSpec,
    sdkconfig: &Sdkconfig,
    changed: &[String],
    pki: &TestPki,
    seed: u64,
    shared_pki: bool,
) -> Result<AgentDut, DutError> {
    let mut a = AgentDut::open(spec, sdkconfig.tick_period_ms()).await?;
    if shared_pki {
        a.name_certificates(pki);
    }
    let ca = pki.ca.cert_pem.clone().into_bytes();
    a.reset(changed.to_vec(), Some(&ca), seed).await?;
    Ok(a)
}

/// Runs one scenario to its verdict. A scenario with randomised numbers runs the plan
/// its seed draws (the values are in the report's `drawn`).
pub async fn run_scenario(loaded: &LoadedScenario, ctx: &RunContext) -> ScenarioReport {
    let Some(draws) = &loaded.draws else { return run_plan(loaded, ctx).await };
    let seed = scenario_seed(ctx.seed, &loaded.id);
    match draws.instantiate(seed) {
        Ok((plan, drawn)) => {
            let concrete = LoadedScenario {
                id: loaded.id.clone(),
                file: loaded.file.clone(),
                plan,
                draws: None,
            };
            let mut report = run_plan(&concrete, ctx).await;
            report.drawn = drawn;
            report
        }
        Err((why, drawn)) => ScenarioReport {
            id: loaded.id.clone(),
            name: loaded.plan.name.clone(),
            tags: loaded.plan.tags.clone(),
            file: loaded.file.clone(),
            verdict: Verdict::Error,
            detail: Some(why),
            failed_step: None,
            wall_ms: 0,
            virtual_ms: 0,
            seed,
            trace: Vec::new(),
            servers: BTreeMap::new(),
            sdkconfig: Vec::new(),
            dut_log: Vec::new(),
            drawn,
        },
    }
}

/// Runs one concrete plan to its verdict.
async fn run_plan(loaded: &LoadedScenario, ctx: &RunContext) -> ScenarioReport {
    let wall0 = std::time::Instant::now();
    let sc = &loaded.plan;
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
        sdkconfig: Vec::new(),
        dut_log: Vec::new(),
        drawn: BTreeMap::new(),
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
    if let Some((kind, why)) = sc.dut.skip_reason(ctx.dut.is_host(), ctx.site.chip.as_deref()) {
        report.verdict = Verdict::Skip;
        report.detail = Some(format!("not run on {} DUTs: {why}", kind.name()));
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
    let mut sdkconfig = ctx.sdkconfig;
    let applied = sc.sdkconfig.iter().try_for_each(|l| sdkconfig.set(l));
    report.sdkconfig = sdkconfig.changed();
    if let Err(e) = applied.and_then(|()| sdkconfig.validate()) {
        report.verdict = Verdict::Error;
        report.detail = Some(format!("the scenario's build options: {e}"));
        return report;
    }
    if let Some(build) = &ctx.site.fixed_build {
        let needs = sdkconfig.differences(build);
        if !needs.is_empty() {
            report.verdict = Verdict::Skip;
            report.detail = Some(format!(
                "needs {}: the DUT was built otherwise and cannot change build options (build it with them to run this scenario)",
                needs.join(", ")
            ));
            return report;
        }
    }
    // The world's one RNG: masks, handshake keys and every fault draw come from it.
    let rng = SharedRng::seeded(seed);
    let network = match ctx.world {
        World::Sim => Network::Sim(SimNet::new(rng.clone())),
        World::Real => Network::Real { proxied: sc.uses_faults },
    };
    // An external DUT first: one that cannot be reached costs no servers.
    let mut agent = None;
    if !ctx.dut.is_host() {
        if ctx.world != World::Real {
            report.verdict = Verdict::Error;
            report.detail = Some(format!("the DUT {} runs in the real world only", ctx.dut));
            return report;
        }
        match open_agent(
            &ctx.dut,
            &sdkconfig,
            &report.sdkconfig,
            &ctx.pki,
            seed,
            ctx.site.shared_pki,
        )
        .await
        {
            Ok(a) => agent = Some(a),
            Err(e) => {
                report.verdict = Verdict::Error;
                report.detail = Some(e.to_string());
                return report;
            }
        }
    }
    let servers = match start_servers(&sc.servers, &ctx.pki, seed, &network, &rng, &ctx.site).await
    {
        Ok(s) => s,
        Err(e) => {
            report.verdict = Verdict::Error;
            report.detail = Some(format!("cannot start the servers: {e}"));
            return report;
        }
    };
    let addrs = servers
        .iter()
        .map(|(n, s)| {
            let host = match ctx.world {
                World::Real => ctx.site.advertise.clone(),
                World::Sim => None,
            };
            (n.clone(), ServerAddr { addr: s.client_addr, tls: s.handle.is_tls(), host })
        })
        .collect();
    let env = match &network {
        Network::Sim(net) => Env::with_rng(std::sync::Arc::new(net.clone()), rng),
        Network::Real { .. } => {
            Env::with_rng(std::sync::Arc::new(crate::transport::TcpConnector), rng)
        }
    }
    .with_sdkconfig(sdkconfig);
    let mut exec = Exec {
        loaded,
        ctx,
        seed,
        tick_ms: sdkconfig.tick_period_ms(),
        dut: match agent {
            Some(a) => Box::new(a),
            None => Box::new(HostDut::new(env, ctx.profile)),
        },
        servers,
        addrs,
        pending: BTreeMap::new(),
        seen: BTreeMap::new(),
        trace: Vec::new(),
        t0: Instant::now(),
        step_started: Instant::now(),
        frame_cursor: BTreeMap::new(),
        background: JoinSet::new(),
        active_faults: Vec::new(),
        reaction_returns: BTreeMap::new(),
        reaction_failure: None,
    };
    exec.dut.set_event_limit(MAX_EVENTS);
    let virtual0 = Instant::now();
    let mut overflow = exec.dut.overflow();
    let body = tokio::time::timeout(Duration::from_millis(sc.timeout_ms), async {
        exec.add_faults(&sc.faults).map_err(|s| (None, s))?;
        for (name, spec) in &sc.clients {
            let cfg = spec.config(&exec.ctx.pki, &exec.addrs);
            let reactions: Vec<ReactionSpec> =
                spec.reactions.iter().map(|r| exec.reaction_spec(r)).collect();
            for (i, r) in spec.reactions.iter().enumerate() {
                if let Some(want) = r.returns {
                    exec.reaction_returns.insert((name.clone(), i + 1), want);
                }
            }
            let ok = exec
                .dut
                .create_client(name, &cfg, &reactions)
                .await
                .map_err(|e| (None, Stop::Error(format!("init of client {name:?}: {e}"))))?;
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
            exec.trace.push(TraceEntry::Step {
                t_ms: t,
                step: i + 1,
                summary: step.summary.clone(),
            });
            if let Err(stop) = exec.step(step).await {
                // A handler call that returned the unexpected often explains the rest.
                exec.drain();
                let stop = match (exec.reaction_failure.take(), stop) {
                    (Some(r), Stop::Fail(m)) => Stop::Fail(format!("{r}\n  then: {m}")),
                    (_, stop) => stop,
                };
                return Err((Some(i), stop));
            }
            exec.check_reactions().map_err(|s| (Some(i), s))?;
        }
        Ok::<(), (Option<usize>, Stop)>(())
    });
    // A client that raised too many events ends the scenario: nothing else would, if
    // it loops with a peer at no virtual cost while the clock stands.
    let outcome = tokio::select! {
        biased;
        Ok(_) = overflow.wait_for(|v| *v) => None,
        r = body => Some(r),
    };
    let line_of = |i: usize| sc.steps.get(i).map_or(1, |s| s.line);
    match outcome {
        None => {
            report.verdict = Verdict::Error;
            report.detail = Some(format!(
                "the clients raised more than {MAX_EVENTS} events; a client and a server (or a handler) that answer each other at no virtual cost loop forever"
            ));
        }
        Some(Ok(Ok(()))) => {}
        Some(Ok(Err((step, stop)))) => {
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
        Some(Err(_)) => {
            report.verdict = Verdict::Error;
            report.detail =
                Some(format!("the scenario exceeded its bound of {} ms", sc.timeout_ms));
        }
    }
    // The trace ends with the last step; teardown is not part of it.
    exec.drain();
    report.trace = std::mem::take(&mut exec.trace);
    report.virtual_ms = virtual0.elapsed().as_millis() as u64;
    let mut failures: Vec<String> =
        exec.servers.values().filter_map(|s| s.handle.failure()).collect();
    if ctx.dut.is_host() {
        failures.extend(exec.dut.failures());
    } else {
        blame_dut(&mut report, &exec.dut.failures());
        report.dut_log = exec.dut.log();
    }
    blame_server_failures(&mut report, &failures);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(verdict: Verdict, detail: Option<&str>) -> ScenarioReport {
        ScenarioReport {
            id: "x".into(),
            name: "x".into(),
            tags: Vec::new(),
            file: "x.toml".into(),
            verdict,
            detail: detail.map(str::to_string),
            failed_step: None,
            wall_ms: 0,
            virtual_ms: 0,
            seed: 1,
            trace: Vec::new(),
            servers: BTreeMap::new(),
            sdkconfig: Vec::new(),
            dut_log: Vec::new(),
            drawn: BTreeMap::new(),
        }
    }

    #[test]
    fn dut_problems_make_an_error_without_repeating_a_lost_link() {
        let mut r = report(Verdict::Pass, None);
        blame_dut(&mut r, &[]);
        assert_eq!(r.verdict, Verdict::Pass);
        blame_dut(&mut r, &["2 garbled line(s) from the DUT".into()]);
        assert_eq!(r.verdict, Verdict::Error);
        assert_eq!(r.detail.as_deref(), Some("the DUT: 2 garbled line(s) from the DUT"));
        let mut r = report(Verdict::Error, Some("step 2: the DUT is unreachable: gone"));
        blame_dut(&mut r, &["the DUT was lost: gone".into(), "1 gap(s)".into()]);
        let d = r.detail.unwrap();
        assert!(d.starts_with("step 2: the DUT is unreachable: gone"), "{d}");
        assert!(d.contains("1 gap(s)") && !d.contains("was lost"), "{d}");
        let mut r = report(Verdict::Fail, Some("expect.a: expected connected"));
        blame_dut(&mut r, &["the DUT was lost: gone".into()]);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.detail
                .unwrap()
                .contains("the DUT was lost: gone\n(the scenario also reported: expect.a")
        );
    }

    #[test]
    fn a_server_panic_turns_a_pass_or_a_failure_into_an_error() {
        let mut r = report(Verdict::Pass, None);
        blame_server_failures(&mut r, &[]);
        assert_eq!(r.verdict, Verdict::Pass);
        blame_server_failures(&mut r, &["server \"main\", connection 1 panicked: boom".into()]);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.detail.as_deref().unwrap().contains("connection 1 panicked: boom"));
        let mut r = report(Verdict::Fail, Some("expect.a: expected connected"));
        blame_server_failures(&mut r, &["server \"main\" accept loop panicked: x".into()]);
        assert_eq!(r.verdict, Verdict::Error);
        let d = r.detail.unwrap();
        assert!(d.contains("accept loop panicked") && d.contains("expected connected"), "{d}");
    }
}
