//! Load time of scenario files against their size: files of 1,000, 10,000 and 100,000
//! steps (TOML and JSON), each loaded (parsed, located, lowered into a plan) three
//! times; the figure is the time per step, and the ratio of each size's time per step to
//! the 1,000-step file's, measured in the same run (target: linear, ratio ≈ 1).
//!
//! Run with `cargo bench --bench load`.

use std::path::Path;
use std::time::Instant;

use wsim::scenario::parse_scenario;

fn toml(steps: usize) -> String {
    let mut s = String::from(
        "name = \"big\"\n[servers.main]\nkind = \"script\"\n[clients.a]\nuri = \"ws://{main}/\"\n",
    );
    for i in 0..steps {
        s.push_str(match i % 4 {
            0 => "[[steps]]\nclient.a = { send_text = \"hello\" }\n",
            1 => "[[steps]]\nserver.main.send = { text = { repeat = \"ab\", len = 10 } }\n",
            2 => "[[steps]]\nexpect.a = { event = \"data\", op_code = 1, data_len = 10 }\n",
            _ => "[[steps]]\nexpect_server.main = { request_line = \"GET / HTTP/1.1\" }\n",
        });
    }
    s
}

fn json(steps: usize) -> String {
    let mut s = String::from(
        "{\"name\": \"big\", \"servers\": {\"main\": {\"kind\": \"script\"}},\n\"clients\": {\"a\": {\"uri\": \"ws://{main}/\"}},\n\"steps\": [\n",
    );
    for i in 0..steps {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(match i % 3 {
            0 => "{\"client\": {\"a\": {\"send_text\": \"hello\"}}}",
            1 => "{\"server\": {\"main\": {\"send\": {\"text\": \"hi\"}}}}",
            _ => "{\"expect\": {\"a\": {\"event\": \"data\", \"op_code\": 1}}}",
        });
    }
    s.push_str("\n]}\n");
    s
}

/// Best of three, in seconds.
fn time_load(name: &str, src: &str) -> f64 {
    (0..3)
        .map(|_| {
            let t0 = Instant::now();
            let s = parse_scenario(Path::new(name), src, "big".into()).expect("it loads");
            assert!(!s.plan.steps.is_empty());
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    for (kind, make) in [("toml", toml as fn(usize) -> String), ("json", json)] {
        let mut base = None;
        for steps in [1_000usize, 10_000, 100_000] {
            let src = make(steps);
            let secs = time_load(&format!("big.{kind}"), &src);
            let per_step = secs / steps as f64;
            let b = *base.get_or_insert(per_step);
            println!(
                "load {kind:4} {steps:>7} steps ({:>5} KiB): {:>8.3} s, {:>6.2} µs/step, ratio to 1,000 steps {:.2}",
                src.len() / 1024,
                secs,
                per_step * 1e6,
                per_step / b
            );
        }
    }
}
