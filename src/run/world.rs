//! Building a scenario's world: its servers, on the simulated network or on real
//! loopback sockets (with a toxic proxy in front when faults are in play).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::certs::TestPki;
use crate::net::{ActiveToxic, Proxy, SharedRng, SimListener, SimNet};
use crate::scenario::{ServerAddr, ServerKindPlan, ServerPlan};
use crate::server::{ScriptBehaviour, ServerHandle, ServerKind};

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

/// Where real-world servers listen and what placeholders name (`wsim run --bind`,
/// `--advertise-host`), and which chip an external DUT said it is (for `[dut] skip`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DutSite {
    /// The address servers and proxies bind (default: 127.0.0.1).
    pub bind: Option<std::net::IpAddr>,
    /// The host placeholders expand to (default: the bound address).
    pub advertise: Option<std::sync::Arc<str>>,
    /// The chip of an external DUT, from its hello.
    pub chip: Option<String>,
    /// The run's PKI is one the agent was given (`wsim run --pki DIR`): certificates
    /// go by name to an agent with the `pki` ability.
    pub shared_pki: bool,
    /// The build of an external DUT that cannot change its build options (no
    /// `sdkconfig` ability): scenarios that need other options are skipped.
    pub fixed_build: Option<crate::esp::Sdkconfig>,
}

impl DutSite {
    /// The address servers bind.
    pub fn bind_ip(&self) -> std::net::IpAddr {
        self.bind.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
    }
}

/// The first port simulated servers get, in name order.
const SIM_FIRST_PORT: u16 = 10_001;

/// Starts every server of a scenario. All are bound before any is configured, so
/// `Location` placeholders can name any server.
pub async fn start_servers(
    specs: &BTreeMap<String, ServerPlan>,
    pki: &TestPki,
    seed: u64,
    net: &Network,
    rng: &SharedRng,
    site: &DutSite,
) -> Result<BTreeMap<String, ServerSlot>, String> {
    let bind = site.bind_ip();
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
                tokio::net::TcpListener::bind((bind, 0))
                    .await
                    .map_err(|e| format!("cannot bind {bind}: {e}"))?,
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
            let p = Proxy::start_on(bind, *addr, rng.clone())
                .await
                .map_err(|e| format!("proxy: {e}"))?;
            proxies.insert(name.clone(), p);
        }
    }
    let client_addrs: BTreeMap<String, ServerAddr> = server_addrs
        .iter()
        .map(|(n, a)| {
            let addr = proxies.get(n).map_or(*a, Proxy::addr);
            let tls = specs.get(n).is_some_and(|s| s.tls != crate::certs::ServerCert::None);
            let host = match net {
                Network::Real { .. } => site.advertise.clone(),
                Network::Sim(_) => None,
            };
            (n.clone(), ServerAddr { addr, tls, host })
        })
        .collect();
    let mut out = BTreeMap::new();
    for (name, spec) in specs {
        let Some(b) = bound.remove(name) else { continue };
        let kind = match &spec.kind {
            ServerKindPlan::Echo(policy) => ServerKind::Echo(policy.clone()),
            ServerKindPlan::Script(script) => ServerKind::Script(ScriptBehaviour {
                handshakes: script
                    .handshakes
                    .iter()
                    .map(|h| h.render(&client_addrs, seed))
                    .collect(),
                reply_ping: script.reply_ping,
                reply_close: script.reply_close,
                echo: script.echo,
            }),
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
                ServerSlot { handle, client_addr: client_addrs[name].addr, toxics, faults, proxy }
            }
            Bound::Sim(l, toxics, port) => {
                let Network::Sim(sim) = net else {
                    return Err("a simulated listener outside the simulated world".into());
                };
                let handle = ServerHandle::serve_sim(name, l, kind, cfg);
                ServerSlot {
                    handle,
                    client_addr: client_addrs[name].addr,
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
