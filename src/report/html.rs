//! `index.html` (a matrix of cases × DUTs in Autobahn's style) and one page per case.

use std::fmt::Write;

use super::case::{behavior_close, case_stem, remote_close_code};
use super::dut::DutRecord;
use crate::run::{RunInfo, ScenarioReport, TraceEntry, Verdict};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = r#"
body { font-family: Segoe UI, Tahoma, Arial, Verdana, sans-serif; font-size: 13px; background: #fff; color: #333; }
h1 { font-size: 22px; } h2 { font-size: 16px; margin-top: 24px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eee; }
td.case_ok { background: #0a0; color: #fff; } td.case_non_strict { background: #9a0; color: #fff; }
td.case_failed { background: #900; color: #fff; } td.case_info { background: #4095BF; color: #fff; }
td.case_almost { background: #6d6; color: #fff; } td.case_missing { background: #a05a2c; color: #fff; }
td.case_ok a, td.case_failed a, td.case_info a, td.case_missing a { color: #fff; }
tr.case_category td { background: #000; color: #fff; font-weight: bold; font-size: 14px; }
pre { background: #f6f6f6; padding: 8px; white-space: pre-wrap; word-break: break-all; }
"#;

fn cell_class(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Pass => ("case_ok", "Pass"),
        Verdict::Fail => ("case_failed", "Fail"),
        Verdict::Error => ("case_failed", "Error"),
        Verdict::Skip => ("case_info", "Skip"),
    }
}

fn close_cell(r: &ScenarioReport) -> (&'static str, String) {
    match behavior_close(r) {
        "OK" => ("case_ok", remote_close_code(r).map_or("None".into(), |c| c.to_string())),
        "UNCLEAN" => ("case_failed", "Unclean".into()),
        _ => ("case_info", "None".into()),
    }
}

/// The index page: a legend, then the matrix grouped by category (the first part of
/// the id), one row per case and two cells per DUT.
pub fn index_html(info: &RunInfo, agent: &str, reports: &[ScenarioReport]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wsim report</title><style>{STYLE}</style></head><body>\n\
         <h1>wsim conformance report</h1>\n<p>wsim {} &middot; DUT {} &middot; profile {} &middot; world {} &middot; seed {}</p>\n",
        esc(&info.tool_version),
        esc(&info.dut.describe()),
        esc(&info.profile),
        esc(&info.world),
        info.seed
    );
    h.push_str("<table id=\"legend\"><tr><td class=\"case_ok\">Pass</td><td class=\"case_failed\">Fail</td><td class=\"case_info\">Skip / Info</td><td class=\"case_missing\">Missing</td></tr></table>\n");
    h.push_str("<button onclick=\"for (const c of document.querySelectorAll('.close')) c.style.display = c.style.display === 'none' ? '' : 'none'\">Toggle Details</button>\n");
    h.push_str("<table id=\"agent_case_results\">\n");
    let mut category = String::new();
    for r in reports {
        let cat = r.id.split('/').next().unwrap_or("").to_string();
        if cat != category {
            category = cat.clone();
            let _ = writeln!(
                h,
                "<tr class=\"case_category\"><td>{}</td><td class=\"agent\" colspan=\"2\" title=\"{}\">{}</td></tr>",
                esc(&category),
                esc(agent),
                esc(&info.dut.column_label())
            );
        }
        let (class, label) = cell_class(r.verdict);
        let (cclass, ctext) = close_cell(r);
        let stem = case_stem(agent, &r.id);
        let _ = writeln!(
            h,
            "<tr class=\"case\"><td><a href=\"#case_desc_{stem}\" title=\"{}\">Case {}</a></td><td class=\"{class}\"><a href=\"{stem}.html\">{label}</a><br>{} ms</td><td class=\"{cclass} close\">{}</td></tr>",
            esc(&r.name),
            esc(&r.id),
            r.wall_ms,
            esc(&ctext)
        );
    }
    h.push_str("</table>\n<h2>Case descriptions</h2>\n");
    for r in reports {
        let stem = case_stem(agent, &r.id);
        let _ = writeln!(
            h,
            "<p id=\"case_desc_{stem}\"><b>Case {}</b>: {}</p>",
            esc(&r.id),
            esc(&r.name)
        );
    }
    h.push_str("</body></html>\n");
    h
}

/// The page of one case: summary (with the DUT), outcome, trace, and each server's
/// wire log.
pub fn case_html(dut: &DutRecord, r: &ScenarioReport) -> String {
    let mut h = String::new();
    let (class, label) = cell_class(r.verdict);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Case {}</title><style>{STYLE}</style></head><body>\n\
         <h1>Case {}</h1>\n<table><tr><th>Agent</th><td>{}</td></tr><tr><th>DUT</th><td>{}</td></tr><tr><th>Scenario</th><td>{}</td></tr>\
         <tr><th>File</th><td>{}</td></tr><tr><th>Verdict</th><td class=\"{class}\">{label}</td></tr>\
         <tr><th>Duration</th><td>{} ms</td></tr><tr><th>Seed</th><td>{}</td></tr></table>\n",
        esc(&r.id),
        esc(&r.id),
        esc(&dut.agent),
        esc(&dut.describe()),
        esc(&r.name),
        esc(&r.file.display().to_string()),
        r.wall_ms,
        r.seed
    );
    if let Some(d) = &r.detail {
        let _ = writeln!(h, "<h2>Outcome</h2><pre>{}</pre>", esc(d));
    }
    h.push_str("<h2>Trace</h2><table><tr><th>t (ms)</th><th>who</th><th>what</th></tr>\n");
    for t in &r.trace {
        let (who, what) = match t {
            TraceEntry::Step { step, summary, .. } => (format!("step {step}"), summary.clone()),
            TraceEntry::Call { client, function, returned, .. } => {
                (client.clone(), format!("{function}() = {returned}"))
            }
            TraceEntry::Event { client, event, .. } => (client.clone(), event.to_string()),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.t_ms(),
            esc(&who),
            esc(&what)
        );
    }
    h.push_str("</table>\n");
    for (name, conns) in &r.servers {
        for (i, c) in conns.iter().enumerate() {
            let _ = writeln!(h, "<h2>Server {} &middot; connection {}</h2>", esc(name), i + 1);
            let _ = writeln!(h, "<pre>{}</pre>", esc(&c.request));
            h.push_str("<table><tr><th>t (ms)</th><th>dir</th><th>bytes</th><th>hex</th></tr>\n");
            for w in &c.wire {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{:?}</td><td>{}</td><td><code>{}</code></td></tr>",
                    w.t_ms,
                    w.dir,
                    w.len,
                    esc(&w.hex)
                );
            }
            h.push_str("</table>\n");
        }
    }
    h.push_str("<p><a href=\"index.html\">Back to the index</a></p></body></html>\n");
    h
}
