//! `wsim report merge`: several Autobahn-format report folders (from `wsim
//! conformance`, `wsim fuzzingserver`, `wsim run` or Autobahn itself) into one, with
//! one `index.json` of every agent and the `index.html` matrix of cases × agents. Case
//! files are copied; a case of one agent may come from one folder only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::conformance::{IndexEntry, ReportWriter, read_index};

/// Why folders could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A folder's index could not be read.
    #[error("{0}")]
    Index(String),
    /// The same agent and case in two folders.
    #[error("agent {agent:?}, case {case}: in both {first} and {second}")]
    Conflict {
        /// The agent.
        agent: String,
        /// The case id.
        case: String,
        /// The folder it came from first.
        first: String,
        /// The other folder.
        second: String,
    },
    /// The output is one of the inputs.
    #[error("the output folder {0} is one of the folders to merge")]
    OutIsInput(String),
    /// A file could not be copied or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        error: std::io::Error,
    },
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// Agents, with their case counts.
    pub agents: BTreeMap<String, usize>,
    /// Case files copied.
    pub files: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MergeError + '_ {
    move |error| MergeError::Io { path: path.display().to_string(), error }
}

/// Merges `inputs` into `out` (created if missing).
pub fn merge_reports(inputs: &[PathBuf], out: &Path) -> Result<MergeSummary, MergeError> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let out_c = canon(out);
    let mut origin: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut merged: BTreeMap<String, BTreeMap<String, (IndexEntry, PathBuf)>> = BTreeMap::new();
    for dir in inputs {
        if canon(dir) == out_c {
            return Err(MergeError::OutIsInput(out.display().to_string()));
        }
        let index = read_index(dir).map_err(MergeError::Index)?;
        for (agent, cases) in index {
            for (case, entry) in cases {
                let key = (agent.clone(), case.clone());
                if let Some(first) = origin.get(&key) {
                    return Err(MergeError::Conflict {
                        agent,
                        case,
                        first: first.clone(),
                        second: dir.display().to_string(),
                    });
                }
                origin.insert(key, dir.display().to_string());
                merged.entry(agent.clone()).or_default().insert(case, (entry, dir.clone()));
            }
        }
    }
    let mut writer = ReportWriter::create(out).map_err(io(out))?;
    let mut files = 0;
    let mut agents = BTreeMap::new();
    for (agent, cases) in merged {
        agents.insert(agent.clone(), cases.len());
        let mut entries = BTreeMap::new();
        for (case, (entry, dir)) in cases {
            let json = Path::new(&entry.reportfile);
            // Only plain file names are copied: an index cannot point outside its folder.
            if json.file_name() == Some(json.as_os_str()) {
                for name in [entry.reportfile.clone(), entry.reportfile.replace(".json", ".html")] {
                    let from = dir.join(&name);
                    if from.exists() {
                        let to = out.join(&name);
                        std::fs::copy(&from, &to).map_err(io(&to))?;
                        files += 1;
                    }
                }
            }
            entries.insert(case, entry);
        }
        writer.add_entries(&agent, entries);
    }
    writer.write_index().map_err(io(out))?;
    Ok(MergeSummary { agents, files })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{Index, to_json};

    fn folder(dir: &Path, agent: &str, cases: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        let mut m = BTreeMap::new();
        for (id, b) in cases {
            let file =
                format!("{}_case_{}.json", crate::report::slug(agent), id.replace(['.', '/'], "_"));
            std::fs::write(dir.join(&file), format!("{{\"id\": \"{id}\"}}")).unwrap();
            m.insert(
                id.to_string(),
                IndexEntry {
                    behavior: b.to_string(),
                    behavior_close: "OK".into(),
                    duration: 1,
                    remote_close_code: Some(1000),
                    reportfile: file,
                },
            );
        }
        let idx: Index = [(agent.to_string(), m)].into_iter().collect();
        std::fs::write(dir.join("index.json"), to_json(&idx)).unwrap();
    }

    #[test]
    fn folders_of_several_agents_merge_into_one_matrix_and_a_duplicate_is_an_error() {
        let base = std::env::temp_dir().join(format!("wsim-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        folder(&base.join("a"), "model idf6", &[("1.1.1", "OK"), ("6.3.1", "FAILED")]);
        folder(&base.join("b"), "tungstenite", &[("1.1.1", "OK"), ("12.1.1", "UNIMPLEMENTED")]);
        folder(&base.join("c"), "model idf6", &[("9.1.1", "OK"), ("basic/echo", "OK")]);
        let out = base.join("out");
        let s = merge_reports(&[base.join("a"), base.join("b"), base.join("c")], &out).unwrap();
        assert_eq!(
            s.agents,
            [("model idf6".to_string(), 4), ("tungstenite".to_string(), 2)].into_iter().collect()
        );
        assert_eq!(s.files, 6);
        let idx = read_index(&out).unwrap();
        assert_eq!(idx["model idf6"]["6.3.1"].behavior, "FAILED");
        assert!(out.join("tungstenite_case_12_1_1.json").exists());
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert!(
            html.contains("model idf6")
                && html.contains("tungstenite")
                && html.contains("basic/echo")
        );
        assert!(html.contains("case_unimplemented") && html.contains("case_missing"));
        let e = merge_reports(&[base.join("a"), base.join("a")], &base.join("out2")).unwrap_err();
        assert!(matches!(e, MergeError::Conflict { .. }), "{e}");
        assert!(matches!(
            merge_reports(std::slice::from_ref(&out), &out),
            Err(MergeError::OutIsInput(_))
        ));
        let e = merge_reports(&[base.join("nope")], &base.join("out3")).unwrap_err();
        assert!(e.to_string().contains("nope/index.json"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }
}
