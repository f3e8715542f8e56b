//! Lowering a parsed scenario file into a [`Plan`]: every check that can be done
//! before running is done here, once, and every problem carries the key path it was
//! found at (the loader turns it into a line and column).

use std::collections::BTreeSet;
use std::path::Path;

use super::files::read_data_file;
use super::limits::{
    self, MAX_BUFFER_SIZE, MAX_PAD_BYTES, MAX_PAYLOAD_BYTES, MAX_SCENARIO_PAYLOAD_BYTES, MAX_STEPS,
};
use super::locate::KeyPath;
use super::model::{
    CallSpec, CertRef, ClientCall, ClientSpec, CloseFrame, Expectation, FaultSpec,
    FrameExpectation, FrameSpec, HandshakeSpec, PortSpec, ReactionEntry, Scenario, ServerAction,
    ServerExpectation, ServerKindName, ServerSpec, SimpleCommand, Step,
};
use super::payload::{Payload, PayloadGen, parse_hex};
use super::plan::*;
use super::template::Template;
use crate::esp::{Config, Sdkconfig};
use crate::net::Toxic;
use crate::server::HandshakeReply;

/// A problem found while lowering: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Where in the document.
    pub path: KeyPath,
    /// What was wrong and what was expected.
    pub message: String,
}

type R<T> = Result<T, Invalid>;

fn bad<T>(path: &KeyPath, message: impl Into<String>) -> R<T> {
    Err(Invalid { path: path.clone(), message: message.into() })
}

/// Attaches a path to a plain message.
trait At<T> {
    fn at(self, path: &KeyPath) -> R<T>;
}

impl<T> At<T> for Result<T, String> {
    fn at(self, path: &KeyPath) -> R<T> {
        self.map_err(|message| Invalid { path: path.clone(), message })
    }
}

/// Stream numbers of keyed random payloads have the top bit set, so they never meet
/// the counter of unkeyed ones.
const KEYED_STREAM: u64 = 1 << 63;

fn key_stream(key: &str) -> u64 {
    crate::text::fnv1a(0, key) | KEYED_STREAM
}

struct Lowerer<'a> {
    base: &'a Path,
    /// Declared server names, sorted (from the file's ordered map).
    servers: Vec<&'a str>,
    /// Declared client names, sorted.
    clients: Vec<&'a str>,
    payload_total: usize,
    random_streams: u64,
    fault_count: usize,
    active_faults: BTreeSet<String>,
}

/// Lowers `s`; `base` is the scenario's folder (for `file` payloads and certificates).
pub fn lower(s: &Scenario, base: &Path, step_lines: &[usize]) -> R<Plan> {
    let root = KeyPath::default();
    let mut l = Lowerer {
        base,
        servers: s.servers.keys().map(String::as_str).collect(),
        clients: s.clients.keys().map(String::as_str).collect(),
        payload_total: 0,
        random_streams: 0,
        fault_count: 0,
        active_faults: BTreeSet::new(),
    };
    if s.clients.is_empty() {
        return bad(&root, "a scenario needs at least one client under [clients]");
    }
    if s.steps.is_empty() {
        return bad(&root, "a scenario needs at least one [[steps]] entry");
    }
    for (key, n) in [("servers", s.servers.len()), ("clients", s.clients.len())] {
        if n > limits::MAX_INSTANCES {
            return bad(
                &root.key(key),
                format!("{n} {key}, more than the limit of {}", limits::MAX_INSTANCES),
            );
        }
    }
    if s.steps.len() > MAX_STEPS {
        return bad(
            &root.key("steps"),
            format!("{} steps, more than the limit of {MAX_STEPS}", s.steps.len()),
        );
    }
    if s.timeout_ms == 0 {
        return bad(&root.key("timeout_ms"), "timeout_ms must be at least 1");
    }
    let timeout_ms = limits::time_ms("timeout_ms", s.timeout_ms).at(&root.key("timeout_ms"))?;
    let mut sdkconfig = Vec::new();
    for (key, value) in &s.sdkconfig {
        let line = format!("{key}={}", value.as_line_value());
        let at = root.key("sdkconfig").key(key);
        let mut probe = Sdkconfig::default();
        probe.set(&line).map_err(|e| e.to_string()).at(&at)?;
        // The rules that hold whatever the run sets (the tick rate's range); the
        // dependency of SKIP_SERVER_CERT_VERIFY on INSECURE is checked with the run's.
        if !(1..=1000).contains(&probe.freertos_hz) {
            return bad(
                &at,
                format!("CONFIG_FREERTOS_HZ = {} is outside 1-1000", probe.freertos_hz),
            );
        }
        sdkconfig.push(line);
    }
    let mut servers = std::collections::BTreeMap::new();
    for (name, spec) in &s.servers {
        servers.insert(name.clone(), l.server(name, spec, &root.key("servers").key(name))?);
    }
    let mut clients = std::collections::BTreeMap::new();
    for (name, spec) in &s.clients {
        clients.insert(name.clone(), l.client(spec, &root.key("clients").key(name))?);
    }
    limits::list("faults", &s.faults).at(&root.key("faults"))?;
    let mut faults = Vec::new();
    for (i, f) in s.faults.iter().enumerate() {
        faults.push(l.fault(f, &root.key("faults").index(i))?);
    }
    let mut uses_faults = !faults.is_empty();
    let mut steps = Vec::with_capacity(s.steps.len());
    for (i, step) in s.steps.iter().enumerate() {
        let p = root.key("steps").index(i);
        let action = l.step(step, timeout_ms, &p).map_err(|mut e| {
            e.message = format!("step {}: {}", i + 1, e.message);
            e
        })?;
        uses_faults |= matches!(action, StepAction::Fault { .. });
        steps.push(PlanStep {
            line: step_lines.get(i).copied().unwrap_or(1),
            summary: step_summary(step),
            action,
        });
    }
    Ok(Plan {
        name: s.name.clone(),
        description: s.description.clone(),
        tags: s.tags.clone(),
        profiles: s.profiles.clone(),
        worlds: s.worlds.clone(),
        dut: s.dut.clone(),
        timeout_ms,
        ignore: s.ignore.clone(),
        sdkconfig,
        faults,
        uses_faults,
        servers,
        clients,
        steps,
    })
}

fn exactly_one(path: &KeyPath, what: &str, keys: &[(&str, bool)]) -> R<usize> {
    let set: Vec<&str> = keys.iter().filter(|(_, b)| *b).map(|(k, _)| *k).collect();
    if set.len() != 1 {
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        return bad(
            path,
            format!(
                "{what} needs exactly one of {} (found {})",
                names.join(", "),
                if set.is_empty() { "none".to_string() } else { set.join(", ") }
            ),
        );
    }
    Ok(keys.iter().position(|(_, b)| *b).unwrap_or(0))
}

impl Lowerer<'_> {
    fn template(&self, text: &str, path: &KeyPath) -> R<Template> {
        Template::parse(text, &self.servers).at(path)
    }

    fn known_server(&self, name: &str, path: &KeyPath) -> R<()> {
        if self.servers.binary_search(&name).is_ok() {
            Ok(())
        } else {
            bad(path, format!("unknown server {name:?}; the scenario defines {:?}", self.servers))
        }
    }

    fn known_client(&self, name: &str, path: &KeyPath) -> R<()> {
        if self.clients.binary_search(&name).is_ok() {
            Ok(())
        } else {
            bad(path, format!("unknown client {name:?}; the scenario defines {:?}", self.clients))
        }
    }

    fn count(&mut self, len: usize, path: &KeyPath) -> R<()> {
        if len > MAX_PAYLOAD_BYTES {
            return bad(
                path,
                format!("a payload of {len} bytes exceeds the limit of {MAX_PAYLOAD_BYTES}"),
            );
        }
        self.payload_total = self.payload_total.saturating_add(len);
        if self.payload_total > MAX_SCENARIO_PAYLOAD_BYTES {
            return bad(
                path,
                format!(
                    "the scenario's payloads add up to more than the limit of {MAX_SCENARIO_PAYLOAD_BYTES} bytes"
                ),
            );
        }
        Ok(())
    }

    /// The bytes of a payload. In an expectation (`expected`), a random payload must
    /// carry the `key` of the one it stands for: fresh random bytes match nothing.
    fn bytes(&mut self, p: &Payload, path: &KeyPath, expected: bool) -> R<Bytes> {
        let b = match p {
            Payload::Text(t) => Bytes::fixed(t.as_bytes()),
            Payload::Gen(g) => self.generated(g, path, expected)?,
        };
        self.count(b.len(), path)?;
        Ok(b)
    }

    fn generated(&mut self, g: &PayloadGen, path: &KeyPath, expected: bool) -> R<Bytes> {
        if g.key.is_some() && g.random.is_none() {
            return bad(path, "`key` goes with `random`");
        }
        if let Some(t) = &g.text {
            Ok(Bytes::fixed(t.as_bytes()))
        } else if let (Some(p), Some(len)) = (&g.repeat, g.len) {
            if len > MAX_PAYLOAD_BYTES {
                return bad(
                    &path.key("len"),
                    format!("len = {len} exceeds the payload limit of {MAX_PAYLOAD_BYTES}"),
                );
            }
            Ok(Bytes::Repeat { pattern: p.as_bytes().to_vec().into(), len })
        } else if let Some(len) = g.random {
            if len > MAX_PAYLOAD_BYTES {
                return bad(
                    &path.key("random"),
                    format!("random = {len} exceeds the payload limit of {MAX_PAYLOAD_BYTES}"),
                );
            }
            let stream = match &g.key {
                Some(k) => key_stream(k),
                None if expected => {
                    return bad(
                        path,
                        "an expected `random` payload needs the `key` of the payload it stands for (give both the same `key`), or use `sha256`",
                    );
                }
                None => {
                    self.random_streams += 1;
                    self.random_streams
                }
            };
            Ok(Bytes::Random { len, stream })
        } else if let Some(h) = &g.hex {
            Ok(Bytes::fixed(parse_hex(h).map_err(|e| e.to_string()).at(path)?))
        } else if let Some(f) = &g.file {
            Ok(Bytes::fixed(read_data_file(self.base, f).at(&path.key("file"))?))
        } else {
            bad(path, "an empty payload table")
        }
    }

    fn opt_bytes(&mut self, p: &Option<Payload>, path: &KeyPath, expected: bool) -> R<Bytes> {
        match p {
            Some(p) => self.bytes(p, path, expected),
            None => Ok(Bytes::fixed(Vec::new())),
        }
    }

    fn frame(&mut self, f: &FrameSpec, path: &KeyPath) -> R<FramePlan> {
        let which = exactly_one(
            path,
            "a frame",
            &[
                ("text", f.text.is_some()),
                ("binary", f.binary.is_some()),
                ("cont", f.cont.is_some()),
                ("ping", f.ping.is_some()),
                ("pong", f.pong.is_some()),
                ("close", f.close.is_some()),
                ("opcode", f.opcode.is_some()),
            ],
        )?;
        if f.data.is_some() && f.opcode.is_none() {
            return bad(&path.key("data"), "`data` goes with `opcode`");
        }
        if f.rsv > 7 {
            return bad(&path.key("rsv"), format!("rsv = {} but the RSV bits are 0-7", f.rsv));
        }
        let (opcode, payload) = match which {
            0 => (0x1, self.opt_bytes(&f.text, &path.key("text"), false)?),
            1 => (0x2, self.opt_bytes(&f.binary, &path.key("binary"), false)?),
            2 => (0x0, self.opt_bytes(&f.cont, &path.key("cont"), false)?),
            3 => (0x9, self.opt_bytes(&f.ping, &path.key("ping"), false)?),
            4 => (0xA, self.opt_bytes(&f.pong, &path.key("pong"), false)?),
            5 => (0x8, self.close_payload(f.close.as_ref(), &path.key("close"))?),
            _ => {
                let op = f.opcode.unwrap_or_default();
                if op > 15 {
                    return bad(&path.key("opcode"), format!("opcode = {op} but opcodes are 0-15"));
                }
                (op, self.opt_bytes(&f.data, &path.key("data"), false)?)
            }
        };
        Ok(FramePlan {
            opcode,
            fin: f.fin.unwrap_or(true),
            rsv: f.rsv,
            mask: f.mask,
            length: f.length,
            payload,
        })
    }

    fn close_payload(&mut self, c: Option<&CloseFrame>, path: &KeyPath) -> R<Bytes> {
        let Some(c) = c else { return Ok(Bytes::fixed(Vec::new())) };
        match (&c.data, c.code, &c.reason) {
            (Some(d), None, None) => self.bytes(d, &path.key("data"), false),
            (Some(_), _, _) => bad(path, "a CLOSE takes `data` or `code` (+ `reason`), not both"),
            (None, Some(code), reason) => {
                let mut v = code.to_be_bytes().to_vec();
                v.extend_from_slice(reason.as_deref().unwrap_or("").as_bytes());
                self.count(v.len(), path)?;
                Ok(Bytes::fixed(v))
            }
            (None, None, Some(_)) => bad(&path.key("reason"), "a close `reason` needs a `code`"),
            (None, None, None) => Ok(Bytes::fixed(Vec::new())),
        }
    }

    fn server(&mut self, name: &str, spec: &ServerSpec, path: &KeyPath) -> R<ServerPlan> {
        let script_only = [
            ("handshake", spec.handshake.is_some()),
            ("handshakes", !spec.handshakes.is_empty()),
            ("echo", spec.echo),
            ("reply_ping", !spec.reply_ping),
            ("reply_close", !spec.reply_close),
        ];
        let kind = match spec.kind {
            ServerKindName::Echo => {
                if let Some((k, _)) = script_only.iter().find(|(_, set)| *set) {
                    return bad(
                        &path.key(k),
                        format!(
                            "server {name:?}: `{k}` is for scripted servers (kind = \"script\")"
                        ),
                    );
                }
                ServerKindPlan::Echo(spec.subprotocol.clone())
            }
            ServerKindName::Script => {
                if spec.subprotocol != Default::default() {
                    return bad(
                        &path.key("subprotocol"),
                        format!("server {name:?}: `subprotocol` is for echo servers"),
                    );
                }
                if spec.handshake.is_some() && !spec.handshakes.is_empty() {
                    return bad(
                        path,
                        format!("server {name:?}: use `handshake` or `handshakes`, not both"),
                    );
                }
                limits::list("handshakes", &spec.handshakes).at(&path.key("handshakes"))?;
                let mut handshakes = Vec::new();
                if let Some(h) = &spec.handshake {
                    handshakes.push(self.handshake(h, &path.key("handshake"))?);
                }
                for (i, h) in spec.handshakes.iter().enumerate() {
                    handshakes.push(self.handshake(h, &path.key("handshakes").index(i))?);
                }
                ServerKindPlan::Script(ScriptPlan {
                    handshakes,
                    reply_ping: spec.reply_ping,
                    reply_close: spec.reply_close,
                    echo: spec.echo,
                })
            }
        };
        Ok(ServerPlan { kind, tls: spec.tls, mtls: spec.mtls, port: spec.port })
    }

    fn handshake(&mut self, h: &HandshakeSpec, path: &KeyPath) -> R<HandshakePlan> {
        limits::at_most("pad", h.pad, MAX_PAD_BYTES).at(&path.key("pad"))?;
        limits::list("split", &h.split).at(&path.key("split"))?;
        for (i, &n) in h.split.iter().enumerate() {
            limits::at_most("a split piece", n, MAX_PAYLOAD_BYTES)
                .at(&path.key("split").index(i))?;
        }
        limits::time_ms("delay_ms", h.delay_ms).at(&path.key("delay_ms"))?;
        limits::list("headers", &h.headers).at(&path.key("headers"))?;
        limits::list("trailing", &h.trailing).at(&path.key("trailing"))?;
        let location =
            h.location.as_deref().map(|l| self.template(l, &path.key("location"))).transpose()?;
        let mut trailing = Vec::new();
        for (i, f) in h.trailing.iter().enumerate() {
            trailing.push(self.frame(f, &path.key("trailing").index(i))?);
        }
        self.count(h.pad, &path.key("pad"))?;
        Ok(HandshakePlan {
            reply: HandshakeReply {
                status: h.status.unwrap_or(101),
                reason: h.reason.clone(),
                accept: h.accept.clone(),
                headers: h.headers.clone(),
                location: None,
                pad: h.pad,
                split: h.split.clone(),
                delay_ms: h.delay_ms,
                close_after: h.close_after,
                trailing: Vec::new(),
            },
            location,
            trailing,
        })
    }

    fn cert(&mut self, r: &CertRef, path: &KeyPath) -> R<CertPlan> {
        match r {
            CertRef::Named(n) => PkiMember::from_name(n).map(CertPlan::Pki).ok_or_else(|| Invalid {
                path: path.clone(),
                message: format!(
                    "unknown certificate {n:?}: expected ca, untrusted-ca, server, expired, wrong-host, untrusted, self-signed, client, or {{ file = … }}"
                ),
            }),
            CertRef::File { file } => {
                let b = read_data_file(self.base, file).at(&path.key("file"))?;
                self.count(b.len(), path)?;
                Ok(CertPlan::File(b))
            }
        }
    }

    fn client(&mut self, spec: &ClientSpec, path: &KeyPath) -> R<ClientPlan> {
        let t = |l: &Self, v: &Option<String>, k: &str| {
            v.as_deref().map(|x| l.template(x, &path.key(k))).transpose()
        };
        let uri = t(self, &spec.uri, "uri")?;
        let host = t(self, &spec.host, "host")?;
        let port = match &spec.port {
            None => PortPlan::Number(0),
            Some(PortSpec::Number(n)) => PortPlan::Number(*n),
            Some(PortSpec::Text(text)) => {
                let p = path.key("port");
                match text.trim().parse::<i32>() {
                    Ok(n) => PortPlan::Number(n),
                    Err(_) => {
                        let tpl = self.template(text, &p)?;
                        if !tpl.is_port() {
                            return bad(
                                &p,
                                format!(
                                    "port {text:?}: expected a number or one {{server.port}} placeholder"
                                ),
                            );
                        }
                        PortPlan::Server(tpl)
                    }
                }
            }
        };
        limits::at_most("buffer_size", spec.buffer_size, MAX_BUFFER_SIZE)
            .at(&path.key("buffer_size"))?;
        let secs = |v: i64, k: &str| {
            limits::at_most(k, v, (limits::MAX_TIME_MS / 1000) as i64)
                .map_err(|e| format!("{e} s (24 hours)"))
                .at(&path.key(k))
        };
        let millis = |v: i32, k: &str| {
            limits::at_most(k, i64::from(v), limits::MAX_TIME_MS as i64)
                .map_err(|e| format!("{e} ms (24 hours)"))
                .at(&path.key(k))
        };
        secs(spec.ping_interval_sec.try_into().unwrap_or(i64::MAX), "ping_interval_sec")?;
        secs(i64::from(spec.pingpong_timeout_sec), "pingpong_timeout_sec")?;
        secs(i64::from(spec.keep_alive_idle), "keep_alive_idle")?;
        secs(i64::from(spec.keep_alive_interval), "keep_alive_interval")?;
        millis(spec.reconnect_timeout_ms, "reconnect_timeout_ms")?;
        millis(spec.network_timeout_ms, "network_timeout_ms")?;
        let cert_pem =
            spec.cert_pem.as_ref().map(|r| self.cert(r, &path.key("cert_pem"))).transpose()?;
        if spec.cert_der && cert_pem.is_none() {
            return bad(&path.key("cert_der"), "cert_der = true needs a cert_pem");
        }
        let client_cert = spec
            .client_cert
            .as_ref()
            .map(|r| self.cert(r, &path.key("client_cert")))
            .transpose()?;
        let client_key =
            spec.client_key.as_ref().map(|r| self.cert(r, &path.key("client_key"))).transpose()?;
        let config = Config {
            username: spec.username.clone(),
            password: spec.password.clone(),
            path: spec.path.clone(),
            disable_auto_reconnect: spec.disable_auto_reconnect,
            enable_close_reconnect: spec.enable_close_reconnect,
            user_context: spec.user_context,
            task_prio: spec.task_prio,
            task_name: spec.task_name.clone(),
            task_stack: spec.task_stack,
            task_core_id: spec.task_core_id,
            buffer_size: spec.buffer_size,
            transport: spec.transport,
            subprotocol: spec.subprotocol.clone(),
            user_agent: spec.user_agent.clone(),
            headers: spec.headers.clone(),
            pingpong_timeout_sec: spec.pingpong_timeout_sec,
            disable_pingpong_discon: spec.disable_pingpong_discon,
            use_global_ca_store: spec.use_global_ca_store,
            cert_common_name: spec.cert_common_name.clone(),
            skip_cert_common_name_check: spec.skip_cert_common_name_check,
            keep_alive_enable: spec.keep_alive_enable,
            keep_alive_idle: spec.keep_alive_idle,
            keep_alive_interval: spec.keep_alive_interval,
            keep_alive_count: spec.keep_alive_count,
            reconnect_timeout_ms: spec.reconnect_timeout_ms,
            network_timeout_ms: spec.network_timeout_ms,
            ping_interval_sec: spec.ping_interval_sec,
            ..Config::default()
        };
        limits::list("reactions", &spec.reactions).at(&path.key("reactions"))?;
        let mut reactions = Vec::new();
        for (i, r) in spec.reactions.iter().enumerate() {
            reactions.push(self.reaction(r, &path.key("reactions").index(i))?);
        }
        Ok(ClientPlan {
            reactions,
            config,
            uri,
            host,
            port,
            cert_pem,
            cert_der: spec.cert_der,
            client_cert,
            client_key,
        })
    }

    fn reaction(&mut self, r: &ReactionEntry, path: &KeyPath) -> R<ReactionPlan> {
        let which = exactly_one(
            path,
            "a reaction",
            &[
                ("reply", r.reply.is_some()),
                ("echo", r.echo),
                ("close_after", r.close_after.is_some()),
            ],
        )?;
        if which != 0 && r.on.is_some() {
            return bad(&path.key("on"), "`on` goes with `reply`");
        }
        if which != 1 && r.timeout_ms.is_some() {
            return bad(
                &path.key("timeout_ms"),
                "`timeout_ms` here is for `echo`; a `reply` or `close_after` takes its own",
            );
        }
        let ticks = |ms: Option<u64>, p: &KeyPath| -> R<Timeout> {
            Ok(match ms {
                None => None,
                Some(ms) => Some(limits::time_ms("timeout_ms", ms).at(p)?),
            })
        };
        Ok(match which {
            0 => {
                let p = path.key("on");
                let Some(on) = &r.on else {
                    return bad(path, "a `reply` needs `on`: the event it answers");
                };
                let Some(event) = on.event else {
                    return bad(&p, "`on` names its `event`");
                };
                if on.op_code.is_some_and(|o| o > 15) {
                    return bad(&p.key("op_code"), "opcodes are 0-15");
                }
                let pr = path.key("reply");
                let Some(reply) = &r.reply else { return bad(&pr, "missing") };
                let plan = self.call(reply, &pr)?;
                if plan.background {
                    return bad(
                        &pr.key("background"),
                        "a handler's call runs in the client task: `background` does not apply",
                    );
                }
                if !handler_call(&plan.call) {
                    return bad(
                        &pr,
                        "a handler can reply with a send (send_text, send_bin, send_text_partial, send_bin_partial, send_cont_msg, send_with_opcode, send_fin), close, close_with_code, stop, destroy or is_connected",
                    );
                }
                ReactionPlan {
                    kind: ReactionKind::Call {
                        on: EventMatch {
                            event,
                            op_code: on.op_code,
                            fin: on.fin,
                            data_len: on.data_len,
                            payload_len: on.payload_len,
                            payload_offset: on.payload_offset,
                            text: on.text.clone(),
                        },
                        call: plan.call,
                    },
                    returns: plan.returns,
                }
            }
            1 => ReactionPlan {
                kind: ReactionKind::Echo { timeout: ticks(r.timeout_ms, &path.key("timeout_ms"))? },
                returns: None,
            },
            _ => {
                let p = path.key("close_after");
                let Some(c) = &r.close_after else { return bad(&p, "missing") };
                if c.messages == 0 {
                    return bad(&p.key("messages"), "messages counts from 1");
                }
                ReactionPlan {
                    kind: ReactionKind::CloseAfter {
                        messages: c.messages,
                        code: c.code,
                        reason: self.opt_bytes(&c.reason, &p.key("reason"), false)?,
                        timeout: ticks(c.timeout_ms, &p.key("timeout_ms"))?,
                    },
                    returns: c.returns,
                }
            }
        })
    }

    fn toxic(&self, t: &Toxic, path: &KeyPath) -> R<()> {
        let time = |field: &str, v: u64| limits::time_ms(field, v).at(&path.key(field)).map(|_| ());
        match t {
            Toxic::Latency { latency_ms, jitter_ms } => {
                time("latency_ms", *latency_ms)?;
                time("jitter_ms", *jitter_ms)
            }
            Toxic::Bandwidth { rate_kbps } if *rate_kbps == 0 => {
                bad(&path.key("rate_kbps"), "bandwidth: rate_kbps must be at least 1")
            }
            Toxic::Bandwidth { rate_kbps } => {
                limits::at_most("rate_kbps", *rate_kbps, limits::MAX_RATE_KBPS)
                    .at(&path.key("rate_kbps"))
                    .map(|_| ())
            }
            Toxic::Slicer { average_size, size_variation, delay_us } => {
                if *average_size == 0 {
                    return bad(
                        &path.key("average_size"),
                        "slicer: average_size must be at least 1",
                    );
                }
                limits::at_most("average_size", *average_size, MAX_PAYLOAD_BYTES)
                    .at(&path.key("average_size"))?;
                limits::at_most("size_variation", *size_variation, *average_size)
                    .map_err(|e| format!("slicer: {e} (average_size)"))
                    .at(&path.key("size_variation"))?;
                time("delay_us", delay_us / 1000)
            }
            Toxic::LimitData { .. } | Toxic::Down => Ok(()),
            Toxic::ResetPeer { timeout_ms } | Toxic::Timeout { timeout_ms } => {
                time("timeout_ms", *timeout_ms)
            }
            Toxic::SlowClose { delay_ms } => time("delay_ms", *delay_ms),
            Toxic::Frames(f) => {
                limits::list("suppress", &f.suppress).at(&path.key("suppress"))?;
                time("delay_ms", f.delay_ms)?;
                if let Some(i) = &f.inject {
                    let p = path.key("inject").key("hex");
                    let b = parse_hex(&i.hex).map_err(|e| e.to_string()).at(&p)?;
                    limits::at_most("inject.hex bytes", b.len(), MAX_PAYLOAD_BYTES).at(&p)?;
                }
                Ok(())
            }
        }
    }

    fn fault(&mut self, f: &FaultSpec, path: &KeyPath) -> R<PlannedFault> {
        self.known_server(&f.server, &path.key("server"))?;
        exactly_one(
            path,
            "a fault",
            &[("toxic", f.toxic.is_some()), ("connection", f.connection.is_some())],
        )?;
        let effect = match (&f.toxic, &f.connection) {
            (Some(t), _) => {
                self.toxic(t, &path.key("toxic"))?;
                FaultEffect::Toxic { direction: f.direction, toxic: t.clone() }
            }
            (None, Some(c)) => {
                limits::list("refuse", &c.refuse).at(&path.key("connection").key("refuse"))?;
                if c.refuse.contains(&0) {
                    return bad(
                        &path.key("connection").key("refuse"),
                        "refuse counts connection attempts from 1",
                    );
                }
                FaultEffect::Connection(c.clone())
            }
            (None, None) => return bad(path, "a fault needs one of toxic, connection"),
        };
        self.fault_count += 1;
        let name = f.name.clone().unwrap_or_else(|| format!("fault-{}", self.fault_count));
        if !self.active_faults.insert(name.clone()) {
            return bad(&path.key("name"), format!("a fault named {name:?} is already active"));
        }
        Ok(PlannedFault { name, server: f.server.clone(), effect })
    }

    fn step(&mut self, step: &Step, timeout_ms: u64, path: &KeyPath) -> R<StepAction> {
        let which = exactly_one(
            path,
            "a step",
            &[
                ("client", step.client.is_some()),
                ("server", step.server.is_some()),
                ("expect", step.expect.is_some()),
                ("expect_none", step.expect_none.is_some()),
                ("expect_server", step.expect_server.is_some()),
                ("wait_ms", step.wait_ms.is_some()),
                ("fault", step.fault.is_some()),
            ],
        )?;
        Ok(match which {
            0 => {
                let mut calls = Vec::new();
                for (n, c) in step.client.iter().flatten() {
                    let p = path.key("client").key(n);
                    self.known_client(n, &p)?;
                    calls.push((n.clone(), self.call(c, &p)?));
                }
                StepAction::Client(calls)
            }
            1 => {
                let mut acts = Vec::new();
                for (n, a) in step.server.iter().flatten() {
                    let p = path.key("server").key(n);
                    self.known_server(n, &p)?;
                    acts.push((n.clone(), self.server_action(n, a, &p)?));
                }
                StepAction::Server(acts)
            }
            2 => {
                let mut out = Vec::new();
                for (n, xs) in step.expect.iter().flatten() {
                    let p = path.key("expect").key(n);
                    self.known_client(n, &p)?;
                    let list = xs.to_vec();
                    limits::list("expect", &list).at(&p)?;
                    let one = list.len() == 1;
                    let mut planned = Vec::new();
                    for (i, x) in list.iter().enumerate() {
                        let px = if one { p.clone() } else { p.index(i) };
                        planned.push(self.expectation(n, x, &px)?);
                    }
                    out.push((n.clone(), planned));
                }
                StepAction::Expect(out)
            }
            3 => {
                let mut out = Vec::new();
                for (n, q) in step.expect_none.iter().flatten() {
                    let p = path.key("expect_none").key(n);
                    self.known_client(n, &p)?;
                    out.push((
                        n.clone(),
                        limits::time_ms("for_ms", q.for_ms).at(&p.key("for_ms"))?,
                    ));
                }
                StepAction::Quiet(out)
            }
            4 => {
                let mut out = Vec::new();
                for (n, x) in step.expect_server.iter().flatten() {
                    let p = path.key("expect_server").key(n);
                    self.known_server(n, &p)?;
                    out.push((n.clone(), self.server_expectation(x, &p)?));
                }
                StepAction::ExpectServer(out)
            }
            5 => {
                let p = path.key("wait_ms");
                let ms = limits::time_ms("wait_ms", step.wait_ms.unwrap_or(0)).at(&p)?;
                if ms > timeout_ms {
                    return bad(
                        &p,
                        format!(
                            "wait_ms = {ms} is longer than the scenario's timeout_ms = {timeout_ms}: the scenario could never pass"
                        ),
                    );
                }
                StepAction::Wait(ms)
            }
            _ => {
                let f = step.fault.clone().unwrap_or_default();
                let p = path.key("fault");
                for (i, name) in f.remove.iter().enumerate() {
                    if !self.active_faults.remove(name) {
                        return bad(
                            &p.key("remove").index(i),
                            format!(
                                "fault.remove: no active fault named {name:?} (active: {:?})",
                                self.active_faults
                            ),
                        );
                    }
                }
                let mut add = Vec::new();
                for (i, x) in f.add.iter().enumerate() {
                    add.push(self.fault(x, &p.key("add").index(i))?);
                }
                StepAction::Fault { remove: f.remove.clone(), add }
            }
        })
    }

    fn call(&mut self, c: &ClientCall, path: &KeyPath) -> R<CallPlan> {
        let (spec, simple) = match c {
            ClientCall::Simple(s) => (CallSpec::default(), Some(*s)),
            ClientCall::Full(c) => ((**c).clone(), c.call),
        };
        if spec.background && spec.returns.is_some() {
            return bad(path, "a background call cannot check `returns`");
        }
        let timeout = match spec.timeout_ms {
            None => None,
            Some(ms) => Some(limits::time_ms("timeout_ms", ms).at(&path.key("timeout_ms"))?),
        };
        let send = |l: &mut Self, kind, p: &Option<Payload>, k: &str| -> R<Call> {
            Ok(Call::Send { kind, data: l.opt_bytes(p, &path.key(k), false)?, timeout })
        };
        let call = if let Some(s) = simple {
            match s {
                SimpleCommand::Start => Call::Start,
                SimpleCommand::Stop => Call::Stop,
                SimpleCommand::Destroy => Call::Destroy,
                SimpleCommand::DestroyOnExit => Call::DestroyOnExit,
                SimpleCommand::Close => Call::Close { timeout },
                SimpleCommand::SendFin => Call::SendFin { timeout },
                SimpleCommand::IsConnected => Call::IsConnected,
                SimpleCommand::GetPingIntervalSec => Call::GetPingIntervalSec,
                SimpleCommand::GetReconnectTimeout => Call::GetReconnectTimeout,
            }
        } else if spec.send_text.is_some() {
            send(self, SendKind::Text, &spec.send_text, "send_text")?
        } else if spec.send_bin.is_some() {
            send(self, SendKind::Bin, &spec.send_bin, "send_bin")?
        } else if spec.send_text_partial.is_some() {
            send(self, SendKind::TextPartial, &spec.send_text_partial, "send_text_partial")?
        } else if spec.send_bin_partial.is_some() {
            send(self, SendKind::BinPartial, &spec.send_bin_partial, "send_bin_partial")?
        } else if spec.send_cont_msg.is_some() {
            send(self, SendKind::ContMsg, &spec.send_cont_msg, "send_cont_msg")?
        } else if let Some(o) = &spec.send_with_opcode {
            let p = path.key("send_with_opcode");
            if o.opcode > 15 {
                return bad(
                    &p.key("opcode"),
                    format!("opcode = {} but opcodes are 0-15", o.opcode),
                );
            }
            Call::SendWithOpcode {
                opcode: o.opcode,
                data: self.opt_bytes(&o.data, &p.key("data"), false)?,
                timeout,
            }
        } else if let Some(c) = &spec.close_with_code {
            let p = path.key("close_with_code").key("reason");
            Call::CloseWithCode {
                code: c.code,
                reason: self.opt_bytes(&c.reason, &p, false)?,
                timeout,
            }
        } else if let Some(u) = &spec.set_uri {
            Call::SetUri(self.template(u, &path.key("set_uri"))?)
        } else if let Some(h) = &spec.set_headers {
            Call::SetHeaders(h.clone())
        } else if let Some(h) = &spec.append_header {
            Call::AppendHeader { key: h.key.clone(), value: h.value.clone() }
        } else if let Some(s) = spec.set_ping_interval_sec {
            let max = (limits::MAX_TIME_MS / 1000) as usize;
            limits::at_most("set_ping_interval_sec", s, max)
                .at(&path.key("set_ping_interval_sec"))?;
            Call::SetPingIntervalSec(s)
        } else if let Some(ms) = spec.set_reconnect_timeout {
            limits::at_most("set_reconnect_timeout", i64::from(ms), limits::MAX_TIME_MS as i64)
                .at(&path.key("set_reconnect_timeout"))?;
            Call::SetReconnectTimeout(ms)
        } else {
            return bad(path, "a client call without a command");
        };
        Ok(CallPlan { call, returns: spec.returns, background: spec.background })
    }

    fn server_action(
        &mut self,
        name: &str,
        a: &ServerAction,
        path: &KeyPath,
    ) -> R<ServerActionPlan> {
        let which = exactly_one(
            path,
            &format!("server {name:?}: an action"),
            &[
                ("send", a.send.is_some()),
                ("send_many", a.send_many.is_some()),
                ("send_fragmented", a.send_fragmented.is_some()),
                ("send_partial", a.send_partial.is_some()),
                ("raw", a.raw.is_some()),
                ("raw_chunks", a.raw_chunks.is_some()),
                ("drop", a.drop),
                ("reset", a.reset),
            ],
        )?;
        if a.gap_ms != 0 && a.raw_chunks.is_none() {
            return bad(&path.key("gap_ms"), "`gap_ms` goes with `raw_chunks`");
        }
        Ok(match which {
            0 => {
                let f = a.send.as_ref().map(|f| self.frame(f, &path.key("send"))).transpose()?;
                ServerActionPlan::Frames { frames: f.into_iter().collect(), truncate: None }
            }
            1 => {
                let fs = a.send_many.as_deref().unwrap_or_default();
                let p = path.key("send_many");
                limits::list("send_many", fs).at(&p)?;
                if fs.is_empty() {
                    return bad(&p, "send_many needs at least one frame");
                }
                let mut frames = Vec::new();
                for (i, f) in fs.iter().enumerate() {
                    frames.push(self.frame(f, &p.index(i))?);
                }
                ServerActionPlan::Frames { frames, truncate: None }
            }
            2 => {
                let p = path.key("send_fragmented");
                let Some(m) = &a.send_fragmented else { return bad(&p, "missing") };
                let which = exactly_one(
                    &p,
                    "send_fragmented",
                    &[("text", m.text.is_some()), ("binary", m.binary.is_some())],
                )?;
                let (opcode, message) = match which {
                    0 => (0x1, self.opt_bytes(&m.text, &p.key("text"), false)?),
                    _ => (0x2, self.opt_bytes(&m.binary, &p.key("binary"), false)?),
                };
                limits::list("frames", &m.frames).at(&p.key("frames"))?;
                let len = message.len();
                let mut pieces = Vec::new();
                let mut at = 0usize;
                for (i, &n) in m.frames.iter().enumerate() {
                    limits::at_most("a fragment size", n, MAX_PAYLOAD_BYTES)
                        .at(&p.key("frames").index(i))?;
                    let end = at.saturating_add(n).min(len);
                    pieces.push((at, end));
                    at = end;
                }
                if at < len || pieces.is_empty() {
                    pieces.push((at, len));
                }
                limits::list("interleave", &m.interleave).at(&p.key("interleave"))?;
                let mut interleave = Vec::new();
                for (i, il) in m.interleave.iter().enumerate() {
                    let pi = p.key("interleave").index(i);
                    if il.after >= pieces.len() {
                        return bad(
                            &pi.key("after"),
                            format!(
                                "after = {} but the message has {} fragments (0-based)",
                                il.after,
                                pieces.len()
                            ),
                        );
                    }
                    interleave.push((il.after, self.frame(&il.frame, &pi.key("frame"))?));
                }
                ServerActionPlan::Fragmented { opcode, message, pieces, interleave }
            }
            3 => {
                let p = path.key("send_partial");
                let Some(sp) = &a.send_partial else { return bad(&p, "missing") };
                let frame = self.frame(&sp.frame, &p.key("frame"))?;
                if sp.bytes > frame.wire_len() {
                    return bad(
                        &p.key("bytes"),
                        format!(
                            "bytes = {} but the frame has only {} bytes",
                            sp.bytes,
                            frame.wire_len()
                        ),
                    );
                }
                ServerActionPlan::Frames { frames: vec![frame], truncate: Some(sp.bytes) }
            }
            4 => {
                let b = self.opt_bytes(&a.raw, &path.key("raw"), false)?;
                ServerActionPlan::Raw { chunks: vec![b], gap_ms: 0 }
            }
            5 => {
                let p = path.key("raw_chunks");
                let rs = a.raw_chunks.as_deref().unwrap_or_default();
                limits::list("raw_chunks", rs).at(&p)?;
                let gap_ms = limits::time_ms("gap_ms", a.gap_ms).at(&path.key("gap_ms"))?;
                let mut chunks = Vec::new();
                for (i, r) in rs.iter().enumerate() {
                    chunks.push(self.bytes(r, &p.index(i), false)?);
                }
                ServerActionPlan::Raw { chunks, gap_ms }
            }
            6 => ServerActionPlan::Drop,
            _ => ServerActionPlan::Reset,
        })
    }

    fn expectation(
        &mut self,
        client: &str,
        x: &Expectation,
        path: &KeyPath,
    ) -> R<EventExpectation> {
        let Some(event) = x.event else {
            return bad(path, format!("expect.{client}: every expectation names its `event`"));
        };
        if let Some(h) = &x.sha256
            && (h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return bad(&path.key("sha256"), format!("sha256 {h:?}: expected 64 hex digits"));
        }
        let within_ms =
            limits::time_ms("within_ms", x.within_ms.unwrap_or(super::DEFAULT_WITHIN_MS))
                .at(&path.key("within_ms"))?;
        let after_ms = x
            .after_ms
            .map(|v| limits::time_ms("after_ms", v).at(&path.key("after_ms")))
            .transpose()?;
        let data = x.data.as_ref().map(|d| self.bytes(d, &path.key("data"), true)).transpose()?;
        Ok(EventExpectation {
            event,
            op_code: x.op_code,
            fin: x.fin,
            data_len: x.data_len,
            payload_len: x.payload_len,
            payload_offset: x.payload_offset,
            close_status_code: x.close_status_code,
            error_type: x.error_type,
            esp_tls_last_esp_err: x.esp_tls_last_esp_err,
            esp_tls_stack_err: x.esp_tls_stack_err,
            esp_tls_cert_verify_flags: x.esp_tls_cert_verify_flags,
            esp_ws_handshake_status_code: x.esp_ws_handshake_status_code,
            esp_transport_sock_errno: x.esp_transport_sock_errno,
            text: x.text.clone(),
            text_contains: x.text_contains.clone(),
            data,
            sha256: x.sha256.as_ref().map(|h| h.to_ascii_lowercase()),
            within_ms,
            after_ms,
            shown: describe(x),
        })
    }

    fn server_expectation(
        &mut self,
        x: &ServerExpectation,
        path: &KeyPath,
    ) -> R<ServerExpectationPlan> {
        let request_line = x
            .request_line
            .as_deref()
            .map(|l| self.template(l, &path.key("request_line")))
            .transpose()?;
        limits::list("request_has", &x.request_has).at(&path.key("request_has"))?;
        let mut request_has = Vec::new();
        for (i, h) in x.request_has.iter().enumerate() {
            request_has.push(self.template(h, &path.key("request_has").index(i))?);
        }
        limits::list("frames", &x.frames).at(&path.key("frames"))?;
        let mut frames = Vec::new();
        for (i, f) in x.frames.iter().enumerate() {
            frames.push(self.frame_expectation(f, &path.key("frames").index(i))?);
        }
        let within_ms =
            limits::time_ms("within_ms", x.within_ms.unwrap_or(super::DEFAULT_WITHIN_MS))
                .at(&path.key("within_ms"))?;
        Ok(ServerExpectationPlan {
            request_line,
            request_has,
            request_lacks: x.request_lacks.clone(),
            header_order: x.header_order.clone(),
            frames,
            no_more_frames: x.no_more_frames,
            connections: x.connections,
            client_closed: x.client_closed,
            within_ms,
        })
    }

    fn frame_expectation(
        &mut self,
        f: &FrameExpectation,
        path: &KeyPath,
    ) -> R<FrameExpectationPlan> {
        if f.opcode.is_some_and(|o| o > 15) {
            return bad(&path.key("opcode"), "opcodes are 0-15");
        }
        Ok(FrameExpectationPlan {
            opcode: f.opcode,
            fin: f.fin,
            masked: f.masked,
            len: f.len,
            text: f.text.clone(),
            data: f.data.as_ref().map(|d| self.bytes(d, &path.key("data"), true)).transpose()?,
            prefix: f
                .prefix
                .as_ref()
                .map(|d| self.bytes(d, &path.key("prefix"), true))
                .transpose()?,
        })
    }
}

/// Whether an event handler may make `call` (not the lifecycle or settings calls).
fn handler_call(call: &Call) -> bool {
    matches!(
        call,
        Call::Stop
            | Call::Destroy
            | Call::Close { .. }
            | Call::CloseWithCode { .. }
            | Call::Send { .. }
            | Call::SendFin { .. }
            | Call::SendWithOpcode { .. }
            | Call::IsConnected
    )
}

/// Removes `null` members, so renderings show only what is set.
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

/// A one-line rendering of a step for traces (at most 160 characters).
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

/// A compact rendering of an expectation's fields, for messages.
fn describe(x: &Expectation) -> String {
    let v = serde_json::to_value(x).unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(m) = v.as_object() {
        for (k, val) in m {
            if !val.is_null() && k != "within_ms" && k != "after_ms" {
                let mut shown = val.to_string();
                if shown.chars().count() > 200 {
                    shown = shown.chars().take(200).collect::<String>() + "…";
                }
                parts.push(format!("{k}={shown}"));
            }
        }
    }
    format!("{{{}}}", parts.join(", "))
}
