//! The build options (`sdkconfig`) that change what the client does: menuconfig
//! switches of esp-tls, of the component and of FreeRTOS. A device's firmware is built
//! with one set; the model takes them per world (a run, a scenario, `wsim connect`).

use serde::{Deserialize, Serialize};

/// Build options, under their Kconfig names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sdkconfig {
    /// `CONFIG_ESP_TLS_INSECURE`: allows the insecure options below (default off).
    #[serde(rename = "CONFIG_ESP_TLS_INSECURE", default)]
    pub esp_tls_insecure: bool,
    /// `CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY` (needs `CONFIG_ESP_TLS_INSECURE`): with no
    /// CA, no bundle and no global store the server is not verified. Off (the default),
    /// esp-tls refuses such a connection: "No server verification option set".
    #[serde(rename = "CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY", default)]
    pub esp_tls_skip_server_cert_verify: bool,
    /// `CONFIG_MBEDTLS_HAVE_TIME_DATE` (default off): mbedTLS checks certificate validity
    /// dates only with it, so by default an expired (or not yet valid) server
    /// certificate is accepted.
    #[serde(rename = "CONFIG_MBEDTLS_HAVE_TIME_DATE", default)]
    pub mbedtls_have_time_date: bool,
    /// `CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER`: buffers allocated per use. Not
    /// observable in events; recorded.
    #[serde(rename = "CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER", default)]
    pub ws_client_enable_dynamic_buffer: bool,
    /// `CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK`: sends take a lock of their own. Recorded;
    /// the model keeps one lock (a listed deviation).
    #[serde(rename = "CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK", default)]
    pub ws_client_separate_tx_lock: bool,
    /// `CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS` (default 2000), with the separate TX lock.
    #[serde(rename = "CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS", default = "tx_lock_timeout")]
    pub ws_client_tx_lock_timeout_ms: u32,
    /// `CONFIG_FREERTOS_HZ` (default 100): the tick rate every timeout given in ticks is
    /// counted in (`pdMS_TO_TICKS` truncates to whole ticks).
    #[serde(rename = "CONFIG_FREERTOS_HZ", default = "freertos_hz")]
    pub freertos_hz: u32,
}

fn tx_lock_timeout() -> u32 {
    2000
}

fn freertos_hz() -> u32 {
    100
}

impl Default for Sdkconfig {
    fn default() -> Self {
        Sdkconfig {
            esp_tls_insecure: false,
            esp_tls_skip_server_cert_verify: false,
            mbedtls_have_time_date: false,
            ws_client_enable_dynamic_buffer: false,
            ws_client_separate_tx_lock: false,
            ws_client_tx_lock_timeout_ms: tx_lock_timeout(),
            freertos_hz: freertos_hz(),
        }
    }
}

/// Why a set of options cannot be a build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdkconfigError {
    /// `KEY=VALUE` did not parse.
    #[error("sdkconfig: {0}")]
    Bad(String),
}

/// The Kconfig names, for messages.
pub const SDKCONFIG_KEYS: [&str; 7] = [
    "CONFIG_ESP_TLS_INSECURE",
    "CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY",
    "CONFIG_MBEDTLS_HAVE_TIME_DATE",
    "CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER",
    "CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK",
    "CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS",
    "CONFIG_FREERTOS_HZ",
];

impl Sdkconfig {
    /// Whether a server may go unverified: both insecure switches on, as Kconfig
    /// requires (`SKIP_SERVER_CERT_VERIFY` depends on `ESP_TLS_INSECURE`).
    pub fn skips_server_verification(&self) -> bool {
        self.esp_tls_insecure && self.esp_tls_skip_server_cert_verify
    }

    /// Milliseconds per tick.
    pub fn tick_period_ms(&self) -> u64 {
        (1000 / u64::from(self.freertos_hz.max(1))).max(1)
    }

    /// Every option, as `KEY=VALUE` lines in [`SDKCONFIG_KEYS`] order.
    pub fn lines(&self) -> Vec<String> {
        let yn = |b: bool| if b { "y" } else { "n" }.to_string();
        let values = [
            yn(self.esp_tls_insecure),
            yn(self.esp_tls_skip_server_cert_verify),
            yn(self.mbedtls_have_time_date),
            yn(self.ws_client_enable_dynamic_buffer),
            yn(self.ws_client_separate_tx_lock),
            self.ws_client_tx_lock_timeout_ms.to_string(),
            self.freertos_hz.to_string(),
        ];
        SDKCONFIG_KEYS.iter().zip(values).map(|(k, v)| format!("{k}={v}")).collect()
    }

    /// The options of `self` that `build` has otherwise, as `KEY=VALUE` lines of
    /// `self`'s values.
    pub fn differences(&self, build: &Sdkconfig) -> Vec<String> {
        let theirs = build.lines();
        self.lines().into_iter().filter(|l| !theirs.contains(l)).collect()
    }

    /// The options that differ from the defaults, as `KEY=VALUE` lines (for reports).
    pub fn changed(&self) -> Vec<String> {
        let d = Sdkconfig::default();
        let yn = |b: bool| if b { "y" } else { "n" };
        let mut out = Vec::new();
        if self.esp_tls_insecure != d.esp_tls_insecure {
            out.push(format!("CONFIG_ESP_TLS_INSECURE={}", yn(self.esp_tls_insecure)));
        }
        if self.esp_tls_skip_server_cert_verify != d.esp_tls_skip_server_cert_verify {
            out.push(format!(
                "CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY={}",
                yn(self.esp_tls_skip_server_cert_verify)
            ));
        }
        if self.mbedtls_have_time_date != d.mbedtls_have_time_date {
            out.push(format!("CONFIG_MBEDTLS_HAVE_TIME_DATE={}", yn(self.mbedtls_have_time_date)));
        }
        if self.ws_client_enable_dynamic_buffer != d.ws_client_enable_dynamic_buffer {
            out.push(format!(
                "CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER={}",
                yn(self.ws_client_enable_dynamic_buffer)
            ));
        }
        if self.ws_client_separate_tx_lock != d.ws_client_separate_tx_lock {
            out.push(format!(
                "CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK={}",
                yn(self.ws_client_separate_tx_lock)
            ));
        }
        if self.ws_client_tx_lock_timeout_ms != d.ws_client_tx_lock_timeout_ms {
            out.push(format!(
                "CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS={}",
                self.ws_client_tx_lock_timeout_ms
            ));
        }
        if self.freertos_hz != d.freertos_hz {
            out.push(format!("CONFIG_FREERTOS_HZ={}", self.freertos_hz));
        }
        out
    }

    /// Checks what Kconfig itself would refuse.
    pub fn validate(&self) -> Result<(), SdkconfigError> {
        if self.esp_tls_skip_server_cert_verify && !self.esp_tls_insecure {
            return Err(SdkconfigError::Bad(
                "CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY depends on CONFIG_ESP_TLS_INSECURE".into(),
            ));
        }
        if !(1..=1000).contains(&self.freertos_hz) {
            return Err(SdkconfigError::Bad(format!(
                "CONFIG_FREERTOS_HZ = {} is outside 1-1000",
                self.freertos_hz
            )));
        }
        Ok(())
    }

    /// Sets one option from `KEY=VALUE` (`y`/`n`, `true`/`false`, or a number), as a
    /// line of an `sdkconfig` file reads.
    pub fn set(&mut self, line: &str) -> Result<(), SdkconfigError> {
        let (key, value) = line.split_once('=').ok_or_else(|| {
            SdkconfigError::Bad(format!(
                "{line:?}: expected KEY=VALUE, e.g. CONFIG_FREERTOS_HZ=1000"
            ))
        })?;
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        let flag = || match value {
            "y" | "1" | "true" => Ok(true),
            "n" | "0" | "false" | "" => Ok(false),
            _ => Err(SdkconfigError::Bad(format!("{key}: expected y or n, got {value:?}"))),
        };
        let number = || {
            value.parse::<u32>().map_err(|_| {
                SdkconfigError::Bad(format!("{key}: expected a number, got {value:?}"))
            })
        };
        match key {
            "CONFIG_ESP_TLS_INSECURE" => self.esp_tls_insecure = flag()?,
            "CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY" => {
                self.esp_tls_skip_server_cert_verify = flag()?
            }
            "CONFIG_MBEDTLS_HAVE_TIME_DATE" => self.mbedtls_have_time_date = flag()?,
            "CONFIG_ESP_WS_CLIENT_ENABLE_DYNAMIC_BUFFER" => {
                self.ws_client_enable_dynamic_buffer = flag()?
            }
            "CONFIG_ESP_WS_CLIENT_SEPARATE_TX_LOCK" => self.ws_client_separate_tx_lock = flag()?,
            "CONFIG_ESP_WS_CLIENT_TX_LOCK_TIMEOUT_MS" => {
                self.ws_client_tx_lock_timeout_ms = number()?
            }
            "CONFIG_FREERTOS_HZ" => self.freertos_hz = number()?,
            other => {
                return Err(SdkconfigError::Bad(format!(
                    "unknown option {other:?}; known: {}",
                    SDKCONFIG_KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_set_options_and_kconfig_rules_hold() {
        let mut s = Sdkconfig::default();
        assert!(!s.skips_server_verification());
        assert_eq!(s.tick_period_ms(), 10);
        s.set("CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY=y").unwrap();
        assert!(s.validate().unwrap_err().to_string().contains("depends on"));
        s.set("CONFIG_ESP_TLS_INSECURE=y").unwrap();
        s.validate().unwrap();
        assert!(s.skips_server_verification());
        s.set("CONFIG_FREERTOS_HZ=1000").unwrap();
        assert_eq!(s.tick_period_ms(), 1);
        assert_eq!(
            s.changed(),
            vec![
                "CONFIG_ESP_TLS_INSECURE=y",
                "CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY=y",
                "CONFIG_FREERTOS_HZ=1000"
            ]
        );
        assert!(s.set("CONFIG_NOPE=y").unwrap_err().to_string().contains("unknown option"));
        assert!(s.set("CONFIG_FREERTOS_HZ=fast").is_err());
        assert!(s.set("CONFIG_ESP_TLS_INSECURE").is_err());
        s.set("CONFIG_FREERTOS_HZ=0").unwrap();
        assert!(s.validate().is_err());
    }
}
