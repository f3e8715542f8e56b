//! The CI templates in `ci/`: each parses as YAML, has the jobs the README promises,
//! and every `wsim` command its scripts run exists, with options `wsim … --help` lists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

const WSIM: &str = env!("CARGO_BIN_EXE_wsim");

/// Options the templates use that another branch adds (the DUT transports and server
/// addresses of the hardware-in-the-loop work). Remove a name once `--help` lists it:
/// the test fails while a name here already exists, so the list cannot go stale.
const PENDING_OPTIONS: &[(&str, &str)] = &[];

fn templates() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("ci")
        .expect("ci/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every shell script in a template: GitHub's `steps[].run`, GitLab's `script`,
/// `before_script` and `after_script` (strings or lists of strings), found anywhere.
fn scripts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                let key = k.as_str().unwrap_or("");
                if matches!(key, "run" | "script" | "before_script" | "after_script") {
                    match v {
                        Value::String(s) => out.push(s.clone()),
                        Value::Sequence(items) => {
                            out.extend(items.iter().filter_map(|i| i.as_str().map(String::from)))
                        }
                        _ => {}
                    }
                }
                scripts(v, out);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| scripts(i, out)),
        Value::Tagged(t) => scripts(&t.value, out),
        _ => {}
    }
}

/// Each `wsim …` command of a script, as its words up to the end of the command
/// (a `wsim` in command position: at the start of a line or after `;`, `&&`, `||`,
/// `|`, `(`, `then`, `do`, `else`, `!`).
fn wsim_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let spaced = line
            .replace("&&", " ; ")
            .replace("||", " ; ")
            .replace(['|', '(', ')'], " ; ")
            .replace(';', " ; ");
        let mut command_position = true;
        let mut current: Option<Vec<String>> = None;
        for w in spaced.split_whitespace() {
            if w == ";" || w.starts_with('#') {
                found.extend(current.take());
                command_position = true;
                if w.starts_with('#') {
                    break;
                }
                continue;
            }
            if let Some(c) = &mut current {
                if w.starts_with('>') || w.starts_with('<') || w.starts_with("2>") {
                    found.extend(current.take());
                    command_position = false;
                } else {
                    c.push(w.trim_matches('"').to_string());
                }
                continue;
            }
            if command_position && matches!(w, "then" | "do" | "else" | "!" | "time") {
                continue;
            }
            if command_position && w == "wsim" {
                current = Some(Vec::new());
            }
            command_position = false;
        }
        found.extend(current);
    }
    found
}

fn help(args: &[&str]) -> String {
    let mut a = args.to_vec();
    a.push("--help");
    let o = Command::new(WSIM).args(&a).output().unwrap();
    assert!(o.status.success(), "wsim {args:?} --help failed");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn lists_option(help: &str, option: &str) -> bool {
    help.match_indices(option).any(|(i, _)| {
        help[i + option.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '-'))
    })
}

/// The subcommands `wsim --help` (or `wsim report --help`) lists.
fn subcommands(help: &str) -> BTreeSet<String> {
    help.split("Commands:")
        .nth(1)
        .unwrap_or("")
        .split("\n\n")
        .next()
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn every_template_parses_and_runs_only_wsim_commands_that_exist() {
    let files = templates();
    assert!(files.len() >= 2, "{files:?}");
    let top = subcommands(&help(&[]));
    assert!(top.contains("run") && top.contains("report"), "{top:?}");
    let mut used_pending = BTreeSet::new();
    let mut checked = 0;
    for file in &files {
        let yaml = load(file);
        let mut all = Vec::new();
        scripts(&yaml, &mut all);
        assert!(!all.is_empty(), "{}: no scripts found", file.display());
        for script in &all {
            for cmd in wsim_commands(script) {
                let sub = cmd.first().unwrap_or_else(|| panic!("{}: bare wsim", file.display()));
                assert!(top.contains(sub), "{}: `wsim {sub}` does not exist", file.display());
                let mut path = vec![sub.as_str()];
                let mut rest = &cmd[1..];
                if sub == "report" {
                    let inner = subcommands(&help(&["report"]));
                    let s = rest.first().expect("wsim report needs a subcommand");
                    assert!(
                        inner.contains(s),
                        "{}: `wsim report {s}` does not exist",
                        file.display()
                    );
                    path.push(s);
                    rest = &rest[1..];
                }
                let h = help(&path);
                for w in rest.iter().filter(|w| w.starts_with("--")) {
                    let option = w.split('=').next().unwrap();
                    if PENDING_OPTIONS.contains(&(path[0], option)) && !lists_option(&h, option) {
                        used_pending.insert(option.to_string());
                        continue;
                    }
                    assert!(
                        lists_option(&h, option),
                        "{}: `wsim {}` has no option {option}",
                        file.display(),
                        path.join(" ")
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} wsim commands found");
    for (cmd, option) in PENDING_OPTIONS {
        assert!(
            !lists_option(&help(&[cmd]), option),
            "`wsim {cmd}` now has {option}: remove it from PENDING_OPTIONS"
        );
    }
    eprintln!(
        "{checked} wsim commands checked; options pending on another branch: {used_pending:?}"
    );
}

#[test]
fn the_templates_have_the_host_board_and_linux_target_jobs() {
    for file in templates() {
        let yaml = load(&file);
        let jobs = yaml.get("jobs").unwrap_or(&yaml);
        for job in ["host-model", "linux-target", "board"] {
            assert!(jobs.get(job).is_some(), "{}: no job {job}", file.display());
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // The linux-target job builds in the official ESP-IDF image and runs the ELF.
        assert!(text.contains("espressif/idf:"), "{}", file.display());
        assert!(text.contains("idf.py --preview set-target linux"), "{}", file.display());
        assert!(
            text.contains("exec:$WSIM_DIR/firmware/build/wsim-agent.elf"),
            "{}",
            file.display()
        );
        // The board job flashes and runs over the serial port, gated on its baseline.
        assert!(text.contains("flash"), "{}", file.display());
        assert!(text.contains("--dut \"serial:$BOARD_PORT\""), "{}", file.display());
        assert!(text.contains("ci/wsim-baseline-board.json"), "{}", file.display());
        assert!(
            text.contains("wsim report diff reports/host-real reports/board"),
            "{}",
            file.display()
        );
    }
}

#[test]
fn the_command_finder_sees_what_a_shell_would_run() {
    let s = "if [ -f x ]; then\n  wsim run a/ --world real \\\n  --dut \"serial:$P\" > out\nfi\ncargo install --path tools/wsim\nrc=0; wsim report diff a b --format markdown >> \"$S\" || rc=$?\n# wsim nothing\necho wsim";
    let cmds = wsim_commands(s);
    assert_eq!(
        cmds,
        [
            vec!["run", "a/", "--world", "real", "--dut", "serial:$P"],
            vec!["report", "diff", "a", "b", "--format", "markdown"],
        ]
    );
}
