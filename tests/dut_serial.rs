//! `wsim run --dut serial:PORT` over pseudo-terminal pairs, with `wsim agent` at the
//! other end: the whole shipped suite gives the host model's verdicts (both in the real
//! world), and garbage and truncated lines on the wire give a clear error verdict for
//! the scenario they hit while the run goes on.

mod hil;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use hil::*;

#[test]
fn the_suite_over_a_serial_pty_gives_the_host_models_verdicts() {
    let (master, _slave, path) = pty_pair();
    let mut agent = Command::new(WSIM)
        .arg("agent")
        .stdin(Stdio::from(master.try_clone().unwrap()))
        .stdout(Stdio::from(master))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dut = format!("serial:{}@115200", path.display());
    let (out, s) = run_real_in(&tmp("serial", "suite"), &dut, &[]);
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&format!("via serial:{}", path.display())), "{}", text(&out));
    assert_eq!(s["dut"], "host idf v6.0 client 1.8.0");
    assert_eq!(s["complete"], true);
    assert_eq!(&verdicts(&s), host_verdicts());
}

#[test]
fn garbage_and_a_truncated_line_on_the_serial_wire_are_a_clear_error_and_the_run_goes_on() {
    let (master, _slave, path) = pty_pair();
    let mut agent = Command::new(WSIM)
        .arg("agent")
        .stdin(Stdio::from(master.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Between the agent's output and the wire: after the 4th line, binary garbage,
    // a copy of that line with one byte changed, and a protocol line cut short.
    let from_agent = agent.stdout.take().unwrap();
    let mut wire = std::fs::File::from(master);
    let relay = std::thread::spawn(move || {
        let mut r = BufReader::new(from_agent);
        let mut n = 0;
        let mut line = Vec::new();
        while r.read_until(b'\n', &mut line).is_ok_and(|k| k > 0) {
            if wire.write_all(&line).is_err() {
                return;
            }
            n += 1;
            if n == 4 {
                let mut bad = line.clone();
                let at = bad.len() - 3;
                bad[at] ^= 0x01;
                let _ = wire.write_all(b"\x00\xff\xfe\x80 noise \x1b[0m\r\n");
                let _ = wire.write_all(&bad);
                let _ = wire.write_all(b"@W1 999 0badf00d {\"t\":\"ev");
                let _ = wire.write_all(b"\n");
            }
            let _ = wire.flush();
            line.clear();
        }
    });
    let dut = format!("serial:{}", path.display());
    let dir = tmp("serial", "garbage");
    let (out, s) = run_real_in(&dir, &dut, &["--filter", "events/", "--filter", "close/"]);
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = relay.join();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(s["complete"], true, "{s}");
    let list = s["scenarios"].as_array().unwrap();
    let errors: Vec<&serde_json::Value> = list.iter().filter(|e| e["verdict"] == "error").collect();
    assert_eq!(errors.len(), 1, "{s}");
    let d = errors[0]["detail"].as_str().unwrap();
    assert!(d.contains("2 garbled line(s)") && d.contains("checksum mismatch"), "{d}");
    // Every other scenario has the verdict the host model gives.
    let host = host_verdicts();
    for e in list.iter().filter(|e| e["verdict"] != "error") {
        let id = e["id"].as_str().unwrap();
        assert_eq!(e["verdict"].as_str().unwrap(), host[id], "{id}");
    }
    // The binary garbage is kept as a DUT log line of that scenario.
    let case = dir.join(errors[0]["case_file"].as_str().unwrap());
    let mut c = String::new();
    std::fs::File::open(&case).unwrap().read_to_string(&mut c).unwrap();
    assert!(c.contains("noise"), "{c}");
}
