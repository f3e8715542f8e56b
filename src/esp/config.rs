//! `esp_websocket_client_config_t` and the normalised configuration the client keeps
//! (spec §1): defaults, the URI-versus-field precedence, Basic auth.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::uri::parse_uri;
use crate::transport::{CertSource, TlsOptions, TrustAnchor};

/// Default `buffer_size`.
pub const DEFAULT_BUFFER_SIZE: i32 = 1024;
/// Default `reconnect_timeout_ms`.
pub const DEFAULT_RECONNECT_TIMEOUT_MS: i32 = 10_000;
/// Default `network_timeout_ms`.
pub const DEFAULT_NETWORK_TIMEOUT_MS: i32 = 10_000;
/// Default `ping_interval_sec`.
pub const DEFAULT_PING_INTERVAL_SEC: usize = 10;
/// Default `pingpong_timeout_sec`.
pub const DEFAULT_PINGPONG_TIMEOUT_SEC: i32 = 120;
/// The User-Agent sent when none is configured.
pub const DEFAULT_USER_AGENT: &str = "ESP32 Websocket Client";

/// `esp_websocket_transport_t`: which transport a URI without a scheme uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TransportType {
    /// `WEBSOCKET_TRANSPORT_UNKNOWN`.
    #[default]
    Unknown,
    /// `WEBSOCKET_TRANSPORT_OVER_TCP`: presets the scheme `ws`.
    OverTcp,
    /// `WEBSOCKET_TRANSPORT_OVER_SSL`: presets the scheme `wss`.
    OverSsl,
}

/// `esp_websocket_client_config_t`, field for field (C names, Rust types).
///
/// Zero and `None` mean "not set", as a zero-initialised C struct does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `uri`.
    pub uri: Option<String>,
    /// `host`: overrides the URI's host.
    pub host: Option<String>,
    /// `port`: non-zero overrides the URI's port.
    pub port: i32,
    /// `username`.
    pub username: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `path`: overrides the URI's path and query.
    pub path: Option<String>,
    /// `disable_auto_reconnect`.
    pub disable_auto_reconnect: bool,
    /// `enable_close_reconnect`.
    pub enable_close_reconnect: bool,
    /// `user_context`: copied into every event.
    pub user_context: usize,
    /// `task_prio` (`<= 0` gives 5). Recorded only: the model has no scheduler priorities.
    pub task_prio: i32,
    /// `task_name` (default `websocket_task`).
    pub task_name: Option<String>,
    /// `task_stack` (0 gives 4096).
    pub task_stack: i32,
    /// `task_core_id` when `task_core_id_set`.
    pub task_core_id: Option<i32>,
    /// `buffer_size` (`<= 0` gives 1024): the RX chunk and TX fragment size.
    pub buffer_size: i32,
    /// `cert_pem`: the CA that verifies the server.
    pub cert_pem: Option<Vec<u8>>,
    /// `cert_len`: 0 means `cert_pem` is PEM, otherwise DER.
    pub cert_len: usize,
    /// `client_cert` for mutual TLS.
    pub client_cert: Option<Vec<u8>>,
    /// `client_cert_len`.
    pub client_cert_len: usize,
    /// `client_key` for mutual TLS.
    pub client_key: Option<Vec<u8>>,
    /// `client_key_len`.
    pub client_key_len: usize,
    /// `transport`.
    pub transport: TransportType,
    /// `subprotocol`: sent as `Sec-WebSocket-Protocol`; the answer is never checked.
    pub subprotocol: Option<String>,
    /// `user_agent`.
    pub user_agent: Option<String>,
    /// `headers`: raw header lines, each ending in `\r\n`, sent verbatim.
    pub headers: Option<String>,
    /// `pingpong_timeout_sec` (0 gives 120).
    pub pingpong_timeout_sec: i32,
    /// `disable_pingpong_discon`.
    pub disable_pingpong_discon: bool,
    /// `use_global_ca_store`: takes precedence over `cert_pem`.
    pub use_global_ca_store: bool,
    /// `cert_common_name`.
    pub cert_common_name: Option<String>,
    /// `skip_cert_common_name_check`.
    pub skip_cert_common_name_check: bool,
    /// `keep_alive_enable`.
    pub keep_alive_enable: bool,
    /// `keep_alive_idle` (0 gives 5 when enabled).
    pub keep_alive_idle: i32,
    /// `keep_alive_interval` (0 gives 5 when enabled).
    pub keep_alive_interval: i32,
    /// `keep_alive_count` (0 gives 3 when enabled).
    pub keep_alive_count: i32,
    /// `reconnect_timeout_ms`.
    pub reconnect_timeout_ms: i32,
    /// `network_timeout_ms`.
    pub network_timeout_ms: i32,
    /// `ping_interval_sec`.
    pub ping_interval_sec: usize,
}

/// TCP keep-alive settings as the client normalises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeepAlive {
    /// Idle seconds before the first probe.
    pub idle: i32,
    /// Seconds between probes.
    pub interval: i32,
    /// Probes before the connection is dropped.
    pub count: i32,
}

/// The client's own copy of the configuration after `init` (the C
/// `websocket_config_storage_t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Storage {
    pub(crate) task_name: String,
    pub(crate) task_stack: i32,
    pub(crate) task_prio: i32,
    pub(crate) scheme: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) port: i32,
    pub(crate) path: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// `Basic …`, built at `init` when both user name and password are known.
    pub(crate) auth: Option<String>,
    pub(crate) auto_reconnect: bool,
    pub(crate) close_reconnect: bool,
    pub(crate) user_context: usize,
    pub(crate) network_timeout_ms: i32,
    pub(crate) subprotocol: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) headers: Option<String>,
    pub(crate) pingpong_timeout_sec: i32,
    pub(crate) ping_interval_sec: usize,
    pub(crate) tls: TlsOptions,
    pub(crate) keep_alive: Option<KeepAlive>,
    pub(crate) buffer_size: usize,
    pub(crate) wait_timeout_ms: i32,
}

/// Why `init` returned NULL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// The URI did not parse.
    #[error(transparent)]
    Uri(#[from] super::uri::UriError),
    /// `cert_common_name` and `skip_cert_common_name_check` were both set.
    #[error("cert_common_name and skip_cert_common_name_check are mutually exclusive")]
    CommonNameConflict,
}

/// `Basic base64(user:pass)`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {b64}")
}

impl Storage {
    /// `esp_websocket_client_init`'s configuration steps: transport preset, `set_uri`,
    /// explicit fields, scheme default (spec §1.1).
    pub(crate) fn from_config(cfg: &Config) -> Result<Storage, InitError> {
        if cfg.cert_common_name.is_some() && cfg.skip_cert_common_name_check {
            return Err(InitError::CommonNameConflict);
        }
        let auto_reconnect = !cfg.disable_auto_reconnect;
        let trust = if cfg.use_global_ca_store {
            TrustAnchor::GlobalStore
        } else {
            match &cfg.cert_pem {
                Some(c) => TrustAnchor::Cert(CertSource::from_ptr_len(c.clone(), cfg.cert_len)),
                None => TrustAnchor::None,
            }
        };
        let mut s = Storage {
            task_name: cfg.task_name.clone().unwrap_or_else(|| "websocket_task".into()),
            task_stack: if cfg.task_stack == 0 { 4096 } else { cfg.task_stack },
            task_prio: if cfg.task_prio <= 0 { 5 } else { cfg.task_prio },
            scheme: match cfg.transport {
                TransportType::OverTcp => Some("ws".into()),
                TransportType::OverSsl => Some("wss".into()),
                TransportType::Unknown => None,
            },
            host: None,
            port: 0,
            path: None,
            username: None,
            password: None,
            auth: None,
            auto_reconnect,
            close_reconnect: cfg.enable_close_reconnect,
            user_context: cfg.user_context,
            network_timeout_ms: if cfg.network_timeout_ms <= 0 {
                DEFAULT_NETWORK_TIMEOUT_MS
            } else {
                cfg.network_timeout_ms
            },
            subprotocol: None,
            user_agent: None,
            headers: None,
            pingpong_timeout_sec: if cfg.disable_pingpong_discon {
                0
            } else if cfg.pingpong_timeout_sec != 0 {
                cfg.pingpong_timeout_sec
            } else {
                DEFAULT_PINGPONG_TIMEOUT_SEC
            },
            ping_interval_sec: if cfg.ping_interval_sec == 0 {
                DEFAULT_PING_INTERVAL_SEC
            } else {
                cfg.ping_interval_sec
            },
            tls: TlsOptions {
                trust,
                skip_common_name_check: cfg.skip_cert_common_name_check,
                common_name: cfg.cert_common_name.clone(),
                client_cert: cfg
                    .client_cert
                    .clone()
                    .map(|c| CertSource::from_ptr_len(c, cfg.client_cert_len)),
                client_key: cfg
                    .client_key
                    .clone()
                    .map(|k| CertSource::from_ptr_len(k, cfg.client_key_len)),
                // Set from the build's sdkconfig when the client starts.
                skip_server_verify: false,
                check_validity_dates: false,
            },
            keep_alive: cfg.keep_alive_enable.then_some(KeepAlive {
                idle: if cfg.keep_alive_idle == 0 { 5 } else { cfg.keep_alive_idle },
                interval: if cfg.keep_alive_interval == 0 { 5 } else { cfg.keep_alive_interval },
                count: if cfg.keep_alive_count == 0 { 3 } else { cfg.keep_alive_count },
            }),
            buffer_size: if cfg.buffer_size <= 0 {
                DEFAULT_BUFFER_SIZE as usize
            } else {
                cfg.buffer_size as usize
            },
            wait_timeout_ms: if auto_reconnect && cfg.reconnect_timeout_ms <= 0 {
                DEFAULT_RECONNECT_TIMEOUT_MS
            } else {
                cfg.reconnect_timeout_ms
            },
        };
        if let Some(uri) = &cfg.uri {
            s.set_uri(uri)?;
        }
        if let Some(h) = &cfg.host {
            s.host = Some(h.clone());
        }
        if cfg.port != 0 {
            s.port = cfg.port;
        }
        if let Some(u) = &cfg.username {
            s.username = Some(u.clone());
        }
        if let Some(p) = &cfg.password {
            s.password = Some(p.clone());
        }
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            s.auth = Some(basic_auth(u, p));
        }
        if let Some(p) = &cfg.path {
            s.path = Some(p.clone());
        }
        if cfg.subprotocol.is_some() {
            s.subprotocol = cfg.subprotocol.clone();
        }
        if cfg.user_agent.is_some() {
            s.user_agent = cfg.user_agent.clone();
        }
        if cfg.headers.is_some() {
            s.headers = cfg.headers.clone();
        }
        if s.scheme.is_none() {
            s.scheme = Some("ws".into());
        }
        Ok(s)
    }

    /// `esp_websocket_client_set_uri`: overwrites only the components the URI has.
    pub(crate) fn set_uri(&mut self, uri: &str) -> Result<(), super::uri::UriError> {
        let u = parse_uri(uri)?;
        if let Some(s) = u.scheme.clone() {
            self.scheme = Some(s);
        }
        if let Some(h) = u.host.clone() {
            self.host = Some(h);
        }
        if let Some(p) = u.path_and_query() {
            self.path = Some(p);
        }
        if let Some(p) = u.port {
            self.port = i32::from(p);
        }
        if let Some(info) = &u.userinfo {
            match info.split_once(':') {
                Some((user, pass)) => {
                    self.username = Some(user.to_string());
                    self.password = Some(pass.to_string());
                }
                None => self.username = Some(info.clone()),
            }
        }
        Ok(())
    }

    /// `esp_websocket_client_append_header`: adds `key: value\r\n` to the configured headers.
    pub(crate) fn append_header(&mut self, key: &str, value: &str) {
        self.headers.get_or_insert_with(String::new).push_str(&format!("{key}: {value}\r\n"));
    }

    /// Whether the scheme is one the client supports (case-insensitive `ws` / `wss`).
    pub(crate) fn scheme_is_tls(&self) -> Option<bool> {
        match self.scheme.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("ws") => Some(false),
            Some("wss") => Some(true),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(uri: &str) -> Config {
        Config { uri: Some(uri.into()), ..Default::default() }
    }

    #[test]
    fn explicit_port_beats_uri_port() {
        let s = Storage::from_config(&Config { port: 4567, ..cfg("ws://h:123") }).unwrap();
        assert_eq!(s.port, 4567);
    }

    #[test]
    fn uri_scheme_beats_transport() {
        let s =
            Storage::from_config(&Config { transport: TransportType::OverSsl, ..cfg("ws://h") })
                .unwrap();
        assert_eq!(s.scheme.as_deref(), Some("ws"));
        let s = Storage::from_config(&Config {
            transport: TransportType::OverSsl,
            host: Some("h".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.scheme.as_deref(), Some("wss"));
    }

    #[test]
    fn userinfo_with_password_builds_basic_auth() {
        let s = Storage::from_config(&cfg("ws://user:pass@h/")).unwrap();
        assert_eq!(s.auth.as_deref(), Some("Basic dXNlcjpwYXNz"));
        let s = Storage::from_config(&cfg("ws://user@h/")).unwrap();
        assert_eq!(s.auth, None);
    }

    #[test]
    fn defaults_are_normalised() {
        let s = Storage::from_config(&cfg("ws://h")).unwrap();
        assert_eq!(s.buffer_size, 1024);
        assert_eq!(s.wait_timeout_ms, 10_000);
        assert_eq!(s.network_timeout_ms, 10_000);
        assert_eq!(s.ping_interval_sec, 10);
        assert_eq!(s.pingpong_timeout_sec, 120);
        assert_eq!(s.port, 0);
        let s = Storage::from_config(&Config {
            disable_auto_reconnect: true,
            disable_pingpong_discon: true,
            pingpong_timeout_sec: 30,
            ..cfg("ws://h")
        })
        .unwrap();
        assert_eq!(s.wait_timeout_ms, 0);
        assert_eq!(s.pingpong_timeout_sec, 0);
    }

    #[test]
    fn common_name_with_skip_is_rejected() {
        let c = Config {
            cert_common_name: Some("x".into()),
            skip_cert_common_name_check: true,
            ..cfg("wss://h")
        };
        assert_eq!(Storage::from_config(&c), Err(InitError::CommonNameConflict));
    }
}
