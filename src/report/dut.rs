//! The DUT a run was made on, as every report records it: what its hello said (or, for
//! the host model, the model, its profile and build options), how it was reached, and
//! the stable name (`agent`) that identifies it in `index.json`, the case files and a
//! merged matrix.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::dut::agent::{AgentOptions, DEFAULT_MAX_LINE, DutSpec, Hello};
use crate::esp::{Profile, Sdkconfig};

/// How the DUT was reached (the part of `--dut` before the first `:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// The model in wsim's own process (`--dut host`).
    Host,
    /// A subprocess speaking the agent protocol on stdio (`exec:COMMAND`).
    Exec,
    /// An agent on a TCP port (`tcp:HOST:PORT`).
    Tcp,
    /// A board on a serial port (`serial:PORT[@BAUD]`).
    Serial,
    /// A serial port behind an RFC 2217 server (`rfc2217://HOST:PORT`).
    Rfc2217,
    /// Recorded by a wsim that wrote the DUT as one line of text: only that text is
    /// known (kept in `software`).
    Unknown,
}

impl LinkKind {
    /// The kind of a `--dut` value, from its text (so every link kind a DUT spec can
    /// name is recognised by its prefix).
    pub fn of_link(link: &str) -> LinkKind {
        let prefix = link.split(':').next().unwrap_or("");
        match prefix {
            "host" => LinkKind::Host,
            "exec" => LinkKind::Exec,
            "tcp" => LinkKind::Tcp,
            "serial" => LinkKind::Serial,
            "rfc2217" => LinkKind::Rfc2217,
            _ => LinkKind::Unknown,
        }
    }

    /// Whether the DUT lives outside wsim (reached through the agent protocol).
    pub fn is_external(self) -> bool {
        !matches!(self, LinkKind::Host | LinkKind::Unknown)
    }
}

/// Everything the reports say about the DUT. For an external DUT, its hello; for the
/// host model, the hello `wsim agent` would send for the same profile and build
/// options, so the two read alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutRecord {
    /// The DUT's name in reports: slug-safe (`[a-z0-9._-]`), stable across runs of the
    /// same DUT, and different for DUTs whose verdicts may differ. The host model is
    /// `wsim-model-<profile>` (`wsim-model-idf6`); an external DUT is
    /// `<chip>-<IDF version>-ewc<client version>` (`esp32s3-v5.5.1-ewc1.6.0`,
    /// `linux-v6.0-ewc1.6.0`, `host-v6.0-ewc1.8.0` for `wsim agent`).
    pub agent: String,
    /// How it was reached.
    pub kind: LinkKind,
    /// The `--dut` value (`host`, `exec:wsim agent`, `serial:/dev/ttyUSB0@115200`).
    pub link: String,
    /// The agent protocol version of its hello (`None`: the host model, no protocol).
    pub protocol: Option<u32>,
    /// The agent software and its version, as its hello names it.
    pub software: String,
    /// The chip (`host` for the model, `linux` for the C client built for the host).
    pub chip: String,
    /// The ESP-IDF version (the model: the version its profile follows).
    pub idf: String,
    /// The `esp_websocket_client` version (the model: the version it models).
    pub client: String,
    /// Free heap in bytes at the hello (`None`: not reported).
    pub heap: Option<u64>,
    /// The profile the run used (picked from the IDF version unless `--profile`).
    pub profile: String,
    /// The build options that matter, as the DUT reported them (the model: all of its
    /// options as the run set them), by Kconfig name.
    pub sdkconfig: BTreeMap<String, serde_json::Value>,
    /// The optional protocol features the DUT has.
    pub abilities: Vec<String>,
}

impl DutRecord {
    /// The host model with `profile` and build options `sdkconfig`.
    pub fn host(profile: Profile, sdkconfig: &Sdkconfig) -> DutRecord {
        let hello = AgentOptions {
            profile,
            pki: None,
            max_line: DEFAULT_MAX_LINE,
            inline_max: 0,
            sdkconfig: *sdkconfig,
        }
        .hello();
        DutRecord {
            agent: format!("wsim-model-{}", profile.name()),
            kind: LinkKind::Host,
            link: DutSpec::Host.to_string(),
            protocol: None,
            software: hello.agent,
            chip: hello.chip,
            idf: hello.idf,
            client: hello.client,
            heap: None,
            profile: profile.name().to_string(),
            sdkconfig: hello.sdkconfig.into_iter().collect(),
            abilities: hello.abilities,
        }
    }

    /// An external DUT reached through `link` that said `hello`; the run used `profile`.
    pub fn external(link: &DutSpec, hello: &Hello, profile: Profile) -> DutRecord {
        DutRecord {
            agent: agent_name(&hello.chip, &hello.idf, &hello.client),
            kind: LinkKind::of_link(&link.to_string()),
            link: link.to_string(),
            protocol: Some(hello.proto),
            software: hello.agent.clone(),
            chip: hello.chip.clone(),
            idf: hello.idf.clone(),
            client: hello.client.clone(),
            heap: (hello.heap > 0).then_some(hello.heap),
            profile: profile.name().to_string(),
            sdkconfig: hello.sdkconfig.clone().into_iter().collect(),
            abilities: hello.abilities.clone(),
        }
    }

    /// What an older `summary.json` recorded as one line: `host model (PROFILE)` is the
    /// host model (its build options unknown); anything else a DUT of unknown kind.
    pub fn legacy(text: &str) -> DutRecord {
        let host = text
            .strip_prefix("host model (")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(Profile::from_name);
        if let Some(profile) = host {
            let mut r = DutRecord::host(profile, &Sdkconfig::default());
            r.sdkconfig.clear();
            return r;
        }
        DutRecord {
            agent: slug_safe(text),
            kind: LinkKind::Unknown,
            link: String::new(),
            protocol: None,
            software: text.to_string(),
            chip: String::new(),
            idf: String::new(),
            client: String::new(),
            heap: None,
            profile: String::new(),
            sdkconfig: BTreeMap::new(),
            abilities: Vec::new(),
        }
    }

    /// One line for terminals and page headers: `host model · IDF v6.0 ·
    /// esp_websocket_client 1.8.0`, `esp32s3 · IDF v5.5.1 · client 1.6.0
    /// (serial:/dev/ttyUSB0)`.
    pub fn describe(&self) -> String {
        match self.kind {
            LinkKind::Host => {
                format!("host model · IDF {} · esp_websocket_client {}", self.idf, self.client)
            }
            LinkKind::Unknown => self.software.clone(),
            _ => format!("{} ({})", self.column_label(), self.link),
        }
    }

    /// The label of the DUT's column in a matrix: chip, IDF and client versions.
    pub fn column_label(&self) -> String {
        match self.kind {
            LinkKind::Unknown => self.software.clone(),
            _ => format!("{} · IDF {} · client {}", self.chip, self.idf, self.client),
        }
    }

    /// What makes `self` and `other` different DUTs, field by field (`field`, self's
    /// value, other's value); empty when they are the same DUT. The link (which port,
    /// which command), the agent software's version, the free heap and the build options
    /// do not make another DUT; the kind of DUT (the model or a device), the chip, the
    /// IDF and client versions and the profile do.
    pub fn differences(&self, other: &DutRecord) -> Vec<(&'static str, String, String)> {
        let side = |r: &DutRecord| {
            [
                (
                    "dut",
                    if r.kind == LinkKind::Host { "the host model" } else { "an external DUT" }
                        .into(),
                ),
                ("agent", r.agent.clone()),
                ("chip", r.chip.clone()),
                ("idf", r.idf.clone()),
                ("client", r.client.clone()),
                ("profile", r.profile.clone()),
            ]
        };
        let legacy =
            |r: &DutRecord| (r.kind == LinkKind::Unknown).then(|| ("recorded", r.software.clone()));
        if legacy(self).is_some() || legacy(other).is_some() {
            return if self.software == other.software && self.kind == other.kind {
                Vec::new()
            } else {
                vec![("dut", self.describe(), other.describe())]
            };
        }
        side(self)
            .into_iter()
            .zip(side(other))
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, b)| (a.0, a.1, b.1))
            .collect()
    }

    /// Whether `self` and `other` are the same DUT (see [`DutRecord::differences`]).
    pub fn same_dut(&self, other: &DutRecord) -> bool {
        self.differences(other).is_empty()
    }
}

/// `<chip>-<idf>-ewc<client>`, each part made slug-safe.
pub fn agent_name(chip: &str, idf: &str, client: &str) -> String {
    let part = |s: &str| {
        let s = slug_safe(s);
        if s.is_empty() { "unknown".to_string() } else { s }
    };
    let client = part(client.trim_start_matches('v'));
    format!("{}-{}-ewc{}", part(chip), part(idf), client)
}

/// Lower case; letters, digits, `.` and `-` kept, runs of anything else one `-`, no
/// leading or trailing `-`; at most 48 bytes.
pub fn slug_safe(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_string();
    out.truncate(48);
    out.trim_end_matches('-').to_string()
}

/// Reads a DUT record, or the one line older `summary.json` files hold.
pub fn deserialize_dut<'de, D: Deserializer<'de>>(d: D) -> Result<DutRecord, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Record(Box<DutRecord>),
        Line(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::Record(r) => *r,
        Either::Line(s) => DutRecord::legacy(&s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(chip: &str, idf: &str, client: &str) -> Hello {
        let mut h = AgentOptions {
            pki: None,
            profile: Profile::Idf55,
            max_line: DEFAULT_MAX_LINE,
            inline_max: 512,
            sdkconfig: Sdkconfig::default(),
        }
        .hello();
        h.chip = chip.into();
        h.idf = idf.into();
        h.client = client.into();
        h.heap = 201_344;
        h
    }

    #[test]
    fn agent_names_are_slug_safe_and_follow_the_dut() {
        let host = DutRecord::host(Profile::Idf6, &Sdkconfig::default());
        assert_eq!(host.agent, "wsim-model-idf6");
        assert_eq!(
            DutRecord::host(Profile::Idf55, &Sdkconfig::default()).agent,
            "wsim-model-idf5.5"
        );
        let spec = DutSpec::parse("exec:firmware/build/wsim-agent.elf").unwrap();
        let r = DutRecord::external(&spec, &hello("ESP32-S3", "v5.5.1", "1.6.0"), Profile::Idf55);
        assert_eq!(r.agent, "esp32-s3-v5.5.1-ewc1.6.0");
        assert_eq!(r.kind, LinkKind::Exec);
        assert_eq!(r.heap, Some(201_344));
        let odd = agent_name("lin ux/../", "", "v1.6.0");
        assert_eq!(odd, "lin-ux-..-unknown-ewc1.6.0");
        for name in [&host.agent, &r.agent, &odd] {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'-')
            );
        }
        assert_eq!(LinkKind::of_link("serial:/dev/ttyUSB0@115200"), LinkKind::Serial);
        assert_eq!(LinkKind::of_link("rfc2217://lab:4000"), LinkKind::Rfc2217);
    }

    #[test]
    fn another_chip_idf_or_client_is_another_dut_but_not_another_port() {
        let a = DutSpec::parse("tcp:127.0.0.1:7000").unwrap();
        let b = DutSpec::parse("tcp:127.0.0.1:7001").unwrap();
        let board = DutRecord::external(&a, &hello("esp32", "v5.5.1", "1.6.0"), Profile::Idf55);
        let mut same = DutRecord::external(&b, &hello("esp32", "v5.5.1", "1.6.0"), Profile::Idf55);
        same.heap = Some(1);
        assert!(board.same_dut(&same));
        let other = DutRecord::external(&a, &hello("esp32", "v5.5.2", "1.6.0"), Profile::Idf55);
        let d = board.differences(&other);
        assert!(d.iter().any(|(f, a, b)| *f == "idf" && a == "v5.5.1" && b == "v5.5.2"), "{d:?}");
        let host = DutRecord::host(Profile::Idf6, &Sdkconfig::default());
        assert!(host.differences(&board).iter().any(|(f, ..)| *f == "dut"));
        assert!(host.same_dut(&DutRecord::legacy("host model (idf6)")));
        assert!(!host.same_dut(&DutRecord::legacy("esp32 idf v5.5.1 client 1.6.0")));
    }

    #[test]
    fn an_older_one_line_dut_still_reads() {
        #[derive(Deserialize)]
        struct S {
            #[serde(deserialize_with = "deserialize_dut")]
            dut: DutRecord,
        }
        let s: S = serde_json::from_str(r#"{"dut":"host model (idf5.5)"}"#).unwrap();
        assert_eq!((s.dut.kind, s.dut.agent.as_str()), (LinkKind::Host, "wsim-model-idf5.5"));
        let s: S = serde_json::from_str(r#"{"dut":"esp32 idf v5.5.1 client 1.6.0"}"#).unwrap();
        assert_eq!(s.dut.kind, LinkKind::Unknown);
        assert_eq!(s.dut.agent, "esp32-idf-v5.5.1-client-1.6.0");
        let full = DutRecord::host(Profile::Idf6, &Sdkconfig::default());
        let text = format!(r#"{{"dut":{}}}"#, serde_json::to_string(&full).unwrap());
        let s: S = serde_json::from_str(&text).unwrap();
        assert_eq!(s.dut, full);
    }
}
