//! Mutated scenario files by the thousand: the shipped suite truncated, its numbers
//! replaced with huge, negative and zero values, its strings flipped to other types,
//! its lines dropped, repeated and swapped. Each mutant goes through loading (what
//! `wsim check` does); whatever loads runs in the simulated world to a verdict. No
//! mutant may panic, hang (a wall-clock bound per run) or take unbounded memory (the
//! allocator is capped per mutant: past the cap, allocation fails and the test aborts,
//! with the mutant that did it left in `target/fuzz-scenario-current`).

use std::alloc::System;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cap::Cap;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use wsim::run::{RunContext, Verdict, run_scenario};
use wsim::scenario::{World, parse_scenario};

/// Capped per mutant below; reaching the cap aborts the test.
#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Mutants per run; `WSIM_FUZZ_MUTANTS` and `WSIM_FUZZ_SEED` make a deeper or another
/// search.
const MUTANTS: usize = 3000;
/// Peak memory any single mutant may take.
const PEAK_LIMIT: usize = 1 << 30;
/// Wall-clock bound of one run (virtual time makes most take microseconds).
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn suite() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("scenarios")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml" || x == "json") {
                out.push((p.clone(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn pick<'a, T>(rng: &mut ChaCha20Rng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() { None } else { items.get(rng.next_u64() as usize % items.len()) }
}

/// Byte ranges of the runs of ASCII digits in `s`.
fn numbers(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of double-quoted strings in `s` (quotes included).
fn strings(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if i < b.len() && b[i] == b'"' {
                out.push((start, i + 1));
            }
        }
        i += 1;
    }
    out
}

const HUGE: &[&str] = &[
    "0",
    "1",
    "-1",
    "255",
    "65536",
    "2147483647",
    "2147483648",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "99999999999999999999999",
    "1e308",
    "-0",
];

const OTHER_TYPES: &[&str] = &[
    "1",
    "-5",
    "true",
    "[]",
    "{}",
    "[1, 2]",
    "{ x = 1 }",
    "\"\"",
    "\"{main}\"",
    "\"{nope.port}\"",
];

const KEYS: &[&str] = &[
    "text",
    "binary",
    "random",
    "len",
    "repeat",
    "hex",
    "file",
    "frames",
    "split",
    "pad",
    "length",
    "timeout_ms",
    "wait_ms",
    "within_ms",
    "for_ms",
    "after",
    "bytes",
    "opcode",
    "send",
    "close",
];

fn mutate(src: &str, rng: &mut ChaCha20Rng) -> String {
    let mut s = src.to_string();
    let rounds = 1 + rng.next_u32() % 3;
    for _ in 0..rounds {
        match rng.next_u32() % 8 {
            0 => {
                let mut at = rng.next_u64() as usize % (s.len() + 1);
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.truncate(at);
            }
            1 | 2 => {
                if let (Some(&(a, b)), Some(n)) = (pick(rng, &numbers(&s)), pick(rng, HUGE)) {
                    s.replace_range(a..b, n);
                }
            }
            3 => {
                if let (Some(&(a, b)), Some(v)) = (pick(rng, &strings(&s)), pick(rng, OTHER_TYPES))
                {
                    s.replace_range(a..b, v);
                }
            }
            4 | 5 => {
                let mut lines: Vec<&str> = s.lines().collect();
                if lines.len() > 1 {
                    let i = rng.next_u64() as usize % lines.len();
                    let j = rng.next_u64() as usize % lines.len();
                    match rng.next_u32() % 3 {
                        0 => {
                            lines.remove(i);
                        }
                        1 => lines.insert(j, lines[i]),
                        _ => lines.swap(i, j),
                    }
                    s = lines.join("\n");
                }
            }
            6 => {
                // Rename a key to another known key.
                if let (Some(from), Some(to)) = (pick(rng, KEYS), pick(rng, KEYS)) {
                    let needle = format!("{from} =");
                    if let Some(at) = s.find(&needle) {
                        s.replace_range(at..at + from.len(), to);
                    }
                }
            }
            _ => {
                // A size that a generator takes at face value.
                let size = pick(rng, &["16777216", "16777217", "100000000"]).unwrap();
                s = s.replacen("\"hi\"", &format!("{{ repeat = \"ab\", len = {size} }}"), 1);
            }
        }
    }
    s
}

#[test]
fn thousands_of_mutated_scenarios_load_or_fail_cleanly_and_run_to_a_verdict() {
    let suite = suite();
    assert!(suite.len() > 50, "the shipped suite is there");
    let pki = Arc::new(wsim::certs::TestPki::generate().expect("a PKI"));
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let mutants = env("WSIM_FUZZ_MUTANTS").map_or(MUTANTS, |n| n as usize);
    let mut rng = ChaCha20Rng::seed_from_u64(env("WSIM_FUZZ_SEED").unwrap_or(0x5eed));
    let (mut accepted, mut rejected, mut verdicts) = (0usize, 0usize, [0usize; 4]);
    for n in 0..mutants {
        let (path, original) = pick(&mut rng, &suite).unwrap();
        let src = mutate(original, &mut rng);
        let id = format!("mutant-{n}");
        let loaded = std::panic::catch_unwind(|| parse_scenario(path, &src, id.clone()))
            .unwrap_or_else(|_| {
                panic!("loading panicked on a mutant of {}:\n{src}", path.display())
            });
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                // A rejection names the file and a line inside it.
                assert_eq!(e.file, *path);
                assert!(e.line >= 1 && e.line <= src.lines().count().max(1) + 1, "{e}");
                assert!(!e.message.is_empty());
                rejected += 1;
                continue;
            }
        };
        accepted += 1;
        let ctx = RunContext {
            sdkconfig: Default::default(),
            pki: pki.clone(),
            profile: wsim::esp::Profile::Idf6,
            seed: n as u64,
            world: World::Sim,
            dut: wsim::dut::agent::DutSpec::Host,
            site: Default::default(),
        };
        let _ = std::fs::write("target/fuzz-scenario-current", &src);
        let _ = ALLOC.set_limit(ALLOC.allocated() + PEAK_LIMIT);
        let (tx, rx) = std::sync::mpsc::channel();
        let name = format!("{} ({})", path.display(), loaded.id);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .expect("a runtime");
            let report = rt.block_on(run_scenario(&loaded, &ctx));
            rt.shutdown_timeout(Duration::from_millis(100));
            let _ = tx.send(report);
        });
        let report = match rx.recv_timeout(RUN_LIMIT) {
            Ok(r) => r,
            Err(e) => panic!("a mutant of {name} did not reach a verdict ({e}):\n{src}"),
        };
        let _ = ALLOC.set_limit(usize::MAX);
        let detail = report.detail.clone().unwrap_or_default();
        assert!(
            !detail.contains("panicked") && !detail.contains("internal error"),
            "a mutant of {name} broke wsim: {detail}\n{src}"
        );
        verdicts[match report.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
            Verdict::Skip => 3,
        }] += 1;
    }
    eprintln!(
        "{mutants} mutants: {rejected} rejected at load, {accepted} ran (pass {}, fail {}, error {}, skip {})",
        verdicts[0], verdicts[1], verdicts[2], verdicts[3]
    );
    assert!(accepted > mutants / 10, "mutations too destructive to exercise the runner");
    assert!(rejected > mutants / 10, "mutations too gentle to exercise the checks");
}
