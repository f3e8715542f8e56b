//! URI parsing with the rules of `http_parser_parse_url` as the client uses it: an
//! absolute `scheme://[userinfo@]host[:port][/path][?query][#fragment]`, or a bare path.

/// The components present in a URI. Absent components are `None`, so that `set_uri`
/// can touch only what the URI names (spec §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedUri {
    /// The scheme as written (`ws`, `WSS`, `http`, …).
    pub scheme: Option<String>,
    /// The host; an IPv6 literal without its brackets.
    pub host: Option<String>,
    /// The port, if one was written.
    pub port: Option<u16>,
    /// The path without the query.
    pub path: Option<String>,
    /// The query without `?`.
    pub query: Option<String>,
    /// The user-info before `@`.
    pub userinfo: Option<String>,
}

impl ParsedUri {
    /// The path the client uses: `/p?q`, `/?q` when there is no path, the fragment dropped.
    /// `None` when the URI has neither path nor query.
    pub fn path_and_query(&self) -> Option<String> {
        match (&self.path, &self.query) {
            (None, None) => None,
            (Some(p), None) => Some(p.clone()),
            (None, Some(q)) => Some(format!("/?{q}")),
            (Some(p), Some(q)) => Some(format!("{p}?{q}")),
        }
    }
}

/// Why a URI did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URI {uri:?}: {reason}")]
pub struct UriError {
    /// The URI as given.
    pub uri: String,
    /// What was wrong.
    pub reason: &'static str,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn is_url_char(c: char) -> bool {
    // http_parser rejects control characters and spaces anywhere in a URL.
    !(c.is_ascii_control() || c == ' ')
}

/// Parses `uri` as the client's `set_uri` does.
pub fn parse_uri(uri: &str) -> Result<ParsedUri, UriError> {
    let err = |reason| UriError { uri: uri.to_string(), reason };
    if uri.is_empty() {
        return Err(err("empty"));
    }
    if !uri.chars().all(is_url_char) {
        return Err(err("contains a space or control character"));
    }
    if uri.starts_with('/') {
        let mut out = ParsedUri::default();
        split_path(uri, &mut out);
        return Ok(out);
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(err("expected scheme://host or a path"));
    };
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(err("the scheme must be letters only"));
    }
    let mut out = ParsedUri { scheme: Some(scheme.to_string()), ..Default::default() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let hostport = match authority.rsplit_once('@') {
        Some((user, hp)) => {
            out.userinfo = non_empty(user);
            hp
        }
        None => authority,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(err("unterminated IPv6 literal"));
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| err("junk after IPv6 literal"))?),
        };
        (h, port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(err("missing host"));
    }
    out.host = Some(host.to_string());
    if let Some(p) = port.filter(|p| !p.is_empty()) {
        if !p.chars().all(|c| c.is_ascii_digit()) {
            return Err(err("the port must be digits"));
        }
        out.port = Some(p.parse::<u16>().map_err(|_| err("the port is above 65535"))?);
    }
    split_path(tail, &mut out);
    Ok(out)
}

fn split_path(tail: &str, out: &mut ParsedUri) {
    let tail = tail.split_once('#').map_or(tail, |(t, _)| t);
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    out.path = non_empty(path);
    out.query = query.and_then(non_empty);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_components() {
        let u = parse_uri("wss://user:pw@example.com:8443/a/b?x=1#frag").unwrap();
        assert_eq!(u.scheme.as_deref(), Some("wss"));
        assert_eq!(u.userinfo.as_deref(), Some("user:pw"));
        assert_eq!(u.host.as_deref(), Some("example.com"));
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path_and_query().as_deref(), Some("/a/b?x=1"));
    }

    #[test]
    fn query_without_path_gets_a_slash() {
        let u = parse_uri("ws://h?id=7").unwrap();
        assert_eq!(u.path_and_query().as_deref(), Some("/?id=7"));
        assert_eq!(u.port, None);
    }

    #[test]
    fn explicit_default_port_is_kept() {
        assert_eq!(parse_uri("ws://h:80").unwrap().port, Some(80));
    }

    #[test]
    fn ipv6_literal_loses_brackets() {
        let u = parse_uri("ws://[::1]:9000/x").unwrap();
        assert_eq!(u.host.as_deref(), Some("::1"));
        assert_eq!(u.port, Some(9000));
    }

    #[test]
    fn invalid_inputs_fail() {
        for bad in ["INVALID", "", "ws://", "ws://h:99999", "ws://h:8x", "h:80", "ws://a b"] {
            assert!(parse_uri(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn bare_path_has_no_host() {
        let u = parse_uri("/only?q").unwrap();
        assert_eq!(u.host, None);
        assert_eq!(u.path_and_query().as_deref(), Some("/only?q"));
    }
}
