//! `[dut]`: which DUTs a scenario does not apply to, each with the reason — e.g. a
//! scenario that only the simulated network or the host's own loopback can do is
//! skipped on every external DUT, and one where the real C client on ESP-IDF's `linux`
//! target differs for a known reason is skipped there.
//!
//! ```toml
//! [dut]
//! skip = { external = "needs a refused connect to 127.0.0.1:1 on this machine", linux = "…" }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A kind of DUT a scenario can be skipped on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DutKind {
    /// The model in wsim's process (`--dut host`).
    Host,
    /// Every DUT behind the agent protocol (`exec:`, `tcp:`, `serial:`, `rfc2217://`).
    External,
    /// An external DUT whose hello says chip `linux`: the real C client built for
    /// ESP-IDF's linux target.
    Linux,
    /// An ESP32 board.
    Esp32,
    /// An ESP32-S2 board.
    Esp32s2,
    /// An ESP32-S3 board.
    Esp32s3,
    /// An ESP32-C2 board.
    Esp32c2,
    /// An ESP32-C3 board.
    Esp32c3,
    /// An ESP32-C5 board.
    Esp32c5,
    /// An ESP32-C6 board.
    Esp32c6,
    /// An ESP32-H2 board.
    Esp32h2,
    /// An ESP32-P4 board.
    Esp32p4,
}

impl DutKind {
    /// The name as a scenario writes it.
    pub fn name(self) -> &'static str {
        match self {
            DutKind::Host => "host",
            DutKind::External => "external",
            DutKind::Linux => "linux",
            DutKind::Esp32 => "esp32",
            DutKind::Esp32s2 => "esp32s2",
            DutKind::Esp32s3 => "esp32s3",
            DutKind::Esp32c2 => "esp32c2",
            DutKind::Esp32c3 => "esp32c3",
            DutKind::Esp32c5 => "esp32c5",
            DutKind::Esp32c6 => "esp32c6",
            DutKind::Esp32h2 => "esp32h2",
            DutKind::Esp32p4 => "esp32p4",
        }
    }
}

/// Why a scenario is skipped on a kind of DUT: a non-empty, one-line text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String")]
pub struct SkipReason(String);

impl TryFrom<String> for SkipReason {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("a skip needs its reason: a non-empty text".into());
        }
        if s.contains('\n') || s.len() > 300 {
            return Err("a skip reason is one line of at most 300 bytes".into());
        }
        Ok(SkipReason(s))
    }
}

impl SkipReason {
    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `[dut]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DutRules {
    /// Kinds of DUT the scenario is skipped on, each with the reason: `host`,
    /// `external` (every DUT behind the agent protocol), or a chip named in the DUT's
    /// hello (`linux` for the real C client on the host, `esp32`, `esp32s3`, …). A
    /// chip's entry is checked before `external`.
    #[serde(default)]
    pub skip: BTreeMap<DutKind, SkipReason>,
}

impl DutRules {
    /// Why the scenario is skipped on this DUT (`host`: the in-process model; `chip`:
    /// an external DUT's chip from its hello), with the kind that matched.
    pub fn skip_reason(&self, host: bool, chip: Option<&str>) -> Option<(DutKind, &str)> {
        let find = |k: DutKind| self.skip.get(&k).map(|r| (k, r.as_str()));
        if host {
            return find(DutKind::Host);
        }
        let by_chip = chip.and_then(|c| {
            self.skip.iter().find(|(k, _)| k.name() == c).map(|(k, r)| (*k, r.as_str()))
        });
        by_chip.or_else(|| find(DutKind::External))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml_text: &str) -> Result<DutRules, String> {
        toml::from_str(toml_text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_chip_entry_wins_over_external_and_host_is_its_own() {
        let r =
            rules("skip = { external = \"loopback only\", linux = \"differs on linux\" }").unwrap();
        assert_eq!(r.skip_reason(true, None), None);
        assert_eq!(r.skip_reason(false, Some("linux")), Some((DutKind::Linux, "differs on linux")));
        assert_eq!(r.skip_reason(false, Some("esp32")), Some((DutKind::External, "loopback only")));
        assert_eq!(r.skip_reason(false, None), Some((DutKind::External, "loopback only")));
        let r = rules("skip = { host = \"a device-only behaviour\" }").unwrap();
        assert_eq!(r.skip_reason(true, None), Some((DutKind::Host, "a device-only behaviour")));
        assert_eq!(r.skip_reason(false, Some("esp32")), None);
    }

    #[test]
    fn bad_kinds_and_empty_reasons_are_refused() {
        let e = rules("skip = { board = \"x\" }").unwrap_err();
        assert!(e.contains("unknown variant `board`"), "{e}");
        let e = rules("skip = { external = \"  \" }").unwrap_err();
        assert!(e.contains("needs its reason"), "{e}");
        let e = rules("skip = { external = true }").unwrap_err();
        assert!(e.contains("string"), "{e}");
        let e = rules("skipped = {}").unwrap_err();
        assert!(e.contains("unknown field `skipped`"), "{e}");
    }
}
