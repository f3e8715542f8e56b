//! Autobahn's report files, typed: `index.json` (agent → case → outcome), the per-case
//! `<agent>_case_<id>.json` with its 39 keys, and the HTML (`index.html` with the
//! matrix of every catalogue case × agent, and a page per case with the wire log).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalogue::{Case, catalogue, category_name};
use super::id::CaseId;
use super::judge::{Status, Verdict};
use super::player::CaseRecord;
use crate::report::{esc, slug};

/// One agent's outcome of one case in `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// `behavior`.
    pub behavior: String,
    /// `behaviorClose`.
    #[serde(rename = "behaviorClose")]
    pub behavior_close: String,
    /// Milliseconds.
    pub duration: u64,
    /// The client's close code.
    #[serde(rename = "remoteCloseCode")]
    pub remote_close_code: Option<u64>,
    /// The case file's name.
    pub reportfile: String,
}

/// `index.json`: agent → case id → outcome (both sorted as strings, as Autobahn's
/// `sort_keys` does).
pub type Index = BTreeMap<String, BTreeMap<String, IndexEntry>>;

/// `expectedClose`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedCloseJson {
    /// Allowed codes.
    #[serde(rename = "closeCode")]
    pub close_code: Vec<u16>,
    /// Fatal when the wrong side closes (only written when set).
    #[serde(
        rename = "closedByWrongEndpointIsFatal",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub closed_by_wrong_endpoint_is_fatal: Option<bool>,
    /// The fuzzer closes.
    #[serde(rename = "closedByMe")]
    pub closed_by_me: bool,
    /// Must be clean.
    #[serde(rename = "requireClean")]
    pub require_clean: bool,
}

/// A per-case file: Autobahn's 39 keys, in its (sorted) order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CaseFile {
    pub agent: String,
    pub behavior: String,
    #[serde(rename = "behaviorClose")]
    pub behavior_close: String,
    pub case: usize,
    #[serde(rename = "closedByMe")]
    pub closed_by_me: bool,
    #[serde(rename = "createStats")]
    pub create_stats: bool,
    #[serde(rename = "createWirelog")]
    pub create_wirelog: bool,
    pub description: String,
    #[serde(rename = "droppedByMe")]
    pub dropped_by_me: bool,
    pub duration: u64,
    pub expectation: String,
    pub expected: BTreeMap<String, Vec<Value>>,
    #[serde(rename = "expectedClose")]
    pub expected_close: ExpectedCloseJson,
    #[serde(rename = "failedByMe")]
    pub failed_by_me: bool,
    #[serde(rename = "httpRequest")]
    pub http_request: String,
    #[serde(rename = "httpResponse")]
    pub http_response: String,
    pub id: String,
    #[serde(rename = "isServer")]
    pub is_server: bool,
    #[serde(rename = "localCloseCode")]
    pub local_close_code: Option<u16>,
    #[serde(rename = "localCloseReason")]
    pub local_close_reason: Option<String>,
    pub received: Vec<Value>,
    #[serde(rename = "remoteCloseCode")]
    pub remote_close_code: Option<u16>,
    #[serde(rename = "remoteCloseReason")]
    pub remote_close_reason: Option<String>,
    #[serde(rename = "reportCompressionRatio")]
    pub report_compression_ratio: bool,
    #[serde(rename = "reportTime")]
    pub report_time: bool,
    pub result: String,
    #[serde(rename = "resultClose")]
    pub result_close: String,
    #[serde(rename = "rxFrameStats")]
    pub rx_frame_stats: BTreeMap<String, u64>,
    #[serde(rename = "rxOctetStats")]
    pub rx_octet_stats: BTreeMap<String, u64>,
    pub started: String,
    #[serde(rename = "trafficStats")]
    pub traffic_stats: Option<Value>,
    #[serde(rename = "txFrameStats")]
    pub tx_frame_stats: BTreeMap<String, u64>,
    #[serde(rename = "txOctetStats")]
    pub tx_octet_stats: BTreeMap<String, u64>,
    #[serde(rename = "wasClean")]
    pub was_clean: bool,
    #[serde(rename = "wasCloseHandshakeTimeout")]
    pub was_close_handshake_timeout: bool,
    #[serde(rename = "wasNotCleanReason")]
    pub was_not_clean_reason: Option<String>,
    #[serde(rename = "wasOpenHandshakeTimeout")]
    pub was_open_handshake_timeout: bool,
    #[serde(rename = "wasServerConnectionDropTimeout")]
    pub was_server_connection_drop_timeout: bool,
    pub wirelog: Vec<Value>,
}

/// The case file name's stem: `<agentslug>_case_<id with _>`.
pub fn case_stem(agent: &str, id: &CaseId) -> String {
    format!("{}_case_{}", slug(agent), id.underscored())
}

fn stats<K: ToString>(m: &BTreeMap<K, u64>) -> BTreeMap<String, u64> {
    m.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

impl CaseFile {
    /// The case file of `case` (number `caseno` of the selection) run by `agent`.
    pub fn new(
        agent: &str,
        case: &Case,
        caseno: usize,
        rec: &CaseRecord,
        v: &Verdict,
        started: String,
    ) -> CaseFile {
        let xc = &case.expected_close;
        CaseFile {
            agent: agent.to_string(),
            behavior: v.behavior.to_string(),
            behavior_close: v.behavior_close.to_string(),
            case: caseno,
            closed_by_me: rec.obs.closed_by_me,
            create_stats: true,
            create_wirelog: case.wirelog,
            description: case.description.clone(),
            dropped_by_me: rec.obs.dropped_by_me,
            duration: rec.duration_ms,
            expectation: case.expectation.clone(),
            expected: case
                .expected
                .iter()
                .map(|(k, ev)| (k.to_string(), ev.iter().map(|e| e.to_json()).collect()))
                .collect(),
            expected_close: ExpectedCloseJson {
                close_code: xc.codes.clone(),
                closed_by_wrong_endpoint_is_fatal: xc.wrong_endpoint_fatal.then_some(true),
                closed_by_me: xc.closed_by_me,
                require_clean: xc.require_clean,
            },
            failed_by_me: rec.obs.failed_by_me,
            http_request: rec.http_request.clone(),
            http_response: rec.http_response.clone(),
            id: case.id.to_string(),
            is_server: true,
            local_close_code: rec.local_close.as_ref().and_then(|(c, _)| *c),
            local_close_reason: rec
                .local_close
                .as_ref()
                .map(|(_, r)| r.clone())
                .filter(|r| !r.is_empty()),
            received: rec.obs.received.iter().map(|e| e.to_json()).collect(),
            remote_close_code: rec.obs.remote_close_code,
            remote_close_reason: rec.remote_close_reason.clone(),
            report_compression_ratio: matches!(case.id.category(), 12 | 13),
            report_time: case.report_time,
            result: v.result.clone(),
            result_close: v.result_close.clone(),
            rx_frame_stats: stats(&rec.rx_frame_stats),
            rx_octet_stats: stats(&rec.rx_octet_stats),
            started,
            traffic_stats: None,
            tx_frame_stats: stats(&rec.tx_frame_stats),
            tx_octet_stats: stats(&rec.tx_octet_stats),
            was_clean: rec.obs.was_clean,
            was_close_handshake_timeout: rec.was_close_handshake_timeout,
            was_not_clean_reason: if rec.obs.was_clean {
                None
            } else {
                rec.was_not_clean_reason.clone()
            },
            was_open_handshake_timeout: false,
            was_server_connection_drop_timeout: false,
            wirelog: rec.wirelog.clone(),
        }
    }

    /// Its `index.json` entry.
    pub fn index_entry(&self) -> IndexEntry {
        IndexEntry {
            behavior: self.behavior.clone(),
            behavior_close: self.behavior_close.clone(),
            duration: self.duration,
            remote_close_code: self.remote_close_code.map(u64::from),
            reportfile: format!(
                "{}.json",
                case_stem(&self.agent, &CaseId::parse(&self.id).unwrap_or(CaseId(vec![0])))
            ),
        }
    }
}

/// JSON as Autobahn writes it: keys sorted, three-space indent.
pub fn to_json<T: Serialize>(v: &T) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Values built here always serialise.
    let _ = v.serialize(&mut ser);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes a file atomically (a temporary name, then a rename).
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// A report folder being written: case files as cases finish, the index on request.
#[derive(Debug)]
pub struct ReportWriter {
    dir: PathBuf,
    index: Index,
    descriptions: BTreeMap<String, (String, String)>,
}

impl ReportWriter {
    /// Writes into `dir` (created if missing).
    pub fn create(dir: &Path) -> std::io::Result<ReportWriter> {
        std::fs::create_dir_all(dir)?;
        Ok(ReportWriter {
            dir: dir.to_path_buf(),
            index: Index::new(),
            descriptions: BTreeMap::new(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index so far.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Writes one case's JSON and HTML and adds it to the index.
    pub fn add(&mut self, file: &CaseFile) -> std::io::Result<()> {
        let id = CaseId::parse(&file.id).unwrap_or(CaseId(vec![0]));
        let stem = case_stem(&file.agent, &id);
        write_atomic(&self.dir.join(format!("{stem}.json")), &to_json(file))?;
        write_atomic(&self.dir.join(format!("{stem}.html")), &case_html(file))?;
        self.index
            .entry(file.agent.clone())
            .or_default()
            .insert(file.id.clone(), file.index_entry());
        Ok(())
    }

    /// Adds index entries without case files (merging copies the files itself).
    pub fn add_entries(&mut self, agent: &str, entries: BTreeMap<String, IndexEntry>) {
        self.index.entry(agent.to_string()).or_default().extend(entries);
    }

    /// Descriptions for cases that are not in the catalogue (kept from merged reports).
    pub fn add_description(&mut self, id: &str, description: String, expectation: String) {
        self.descriptions.insert(id.to_string(), (description, expectation));
    }

    /// Rewrites `index.json` and `index.html`.
    pub fn write_index(&self) -> std::io::Result<()> {
        write_atomic(&self.dir.join("index.json"), &to_json(&self.index))?;
        write_atomic(&self.dir.join("index.html"), &index_html(&self.index, &self.descriptions))
    }
}

const STYLE: &str = r#"
body { font-family: Segoe UI, Tahoma, Arial, Verdana, sans-serif; font-size: 13px; color: #333; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
td.case_ok { background: #0a0; color: #fff; } td.case_non_strict { background: #9a0; color: #fff; }
td.case_failed { background: #900; color: #fff; } td.case_info { background: #4095BF; color: #fff; }
td.case_almost { background: #6d6; color: #fff; } td.case_missing { background: #a05a2c; color: #fff; }
td.case_unimplemented { background: #800080; color: #fff; }
td a { color: #fff; }
tr.case_category td { background: #000; color: #fff; font-weight: bold; }
tr.case_subcategory td { background: #555; color: #fff; }
pre { background: #f6f6f6; padding: 6px; white-space: pre-wrap; word-break: break-all; }
"#;

fn behavior_cell(s: &str) -> (&'static str, &'static str) {
    match Status::parse(s) {
        Some(Status::Ok) => ("case_ok", "Pass"),
        Some(Status::NonStrict) => ("case_non_strict", "Non-Strict"),
        Some(Status::Informational) => ("case_info", "Info"),
        _ => ("case_failed", "Fail"),
    }
}

fn close_cell(e: &IndexEntry) -> (&'static str, String) {
    let code = e.remote_close_code.map_or("None".to_string(), |c| c.to_string());
    match Status::parse(&e.behavior_close) {
        Some(Status::Ok) => ("case_ok", code),
        Some(Status::FailedByClient) => ("case_almost", code),
        Some(Status::WrongCode) => ("case_non_strict", code),
        Some(Status::Informational) => ("case_info", code),
        Some(Status::Unclean) => ("case_failed", "Unclean".into()),
        _ => ("case_failed", "Fail".into()),
    }
}

/// `index.html`: the legend, then every catalogue case (and any other case of the
/// index) × every agent, then the descriptions.
pub fn index_html(index: &Index, extra: &BTreeMap<String, (String, String)>) -> String {
    let agents: Vec<&String> = index.keys().collect();
    // The catalogue, plus ids only merged reports know.
    let mut ids: Vec<(CaseId, String, String)> = catalogue()
        .iter()
        .map(|c| (c.id.clone(), c.description.clone(), c.expectation.clone()))
        .collect();
    for (id, (d, x)) in extra {
        if let Some(cid) = CaseId::parse(id)
            && super::catalogue::find(&cid).is_none()
        {
            ids.push((cid, d.clone(), x.clone()));
        }
    }
    // Ids that are not numbers (wsim run's scenarios) get a table of their own.
    let mut named: Vec<&String> = Vec::new();
    for m in index.values() {
        for id in m.keys() {
            match CaseId::parse(id) {
                Some(cid) => {
                    if !ids.iter().any(|(i, ..)| *i == cid) {
                        ids.push((cid, String::new(), String::new()));
                    }
                }
                None => {
                    if !named.contains(&id) {
                        named.push(id);
                    }
                }
            }
        }
    }
    named.sort();
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Autobahn WebSocket Testsuite Report</title><style>{STYLE}</style>\
         <script>function toggleClose(){{for(const e of document.querySelectorAll('.close')){{e.style.display=e.style.display=='none'?'':'none';}}}}</script></head><body>\
         <h1>Autobahn WebSocket Testsuite Report</h1><p>Generated by {}.</p>",
        esc(super::handshake::SERVER)
    );
    h.push_str("<table><tr><td class=\"case_ok\">Pass</td><td>Test case was executed and passed successfully.</td></tr>\
        <tr><td class=\"case_non_strict\">Non-Strict</td><td>Test case was executed and passed non-strictly.</td></tr>\
        <tr><td class=\"case_failed\">Fail</td><td>Test case was executed and failed.</td></tr>\
        <tr><td class=\"case_info\">Info</td><td>Informational test case which detects certain implementation behavior left unspecified by the spec.</td></tr>\
        <tr><td class=\"case_unimplemented\">Unimplemented</td><td>The client does not implement what the case tests.</td></tr>\
        <tr><td class=\"case_missing\">Missing</td><td>Test case is missing, either because it was deselected or the agent did not run it.</td></tr></table>");
    h.push_str("<button onclick=\"toggleClose()\">Toggle Details</button><table id=\"agent_case_results\">");
    let agent_row = |h: &mut String, label: &str, class: &str| {
        let _ = write!(h, "<tr class=\"{class}\"><td>{}</td>", esc(label));
        for a in &agents {
            let _ = write!(h, "<td class=\"agent\" colspan=\"2\">{}</td>", esc(a));
        }
        h.push_str("</tr>");
    };
    let (mut cat, mut sub) = (None, None);
    for (id, ..) in &ids {
        let c = id.category();
        let s = id.0.get(..2.min(id.0.len() - 1)).map(|x| x.to_vec());
        if cat != Some(c) {
            agent_row(&mut h, &format!("{c} {}", category_name(c)), "case_category");
            cat = Some(c);
            sub = None;
        }
        if id.0.len() > 2 && sub != s {
            let label: Vec<String> = id.0[..2].iter().map(|n| n.to_string()).collect();
            agent_row(&mut h, &label.join("."), "case_subcategory");
            sub = s;
        }
        let u = id.underscored();
        let _ =
            write!(h, "<tr><td><a href=\"#case_desc_{u}\" style=\"color:#333\">Case {id}</a></td>");
        cells(&mut h, index, &agents, &id.to_string());
        h.push_str("</tr>");
    }
    if !named.is_empty() {
        agent_row(&mut h, "Other cases (wsim scenarios)", "case_category");
        for id in &named {
            let _ = write!(h, "<tr><td>{}</td>", esc(id));
            cells(&mut h, index, &agents, id);
            h.push_str("</tr>");
        }
    }
    h.push_str("</table><h2>Test case descriptions</h2>");
    for (id, d, x) in &ids {
        let _ = write!(
            h,
            "<div id=\"case_desc_{}\"><h3>Case {id}</h3><p><b>Description</b><br>{d}</p><p><b>Expectation</b><br>{x}</p></div>",
            id.underscored()
        );
    }
    h.push_str("</body></html>\n");
    h
}

/// One case's cells for every agent: behaviour and close, or one cell for
/// UNIMPLEMENTED and for a case the agent did not run.
fn cells(h: &mut String, index: &Index, agents: &[&String], id: &str) {
    for a in agents {
        match index.get(*a).and_then(|m| m.get(id)) {
            None => h.push_str("<td class=\"case_missing\" colspan=\"2\">Missing</td>"),
            Some(e) if e.behavior == "UNIMPLEMENTED" => {
                let _ = write!(
                    h,
                    "<td class=\"case_unimplemented\" colspan=\"2\"><a href=\"{}\">Unimplemented</a></td>",
                    esc(&e.reportfile.replace(".json", ".html"))
                );
            }
            Some(e) => {
                let (bc, bt) = behavior_cell(&e.behavior);
                let (cc, ct) = close_cell(e);
                let _ = write!(
                    h,
                    "<td class=\"{bc}\"><a href=\"{}\">{bt}</a><br>{} ms</td><td class=\"{cc} close\">{}</td>",
                    esc(&e.reportfile.replace(".json", ".html")),
                    e.duration,
                    esc(&ct)
                );
            }
        }
    }
}

/// A case's page: summary, description, expectation, outcome, close flags, statistics,
/// handshake and wire log.
pub fn case_html(f: &CaseFile) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Case {id}</title><style>{STYLE}</style></head><body>\
         <h1>{agent} - Case {id} : {b} - <span>{ms} ms</span> @ {started}</h1>\
         <p><b>Case Description</b><br>{desc}</p><p><b>Case Expectation</b><br>{exp}</p>",
        id = esc(&f.id),
        agent = esc(&f.agent),
        b = esc(&f.behavior),
        ms = f.duration,
        started = esc(&f.started),
        desc = f.description,
        exp = f.expectation,
    );
    let cap = |s: String| {
        if s.len() > 1000 {
            format!(
                "{} ...",
                &s[..s
                    .char_indices()
                    .take_while(|(i, _)| *i < 1000)
                    .last()
                    .map_or(0, |(i, c)| i + c.len_utf8())]
            )
        } else {
            s
        }
    };
    let _ = write!(
        h,
        "<h2>Case Outcome</h2><p>{}</p><p>Expected:</p><pre>{}</pre><p>Observed:</p><pre>{}</pre>",
        esc(&f.result),
        esc(&cap(serde_json::to_string(&f.expected).unwrap_or_default())),
        esc(&cap(serde_json::to_string(&f.received).unwrap_or_default()))
    );
    let _ = write!(
        h,
        "<h2>Case Closing Behavior</h2><p>{} ({})</p><table>",
        esc(&f.result_close),
        esc(&f.behavior_close)
    );
    let row = |h: &mut String, k: &str, v: String, d: &str| {
        let _ = write!(h, "<tr><td>{k}</td><td>{}</td><td>{d}</td></tr>", esc(&v));
    };
    let opt = |v: &Option<u16>| v.map_or("None".into(), |c| c.to_string());
    row(
        &mut h,
        "isServer",
        f.is_server.to_string(),
        "True, iff I (the fuzzer) am a server, and the peer is a client.",
    );
    row(
        &mut h,
        "closedByMe",
        f.closed_by_me.to_string(),
        "True, iff I have initiated closing handshake (that is, did send close first).",
    );
    row(
        &mut h,
        "failedByMe",
        f.failed_by_me.to_string(),
        "True, iff I have failed the WebSocket connection.",
    );
    row(
        &mut h,
        "droppedByMe",
        f.dropped_by_me.to_string(),
        "True, iff I dropped the TCP connection.",
    );
    row(
        &mut h,
        "wasClean",
        f.was_clean.to_string(),
        "True, iff full WebSocket closing handshake was performed (close frame sent and received) _and_ the server dropped the TCP (which is its responsibility).",
    );
    row(
        &mut h,
        "wasNotCleanReason",
        f.was_not_clean_reason.clone().unwrap_or("None".into()),
        "When wasClean == False, the reason what happened.",
    );
    row(
        &mut h,
        "wasCloseHandshakeTimeout",
        f.was_close_handshake_timeout.to_string(),
        "When we are a client, and we expected the server to drop the TCP, but that didn't happen in time, this gets True.",
    );
    row(
        &mut h,
        "localCloseCode",
        opt(&f.local_close_code),
        "The close code I sent in close frame (if any).",
    );
    row(
        &mut h,
        "localCloseReason",
        f.local_close_reason.clone().unwrap_or("None".into()),
        "The close reason I sent in close frame (if any).",
    );
    row(
        &mut h,
        "remoteCloseCode",
        opt(&f.remote_close_code),
        "The close code the peer sent me in close frame (if any).",
    );
    row(
        &mut h,
        "remoteCloseReason",
        f.remote_close_reason.clone().unwrap_or("None".into()),
        "The close reason the peer sent me in close frame (if any).",
    );
    h.push_str("</table><h2>Wire Statistics</h2>");
    for (name, m) in [
        ("Octets Received by Chop Size", &f.rx_octet_stats),
        ("Octets Transmitted by Chop Size", &f.tx_octet_stats),
    ] {
        let _ = write!(
            h,
            "<h3>{name}</h3><table><tr><th>Chop Size</th><th>Count</th><th>Octets</th></tr>"
        );
        let mut rows: Vec<(u64, u64)> =
            m.iter().map(|(k, v)| (k.parse().unwrap_or(0), *v)).collect();
        rows.sort_unstable();
        for (k, v) in rows {
            let _ = write!(h, "<tr><td>{k}</td><td>{v}</td><td>{}</td></tr>", k * v);
        }
        h.push_str("</table>");
    }
    for (name, m) in [
        ("Frames Received by Opcode", &f.rx_frame_stats),
        ("Frames Transmitted by Opcode", &f.tx_frame_stats),
    ] {
        let _ = write!(h, "<h3>{name}</h3><table><tr><th>Opcode</th><th>Count</th></tr>");
        for (k, v) in m {
            let _ = write!(h, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
        }
        h.push_str("</table>");
    }
    let _ = write!(
        h,
        "<h2>Opening Handshake</h2><pre>{}</pre><pre>{}</pre><h2>Wire Log</h2><pre>",
        esc(&f.http_request),
        esc(&f.http_response)
    );
    for (i, r) in f.wirelog.iter().enumerate() {
        let _ = writeln!(h, "{:03} {}", i, esc(&r.to_string()));
    }
    h.push_str("</pre></body></html>\n");
    h
}

/// Reads a report folder's `index.json`.
pub fn read_index(dir: &Path) -> Result<Index, String> {
    let p = dir.join("index.json");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: line {}: {e}", p.display(), e.line()))
}
