//! Placeholders (`{main}`, `{main.host}`, `{main.port}`, `{main.url}`): parsed once at
//! load against the scenario's declared servers, rendered when the servers' addresses
//! are known.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Which part of a server's address a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrPart {
    /// `{name}`: `host:port`.
    Addr,
    /// `{name.host}`.
    Host,
    /// `{name.port}`.
    Port,
    /// `{name.url}`: `ws://host:port` or `wss://host:port`.
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Server { name: String, part: AddrPart },
}

/// A text with placeholders naming declared servers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Where a server is reached and whether it speaks TLS, for rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// The address clients use (its port is always the one rendered).
    pub addr: SocketAddr,
    /// `wss` rather than `ws`.
    pub tls: bool,
    /// The host placeholders name instead of `addr`'s IP (`--advertise-host`: the
    /// address a board reaches when the servers bind another, e.g. `0.0.0.0`).
    pub host: Option<std::sync::Arc<str>>,
}

impl ServerAddr {
    /// A server reached at `addr` itself.
    pub fn new(addr: SocketAddr, tls: bool) -> ServerAddr {
        ServerAddr { addr, tls, host: None }
    }

    /// The host part: the advertised host, else the IP.
    pub fn host(&self) -> String {
        match &self.host {
            Some(h) => h.to_string(),
            None => self.addr.ip().to_string(),
        }
    }

    /// `host:port` (an IPv6 host in brackets).
    pub fn host_port(&self) -> String {
        match &self.host {
            Some(h) if h.contains(':') => format!("[{h}]:{}", self.addr.port()),
            Some(h) => format!("{h}:{}", self.addr.port()),
            None => self.addr.to_string(),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Template {
    /// Parses `text` against the declared server names (`servers`, sorted). A `{…}`
    /// whose content looks like a placeholder (`name` or `name.part`, name of letters,
    /// digits, `_`, `-`) must name a declared server and a known part; any other brace
    /// text stays literal.
    pub fn parse(text: &str, servers: &[&str]) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut pos = 0;
        // One pass over the closing braces: each `}` pairs with the last `{` before it
        // (and after the previous `}`), so the scan stays linear in the text's length.
        while let Some(rel) = text[pos..].find('}') {
            let close = pos + rel;
            let Some(k) = text[pos..close].rfind('{') else {
                lit.push_str(&text[pos..=close]);
                pos = close + 1;
                continue;
            };
            let open = pos + k;
            let inner = &text[open + 1..close];
            let (name, part) = match inner.split_once('.') {
                Some((n, p)) => (n, Some(p)),
                None => (inner, None),
            };
            let looks_like = !name.is_empty()
                && name.chars().all(is_name_char)
                && part.is_none_or(|p| !p.is_empty() && p.chars().all(is_name_char));
            if !looks_like {
                lit.push_str(&text[pos..=close]);
                pos = close + 1;
                continue;
            }
            if servers.binary_search(&name).is_err() {
                return Err(format!(
                    "placeholder {{{inner}}} names an unknown server {name:?}; the scenario defines {servers:?}"
                ));
            }
            let part = match part {
                None => AddrPart::Addr,
                Some("host") => AddrPart::Host,
                Some("port") => AddrPart::Port,
                Some("url") => AddrPart::Url,
                Some(other) => {
                    return Err(format!(
                        "placeholder {{{inner}}}: unknown part {other:?}; expected {{{name}}}, {{{name}.host}}, {{{name}.port}} or {{{name}.url}}"
                    ));
                }
            };
            lit.push_str(&text[pos..open]);
            if !lit.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut lit)));
            }
            segments.push(Segment::Server { name: name.to_string(), part });
            pos = close + 1;
        }
        lit.push_str(&text[pos..]);
        if !lit.is_empty() {
            segments.push(Segment::Text(lit));
        }
        Ok(Template { segments })
    }

    /// A template without placeholders.
    pub fn literal(text: &str) -> Template {
        Template { segments: vec![Segment::Text(text.to_string())] }
    }

    /// Whether the template is exactly one `{name.port}` placeholder.
    pub fn is_port(&self) -> bool {
        matches!(self.segments.as_slice(), [Segment::Server { part: AddrPart::Port, .. }])
    }

    /// The text with every placeholder replaced. Every server a template names was
    /// declared, and the world starts every declared server, so each is in `servers`;
    /// one missing (a bug) renders as its placeholder text.
    pub fn render(&self, servers: &BTreeMap<String, ServerAddr>) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Text(t) => out.push_str(t),
                Segment::Server { name, part } => match servers.get(name) {
                    Some(a) => match part {
                        AddrPart::Addr => out.push_str(&a.host_port()),
                        AddrPart::Host => out.push_str(&a.host()),
                        AddrPart::Port => out.push_str(&a.addr.port().to_string()),
                        AddrPart::Url => {
                            let scheme = if a.tls { "wss" } else { "ws" };
                            out.push_str(&format!("{scheme}://{}", a.host_port()));
                        }
                    },
                    None => out.push_str(&format!("{{{name}}}")),
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> BTreeMap<String, ServerAddr> {
        BTreeMap::from([(
            "main".to_string(),
            ServerAddr::new("127.0.0.1:4000".parse().unwrap(), true),
        )])
    }

    #[test]
    fn an_advertised_host_replaces_the_bound_address() {
        let mut a = addrs();
        a.get_mut("main").unwrap().host = Some("192.168.1.10".into());
        let t = |s: &str| Template::parse(s, &["main"]).unwrap().render(&a);
        assert_eq!(t("ws://{main}/x"), "ws://192.168.1.10:4000/x");
        assert_eq!(t("{main.url}/x"), "wss://192.168.1.10:4000/x");
        assert_eq!(t("{main.host}|{main.port}"), "192.168.1.10|4000");
        a.get_mut("main").unwrap().host = Some("fd00::1".into());
        let t = |s: &str| Template::parse(s, &["main"]).unwrap().render(&a);
        assert_eq!(t("{main.url}"), "wss://[fd00::1]:4000");
        assert_eq!(t("{main.host}"), "fd00::1");
    }

    #[test]
    fn placeholders_render() {
        let t = |s: &str| Template::parse(s, &["main"]).unwrap().render(&addrs());
        assert_eq!(t("ws://{main}/x"), "ws://127.0.0.1:4000/x");
        assert_eq!(t("{main.url}/x"), "wss://127.0.0.1:4000/x");
        assert_eq!(t("{main.host}:{main.port}"), "127.0.0.1:4000");
        assert_eq!(t("{ not a placeholder } {"), "{ not a placeholder } {");
        assert_eq!(t("{{main}}"), "{127.0.0.1:4000}");
        assert_eq!(t("}{main.port}{"), "}4000{");
        assert!(Template::parse("{main.port}", &["main"]).unwrap().is_port());
        assert!(!Template::parse("x{main.port}", &["main"]).unwrap().is_port());
    }

    #[test]
    fn unknown_servers_and_parts_are_errors() {
        let e = Template::parse("ws://{mian}/", &["main"]).unwrap_err();
        assert!(e.contains("unknown server \"mian\""), "{e}");
        let e = Template::parse("{main.addr}", &["main"]).unwrap_err();
        assert!(e.contains("unknown part \"addr\""), "{e}");
    }
}
