//! Building a scenario's world on real loopback sockets: servers, placeholders,
//! client configurations, server frames.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use crate::certs::TestPki;
use crate::esp::Config;
use crate::net::{ActiveToxic, Proxy, SharedRng, SimListener, SimNet};
use crate::scenario::{
    CertRef, ClientSpec, FrameSpec, HandshakeSpec, Payload, PortSpec, ServerKindName, ServerSpec,
};
use crate::server::{HandshakeReply, ScriptBehaviour, ServerHandle, ServerKind, frame_header};

/// Replaces `{name}`, `{name.host}`, `{name.port}`, `{name.url}` with the servers' values.
pub fn substitute(
    text: &str,
    servers: &BTreeMap<String, SocketAddr>,
    tls: &BTreeMap<String, bool>,
) -> String {
    let mut out = text.to_string();
    for (name, addr) in servers {
        let scheme = if tls.get(name).copied().unwrap_or(false) { "wss" } else { "ws" };
        out = out
            .replace(&format!("{{{name}.url}}"), &format!("{scheme}://{addr}"))
            .replace(&format!("{{{name}.host}}"), &addr.ip().to_string())
            .replace(&format!("{{{name}.port}}"), &addr.port().to_string())
            .replace(&format!("{{{name}}}"), &addr.to_string());
    }
    out
}

/// The bytes of a server frame spec.
pub fn frame_bytes(f: &FrameSpec, seed: u64, base: &Path) -> Result<Vec<u8>, String> {
    let p = |x: &Payload| x.bytes(seed, base).map_err(|e| e.to_string());
    let (opcode, payload) = if let Some(t) = &f.text {
        (0x1, p(t)?)
    } else if let Some(b) = &f.binary {
        (0x2, p(b)?)
    } else if let Some(c) = &f.cont {
        (0x0, p(c)?)
    } else if let Some(x) = &f.ping {
        (0x9, p(x)?)
    } else if let Some(x) = &f.pong {
        (0xA, p(x)?)
    } else if let Some(c) = &f.close {
        let body = match (&c.data, c.code) {
            (Some(d), _) => p(d)?,
            (None, Some(code)) => {
                let mut v = code.to_be_bytes().to_vec();
                v.extend_from_slice(c.reason.as_deref().unwrap_or("").as_bytes());
                v
            }
            (None, None) => Vec::new(),
        };
        (0x8, body)
    } else if let Some(op) = f.opcode {
        (op & 0x0F, f.data.as_ref().map(p).transpose()?.unwrap_or_default())
    } else {
        return Err("a frame needs one of text, binary, cont, ping, pong, close, opcode".into());
    };
    let b0 = if f.fin.unwrap_or(true) { 0x80 } else { 0 } | ((f.rsv & 7) << 4) | opcode;
    // A claimed length replaces the real one in the header; the payload stays as it is.
    let mut bytes = frame_header(b0, f.length.unwrap_or(payload.len() as u64));
    bytes.extend_from_slice(&payload);
    if let Some(mask) = f.mask {
        let hlen = bytes.len() - payload.len();
        let mut h = bytes[..hlen].to_vec();
        h[1] |= 0x80;
        h.extend_from_slice(&mask);
        h.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        bytes = h;
    }
    Ok(bytes)
}

/// The scripted server's behaviour from its spec (placeholders in `location` resolved).
pub fn script_behaviour(
    spec: &ServerSpec,
    seed: u64,
    base: &Path,
    resolve: &dyn Fn(&str) -> String,
) -> Result<ScriptBehaviour, String> {
    let specs: Vec<&HandshakeSpec> = match (&spec.handshake, spec.handshakes.is_empty()) {
        (Some(h), _) => vec![h],
        (None, false) => spec.handshakes.iter().collect(),
        (None, true) => Vec::new(),
    };
    let mut handshakes = Vec::new();
    for h in specs {
        let mut trailing = Vec::new();
        for f in &h.trailing {
            trailing.extend(frame_bytes(f, seed, base)?);
        }
        handshakes.push(HandshakeReply {
            status: h.status.unwrap_or(101),
            reason: h.reason.clone(),
            accept: h.accept.clone(),
            headers: h.headers.clone(),
            location: h.location.as_deref().map(resolve),
            pad: h.pad,
            split: h.split.clone(),
            delay_ms: h.delay_ms,
            close_after: h.close_after,
            trailing,
        });
    }
    Ok(ScriptBehaviour {
        handshakes,
        reply_ping: spec.reply_ping,
        reply_close: spec.reply_close,
        echo: spec.echo,
    })
}

/// A server of the scenario, with where clients reach it and the handle on the toxics
/// of its connections.
pub struct ServerSlot {
    /// The server.
    pub handle: ServerHandle,
    /// The address clients use (the proxy's in the real world when faults are in play).
    pub client_addr: SocketAddr,
    /// The toxics of every connection to it.
    pub toxics: tokio::sync::watch::Sender<Vec<ActiveToxic>>,
    /// Where connection faults go.
    pub faults: FaultTarget,
    /// The proxy in front of it (real world).
    pub proxy: Option<Proxy>,
}

/// Where a server's connection faults are applied.
pub enum FaultTarget {
    /// A port of the simulated network.
    Sim(SimNet, u16),
    /// The real-world proxy (`ServerSlot::proxy`).
    Proxy,
    /// No faults possible (real world without a proxy).
    None,
}

/// The network a scenario runs on.
pub enum Network {
    /// The simulated network.
    Sim(SimNet),
    /// Real loopback sockets; `proxied` puts a toxic proxy in front of every server.
    Real {
        /// Whether the servers get proxies.
        proxied: bool,
    },
}

/// The first port simulated servers get, in name order.
const SIM_FIRST_PORT: u16 = 10_001;

/// Starts every server of a scenario. All are bound before any is configured, so
/// `Location` placeholders can name any server.
pub async fn start_servers(
    specs: &BTreeMap<String, ServerSpec>,
    pki: &TestPki,
    seed: u64,
    base: &Path,
    net: &Network,
    rng: &SharedRng,
) -> Result<BTreeMap<String, ServerSlot>, String> {
    enum Bound {
        Tcp(tokio::net::TcpListener),
        Sim(SimListener, tokio::sync::watch::Sender<Vec<ActiveToxic>>, u16),
    }
    let mut bound = BTreeMap::new();
    for (i, (name, spec)) in specs.iter().enumerate() {
        let b = match net {
            Network::Sim(sim) => {
                let port = spec.port.unwrap_or(SIM_FIRST_PORT + i as u16);
                let (l, t) = sim.listen(port);
                Bound::Sim(l, t, port)
            }
            Network::Real { .. } if spec.port.is_some() => {
                return Err(format!(
                    "server {name:?}: a fixed port exists only in the simulated world (add worlds = [\"sim\"])"
                ));
            }
            Network::Real { .. } => Bound::Tcp(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| format!("cannot bind loopback: {e}"))?,
            ),
        };
        bound.insert(name.clone(), b);
    }
    let mut server_addrs = BTreeMap::new();
    for (name, b) in &bound {
        let a = match b {
            Bound::Tcp(l) => l.local_addr().map_err(|e| e.to_string())?,
            Bound::Sim(l, _, _) => l.local_addr(),
        };
        server_addrs.insert(name.clone(), a);
    }
    // In the real world with faults, clients talk to a proxy in front of each server.
    let mut proxies = BTreeMap::new();
    if let Network::Real { proxied: true } = net {
        for (name, addr) in &server_addrs {
            let p = Proxy::start(*addr, rng.clone()).await.map_err(|e| format!("proxy: {e}"))?;
            proxies.insert(name.clone(), p);
        }
    }
    let client_addrs: BTreeMap<String, SocketAddr> = server_addrs
        .iter()
        .map(|(n, a)| (n.clone(), proxies.get(n).map_or(*a, Proxy::addr)))
        .collect();
    let tls: BTreeMap<String, bool> =
        specs.iter().map(|(n, s)| (n.clone(), s.tls != crate::certs::ServerCert::None)).collect();
    let mut out = BTreeMap::new();
    for (name, spec) in specs {
        let Some(b) = bound.remove(name) else { continue };
        let resolve = |t: &str| substitute(t, &client_addrs, &tls);
        let kind = match spec.kind {
            ServerKindName::Echo => ServerKind::Echo(spec.subprotocol.clone()),
            ServerKindName::Script => {
                ServerKind::Script(script_behaviour(spec, seed, base, &resolve)?)
            }
        };
        let cfg = pki.server_config(spec.tls, spec.mtls).map_err(|e| e.to_string())?;
        let proxy = proxies.remove(name);
        let slot = match b {
            Bound::Tcp(l) => {
                let handle = ServerHandle::serve(name, l, kind, cfg).map_err(|e| e.to_string())?;
                let (toxics, faults) = match &proxy {
                    Some(p) => (p.toxics().clone(), FaultTarget::Proxy),
                    None => (tokio::sync::watch::Sender::new(Vec::new()), FaultTarget::None),
                };
                ServerSlot { handle, client_addr: client_addrs[name], toxics, faults, proxy }
            }
            Bound::Sim(l, toxics, port) => {
                let Network::Sim(sim) = net else {
                    return Err("a simulated listener outside the simulated world".into());
                };
                let handle = ServerHandle::serve_sim(name, l, kind, cfg);
                ServerSlot {
                    handle,
                    client_addr: client_addrs[name],
                    toxics,
                    faults: FaultTarget::Sim(sim.clone(), port),
                    proxy,
                }
            }
        };
        out.insert(name.clone(), slot);
    }
    Ok(out)
}

fn cert_material(
    r: &CertRef,
    pki: &TestPki,
    key: bool,
    der: bool,
    base: &Path,
) -> Result<Vec<u8>, String> {
    match r {
        CertRef::File { file } => {
            let p = base.join(file);
            std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        }
        CertRef::Named(n) => {
            let ck = match n.as_str() {
                "ca" => &pki.ca,
                "untrusted-ca" => &pki.untrusted_ca,
                "server" | "valid" => &pki.server,
                "expired" => &pki.expired,
                "wrong-host" => &pki.wrong_host,
                "untrusted" => &pki.untrusted,
                "self-signed" => &pki.self_signed,
                "client" => &pki.client,
                other => {
                    return Err(format!(
                        "unknown certificate {other:?}: expected ca, untrusted-ca, server, expired, wrong-host, untrusted, self-signed, client, or {{ file = … }}"
                    ));
                }
            };
            Ok(if key {
                ck.key_pem.clone().into_bytes()
            } else if der {
                ck.cert_der.clone()
            } else {
                ck.cert_pem.clone().into_bytes()
            })
        }
    }
}

/// The C config for a client spec.
pub fn client_config(
    spec: &ClientSpec,
    pki: &TestPki,
    base: &Path,
    resolve: &dyn Fn(&str) -> String,
) -> Result<Config, String> {
    let port = match &spec.port {
        None => 0,
        Some(PortSpec::Number(n)) => *n,
        Some(PortSpec::Text(t)) => {
            let r = resolve(t);
            r.parse().map_err(|_| format!("port {t:?} resolves to {r:?}, not a number"))?
        }
    };
    let mut c = Config {
        uri: spec.uri.as_deref().map(resolve),
        host: spec.host.as_deref().map(resolve),
        port,
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
    if let Some(r) = &spec.cert_pem {
        let m = cert_material(r, pki, false, spec.cert_der, base)?;
        if spec.cert_der {
            c.cert_len = m.len();
        }
        c.cert_pem = Some(m);
    }
    if let Some(r) = &spec.client_cert {
        c.client_cert = Some(cert_material(r, pki, false, false, base)?);
    }
    if let Some(r) = &spec.client_key {
        c.client_key = Some(cert_material(r, pki, true, false, base)?);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let servers = BTreeMap::from([("main".to_string(), "127.0.0.1:4000".parse().unwrap())]);
        let tls = BTreeMap::from([("main".to_string(), true)]);
        assert_eq!(substitute("ws://{main}/x", &servers, &tls), "ws://127.0.0.1:4000/x");
        assert_eq!(substitute("{main.url}/x", &servers, &tls), "wss://127.0.0.1:4000/x");
        assert_eq!(substitute("{main.host}:{main.port}", &servers, &tls), "127.0.0.1:4000");
    }

    #[test]
    fn frames() {
        let base = Path::new(".");
        let f = FrameSpec { text: Some(Payload::Text("hi".into())), ..Default::default() };
        assert_eq!(frame_bytes(&f, 0, base).unwrap(), vec![0x81, 2, b'h', b'i']);
        let f = FrameSpec {
            close: Some(crate::scenario::CloseFrame {
                code: Some(1000),
                reason: Some("x".into()),
                data: None,
            }),
            ..Default::default()
        };
        assert_eq!(frame_bytes(&f, 0, base).unwrap(), vec![0x88, 3, 0x03, 0xE8, b'x']);
        let f = FrameSpec { opcode: Some(3), rsv: 4, fin: Some(false), ..Default::default() };
        assert_eq!(frame_bytes(&f, 0, base).unwrap(), vec![0x43, 0]);
        let f = FrameSpec {
            binary: Some(Payload::Text("ab".into())),
            length: Some(10),
            ..Default::default()
        };
        assert_eq!(frame_bytes(&f, 0, base).unwrap(), vec![0x82, 10, b'a', b'b']);
    }
}
