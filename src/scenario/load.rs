//! Loading scenario files with precise errors: every problem names the file, the line
//! and column, and what was expected.

use std::path::{Path, PathBuf};

use super::model::{ClientCall, Scenario, Step};

/// A problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

/// A loaded, validated scenario with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedScenario {
    /// The scenario id (explicit, or the path under the suite root without extension).
    pub id: String,
    /// The file.
    pub file: PathBuf,
    /// The parsed scenario.
    pub scenario: Scenario,
    /// The 1-based line where each step starts, for messages.
    pub step_lines: Vec<usize>,
}

impl LoadedScenario {
    /// What the scenario checks.
    pub fn name(&self) -> &str {
        &self.scenario.name
    }

    /// Its tags.
    pub fn tags(&self) -> &[String] {
        &self.scenario.tags
    }
}

/// Loads every scenario under `paths`; every problem is reported, not just the first,
/// and two scenarios with one id are an error.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<LoadedScenario>, Vec<ScenarioError>> {
    let files = discover(paths).map_err(|e| vec![e])?;
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (file, root) in files {
        match load_scenario(&file, &root) {
            Ok(s) => ok.push(s),
            Err(e) => errors.push(e),
        }
    }
    let mut ids: Vec<&str> = ok.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    for w in ids.windows(2) {
        if w[0] == w[1] {
            errors.push(ScenarioError {
                file: PathBuf::from(w[0]),
                line: 1,
                column: 1,
                message: format!("two scenarios share the id {:?}", w[0]),
            });
        }
    }
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}

fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Byte offsets of the steps: `[[steps]]` tables or inline entries (TOML), or the
/// elements of the top-level `steps` array (JSON).
fn step_offsets(src: &str, json: bool) -> Vec<usize> {
    if json {
        return json_array_elements(src, "steps");
    }
    let Ok(doc) = toml_edit::Document::parse(src) else { return Vec::new() };
    match doc.get("steps") {
        Some(toml_edit::Item::ArrayOfTables(a)) => {
            a.iter().map(|t| t.span().map_or(0, |s| s.start)).collect()
        }
        Some(toml_edit::Item::Value(toml_edit::Value::Array(a))) => {
            a.iter().map(|v| v.span().map_or(0, |s| s.start)).collect()
        }
        _ => Vec::new(),
    }
}

/// Offsets of the elements of the top-level array `key` in a JSON document (a small
/// scanner: strings, escapes and nesting are honoured).
fn json_array_elements(src: &str, key: &str) -> Vec<usize> {
    let b = src.as_bytes();
    let (mut i, mut depth, mut out) = (0usize, 0i32, Vec::new());
    let needle = format!("\"{key}\"");
    let mut in_target: Option<i32> = None;
    let mut expect_element = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                if depth == 1 && in_target.is_none() && src[i..].starts_with(&needle) {
                    let rest = src[i + needle.len()..].trim_start();
                    if let Some(r) = rest.strip_prefix(':') {
                        let r2 = r.trim_start();
                        if r2.starts_with('[') {
                            let at = src.len() - r2.len();
                            in_target = Some(2);
                            depth = 2;
                            expect_element = true;
                            i = at + 1;
                            continue;
                        }
                    }
                }
                if expect_element && in_target == Some(depth) {
                    out.push(i);
                    expect_element = false;
                }
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' | b'[' => {
                if expect_element && in_target == Some(depth) {
                    out.push(i);
                    expect_element = false;
                }
                depth += 1;
            }
            b'}' | b']' => {
                if in_target == Some(depth) && b[i] == b']' {
                    in_target = None;
                }
                depth -= 1;
            }
            b',' if in_target == Some(depth) => expect_element = true,
            c if !c.is_ascii_whitespace() && expect_element && in_target == Some(depth) => {
                out.push(i);
                expect_element = false;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Parses `src` (TOML, or JSON when `path` ends in `.json`) and validates it.
pub fn parse_scenario(path: &Path, src: &str, id: String) -> Result<LoadedScenario, ScenarioError> {
    let json = is_json(path);
    let err_at = |offset: usize, message: String| {
        let (line, column) = line_col(src, offset);
        ScenarioError { file: path.to_path_buf(), line, column, message }
    };
    let scenario: Scenario = if json {
        serde_json::from_str(src).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: e.line().max(1),
            column: e.column().max(1),
            message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
        })?
    } else {
        toml::from_str(src).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err_at(offset, e.message().trim().to_string())
        })?
    };
    let step_offsets = step_offsets(src, json);
    let at_step = |i: usize| step_offsets.get(i).copied().unwrap_or(0);
    validate(&scenario).map_err(|(step, msg)| err_at(step.map_or(0, at_step), msg))?;
    let id = scenario.id.clone().unwrap_or(id);
    let step_lines = step_offsets.iter().map(|&o| line_col(src, o).0).collect();
    Ok(LoadedScenario { id, file: path.to_path_buf(), scenario, step_lines })
}

/// Reads and parses one file; `root` is the suite folder the default id is relative to.
pub fn load_scenario(path: &Path, root: &Path) -> Result<LoadedScenario, ScenarioError> {
    let src = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("cannot read the file: {e}"),
    })?;
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    let id = rel.to_string_lossy().replace('\\', "/");
    parse_scenario(path, &src, id)
}

/// Every `.toml` and `.json` file under the given paths (files are taken as they are),
/// sorted, with the root each one's id is relative to.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>, ScenarioError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(d) = stack.pop() {
                let entries = std::fs::read_dir(&d).map_err(|e| ScenarioError {
                    file: d.clone(),
                    line: 1,
                    column: 1,
                    message: format!("cannot read the folder: {e}"),
                })?;
                for e in entries.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "toml" || x == "json") {
                        out.push((path, p.clone()));
                    }
                }
            }
        } else if p.exists() {
            let root = p.parent().map(Path::to_path_buf).unwrap_or_default();
            out.push((p.clone(), root));
        } else {
            return Err(ScenarioError {
                file: p.clone(),
                line: 1,
                column: 1,
                message: "no such file or folder".into(),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

type Invalid = (Option<usize>, String);

fn validate(s: &Scenario) -> Result<(), Invalid> {
    if s.clients.is_empty() {
        return Err((None, "a scenario needs at least one client under [clients]".into()));
    }
    if s.steps.is_empty() {
        return Err((None, "a scenario needs at least one [[steps]] entry".into()));
    }
    for (name, spec) in &s.servers {
        if spec.handshake.is_some() && !spec.handshakes.is_empty() {
            return Err((
                None,
                format!("server {name:?}: use `handshake` or `handshakes`, not both"),
            ));
        }
    }
    for f in &s.faults {
        validate_fault(s, f).map_err(|m| (None, format!("faults: {m}")))?;
    }
    for (i, step) in s.steps.iter().enumerate() {
        validate_step(s, step).map_err(|m| (Some(i), format!("step {}: {m}", i + 1)))?;
    }
    Ok(())
}

fn validate_fault(s: &Scenario, f: &super::model::FaultSpec) -> Result<(), String> {
    if !s.servers.contains_key(&f.server) {
        return Err(format!(
            "unknown server {:?}; the scenario defines {:?}",
            f.server,
            s.servers.keys().collect::<Vec<_>>()
        ));
    }
    if f.toxic.is_some() == f.connection.is_some() {
        return Err("a fault needs exactly one of toxic, connection".into());
    }
    if let Some(crate::net::Toxic::Slicer { average_size: 0, .. }) = f.toxic {
        return Err("slicer: average_size must be at least 1".into());
    }
    if let Some(crate::net::Toxic::Bandwidth { rate_kbps: 0 }) = f.toxic {
        return Err("bandwidth: rate_kbps must be at least 1".into());
    }
    Ok(())
}

fn validate_step(s: &Scenario, step: &Step) -> Result<(), String> {
    let keys = step.action_keys();
    if keys.len() != 1 {
        return Err(format!(
            "a step needs exactly one of client, server, expect, expect_none, expect_server, wait_ms, fault (found {})",
            if keys.is_empty() { "none".to_string() } else { keys.join(", ") }
        ));
    }
    let known_client = |n: &String| {
        if s.clients.contains_key(n) {
            Ok(())
        } else {
            Err(format!(
                "unknown client {n:?}; the scenario defines {:?}",
                s.clients.keys().collect::<Vec<_>>()
            ))
        }
    };
    let known_server = |n: &String| {
        if s.servers.contains_key(n) {
            Ok(())
        } else {
            Err(format!(
                "unknown server {n:?}; the scenario defines {:?}",
                s.servers.keys().collect::<Vec<_>>()
            ))
        }
    };
    if let Some(m) = &step.client {
        for (n, call) in m {
            known_client(n)?;
            if let ClientCall::Full(c) = call
                && c.background
                && c.returns.is_some()
            {
                return Err("a background call cannot check `returns`".into());
            }
        }
    }
    if let Some(m) = &step.server {
        for (n, a) in m {
            known_server(n)?;
            let set = [
                a.send.is_some(),
                a.send_many.is_some(),
                a.send_fragmented.is_some(),
                a.send_partial.is_some(),
                a.raw.is_some(),
                a.raw_chunks.is_some(),
                a.drop,
                a.reset,
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if set != 1 {
                return Err(format!(
                    "server {n:?}: an action needs exactly one of send, send_many, send_fragmented, send_partial, raw, raw_chunks, drop, reset (found {set})"
                ));
            }
        }
    }
    if let Some(m) = &step.expect {
        for (n, e) in m {
            known_client(n)?;
            for x in e.to_vec() {
                if x.event.is_none() {
                    return Err(format!("expect.{n}: every expectation names its `event`"));
                }
            }
        }
    }
    if let Some(m) = &step.expect_none {
        for n in m.keys() {
            known_client(n)?;
        }
    }
    if let Some(m) = &step.expect_server {
        for n in m.keys() {
            known_server(n)?;
        }
    }
    if let Some(f) = &step.fault {
        for x in &f.add {
            validate_fault(s, x)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "ok"
[servers.main]
[clients.a]
uri = "ws://{main}/"
[[steps]]
client.a = "start"
[[steps]]
expect.a = { event = "connected" }
"#;

    fn parse(src: &str) -> Result<LoadedScenario, ScenarioError> {
        parse_scenario(Path::new("x.toml"), src, "x".into())
    }

    #[test]
    fn a_good_file_parses() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.scenario.steps.len(), 2);
        assert_eq!(s.step_lines, vec![6, 8]);
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let bad = GOOD.replace("uri = ", "urx = ");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("unknown field `urx`"), "{e}");
    }

    #[test]
    fn wrong_types_and_bad_toml_name_the_line() {
        let e = parse(&GOOD.replace("\"start\"", "5")).unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("command name"), "{e}");
        let e = parse("name = \"x\"\n[[steps]\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_step() {
        let e = parse(&GOOD.replace("expect.a", "expect.b")).unwrap_err();
        assert_eq!(e.line, 8, "{e}");
        assert!(e.message.contains("unknown client \"b\""), "{e}");
        let e =
            parse(&format!("{GOOD}[[steps]]\nwait_ms = 1\nnote = \"n\"\nclient.a = \"stop\"\n"))
                .unwrap_err();
        assert!(e.message.contains("exactly one of"), "{e}");
        assert_eq!(e.line, 10, "{e}");
    }

    #[test]
    fn json_is_accepted_with_the_same_model_and_located_errors() {
        let src = r#"{
  "name": "j",
  "clients": { "a": { "uri": "ws://x/" } },
  "steps": [
    { "client": { "a": "start" } },
    { "expect": { "z": { "event": "connected" } } }
  ]
}"#;
        let e = parse_scenario(Path::new("x.json"), src, "x".into()).unwrap_err();
        assert_eq!((e.line, e.column), (6, 5), "{e}");
        let e = parse_scenario(Path::new("x.json"), &src.replace("\"uri\"", "\"url\""), "x".into())
            .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unknown field `url`"), "{e}");
    }
}
