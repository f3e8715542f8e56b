//! Loading scenario files with precise errors: every problem names the file, the line
//! and column, and what was expected.

use std::io::Read;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use super::draw::{DrawSite, Draws, find_sites, splice, table_span};
use super::limits::MAX_FILE_BYTES;
use super::locate::{LineIndex, json_array_elements, json_offset, toml_offset};
use super::lower::lower;
use super::model::Scenario;
use super::plan::Plan;

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

/// A loaded scenario: its id, its file and its plan.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The scenario id (explicit, or the path under the suite root without extension).
    pub id: String,
    /// The file.
    pub file: PathBuf,
    /// The validated, ready-to-run scenario (with randomised numbers at their first
    /// value; [`LoadedScenario::draws`] makes the plan of a seed).
    pub plan: Plan,
    /// The randomised numbers (`{ between = … }`, `{ one_of = … }`), if any.
    pub draws: Option<Arc<Draws>>,
}

impl LoadedScenario {
    /// What the scenario checks.
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    /// Its tags.
    pub fn tags(&self) -> &[String] {
        &self.plan.tags
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
    let mut ids: Vec<(&str, &Path)> =
        ok.iter().map(|s| (s.id.as_str(), s.file.as_path())).collect();
    ids.sort();
    for w in ids.windows(2) {
        if w[0].0 == w[1].0 {
            errors.push(ScenarioError {
                file: w[1].1.to_path_buf(),
                line: 1,
                column: 1,
                message: format!(
                    "two scenarios share the id {:?} (the other is {})",
                    w[0].0,
                    w[0].1.display()
                ),
            });
        }
    }
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// Byte offsets of the steps: `[[steps]]` tables or inline entries (TOML), or the
/// elements of the top-level `steps` array (JSON).
fn step_offsets(doc: Option<&toml_edit::Document<&str>>, src: &str) -> Vec<usize> {
    let Some(doc) = doc else { return json_array_elements(src, "steps") };
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

/// Parses `src` (TOML, or JSON when `path` ends in `.json`), validates it and lowers it
/// into a plan; `base` relative `file` references are resolved against the file's folder.
pub fn parse_scenario(path: &Path, src: &str, id: String) -> Result<LoadedScenario, ScenarioError> {
    let json = is_json(path);
    // Randomised numbers are parsed at their first value, in place (same offsets), so
    // everything else is checked and located as in any file.
    let (sites, spliced) = draw_sites(path, src, json)?;
    let src = spliced.as_deref().unwrap_or(src);
    let lines = LineIndex::new(src);
    let err_at = |offset: usize, message: String| {
        let (line, column) = lines.line_col(offset);
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
    let doc = if json { None } else { toml_edit::Document::parse(src).ok() };
    let step_lines: Vec<usize> =
        step_offsets(doc.as_ref(), src).iter().map(|&o| lines.line_col(o).0).collect();
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
    let plan = lower(&scenario, &base, &step_lines).map_err(|e| {
        let offset = match &doc {
            Some(d) => toml_offset(d, &e.path),
            None => json_offset(src, &e.path),
        };
        err_at(offset, e.message)
    })?;
    let locate = |e: super::lower::Invalid| {
        let offset = match &doc {
            Some(d) => toml_offset(d, &e.path),
            None => json_offset(src, &e.path),
        };
        err_at(offset, e.message)
    };
    let draws = if sites.is_empty() {
        None
    } else {
        let d = Draws::new(sites, &scenario, base, step_lines).map_err(|m| err_at(0, m))?;
        d.check().map_err(locate)?;
        Some(Arc::new(d))
    };
    let id = scenario.id.clone().unwrap_or(id);
    if id.is_empty() {
        return Err(err_at(0, "the scenario id is empty".into()));
    }
    Ok(LoadedScenario { id, file: path.to_path_buf(), plan, draws })
}

/// The randomised numbers of `src`, and `src` with each at its first value (`None`
/// when there are none). Errors are located.
fn draw_sites(
    path: &Path,
    src: &str,
    json: bool,
) -> Result<(Vec<DrawSite>, Option<String>), ScenarioError> {
    if !src.contains("between") && !src.contains("one_of") {
        return Ok((Vec::new(), None));
    }
    // A file that does not parse is reported by the ordinary parse.
    let tree: Option<serde_json::Value> = if json {
        serde_json::from_str(src).ok()
    } else {
        toml::from_str::<toml::Value>(src).ok().and_then(|v| serde_json::to_value(v).ok())
    };
    let Some(tree) = tree else { return Ok((Vec::new(), None)) };
    let lines = LineIndex::new(src);
    let doc = if json { None } else { toml_edit::Document::parse(src).ok() };
    let offset = |p: &super::locate::KeyPath| match &doc {
        Some(d) => toml_offset(d, p),
        None => json_offset(src, p),
    };
    let err_at = |offset: usize, message: String| {
        let (line, column) = lines.line_col(offset);
        ScenarioError { file: path.to_path_buf(), line, column, message }
    };
    let sites = find_sites(&tree).map_err(|e| err_at(offset(&e.path), e.message))?;
    if sites.is_empty() {
        return Ok((sites, None));
    }
    let mut out = src.to_string();
    for s in &sites {
        let at = offset(&s.path);
        let ok = table_span(src, at).is_some_and(|span| splice(&mut out, span, s.choice.first()));
        if !ok {
            return Err(err_at(
                at,
                format!("{}: write a randomised number inline, as `{{ {} }}`", s.key, s.choice),
            ));
        }
    }
    Ok((sites, Some(out)))
}

fn file_error(file: &Path, message: String) -> ScenarioError {
    ScenarioError { file: file.to_path_buf(), line: 1, column: 1, message }
}

/// Reads and parses one file; `root` is the suite folder the default id is relative to.
/// Only regular files up to [`MAX_FILE_BYTES`] are read.
pub fn load_scenario(path: &Path, root: &Path) -> Result<LoadedScenario, ScenarioError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| file_error(path, format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(file_error(path, "not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(file_error(
            path,
            format!(
                "{} bytes, more than the limit of {MAX_FILE_BYTES} for a scenario file",
                meta.len()
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| file_error(path, format!("cannot read the file: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(file_error(path, format!("more than the limit of {MAX_FILE_BYTES} bytes")));
    }
    let src = String::from_utf8(bytes).map_err(|e| {
        file_error(
            path,
            format!("not UTF-8 text (bad byte at offset {})", e.utf8_error().valid_up_to()),
        )
    })?;
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    let id = rel.to_string_lossy().replace('\\', "/");
    parse_scenario(path, &src, id)
}

/// Every `.toml` and `.json` file under the given paths (files are taken as they are),
/// sorted, with the root each one's id is relative to. Symbolic links are followed, but
/// a folder is entered once and a file is loaded once (under the first path that
/// reaches it), so links cannot loop or multiply the suite.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>, ScenarioError> {
    let mut out = Vec::new();
    let mut seen_dirs = std::collections::HashSet::new();
    let mut seen_files = std::collections::HashSet::new();
    let read_err =
        |d: &Path, e: std::io::Error| file_error(d, format!("cannot read the folder: {e}"));
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            let mut found = Vec::new();
            while let Some(d) = stack.pop() {
                let real = d.canonicalize().map_err(|e| read_err(&d, e))?;
                if !seen_dirs.insert(real) {
                    continue;
                }
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
                    .map_err(|e| read_err(&d, e))?
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                entries.sort();
                for path in entries.into_iter().rev() {
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "toml" || x == "json") {
                        found.push(path);
                    }
                }
            }
            found.sort();
            for f in found {
                // A dangling link has no canonical path: it is kept, and fails to load.
                if seen_files.insert(f.canonicalize().unwrap_or_else(|_| f.clone())) {
                    out.push((f, p.clone()));
                }
            }
        } else if p.exists() || p.symlink_metadata().is_ok() {
            let root = p.parent().map(Path::to_path_buf).unwrap_or_default();
            if seen_files.insert(p.canonicalize().unwrap_or_else(|_| p.clone())) {
                out.push((p.clone(), root));
            }
        } else {
            return Err(file_error(p, "no such file or folder".into()));
        }
    }
    out.sort();
    Ok(out)
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
        assert_eq!(s.plan.steps.len(), 2);
        assert_eq!(s.plan.steps.iter().map(|x| x.line).collect::<Vec<_>>(), vec![6, 8]);
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
        assert_eq!((e.line, e.column), (9, 12), "{e}");
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
        assert_eq!((e.line, e.column), (6, 24), "{e}");
        let e = parse_scenario(Path::new("x.json"), &src.replace("\"uri\"", "\"url\""), "x".into())
            .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unknown field `url`"), "{e}");
    }
}
