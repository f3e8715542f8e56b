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
    assert_eq!(s["dut"]["agent"], "host-v6.0-ewc1.8.0");
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

#[test]
fn wsim_agent_serves_a_serial_device() {
    use wsim::dut::agent::AgentDut;
    use wsim::dut::{ClientCommand, Dut};
    let (master, slave, path) = pty_pair();
    let mut agent = Command::new(WSIM)
        .args(["agent", "--serial", &format!("{}@230400", path.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The agent says where it serves once the device is open.
    let mut err = BufReader::new(agent.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("at 230400 baud"), "{first}");
    drop(slave);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // Two descriptors: a Tokio file runs one operation at a time.
        let w = tokio::fs::File::from_std(std::fs::File::from(master.try_clone().unwrap()));
        let r = tokio::fs::File::from_std(std::fs::File::from(master));
        let mut dut = AgentDut::start("pty".into(), r, Box::new(w), None, None, 10).await.unwrap();
        assert_eq!(dut.hello().chip, "host");
        dut.reset(Vec::new(), None, 1).await.unwrap();
        let cfg = wsim::esp::Config {
            uri: Some("ws://127.0.0.1:9/".into()),
            ping_interval_sec: 7,
            ..Default::default()
        };
        assert!(dut.create_client("a", &cfg, &[]).await.unwrap());
        assert_eq!(dut.call("a", ClientCommand::GetPingIntervalSec).await.unwrap(), 7);
        assert_eq!(dut.call("a", ClientCommand::IsConnected).await.unwrap(), 0);
        assert!(dut.failures().is_empty(), "{:?}", dut.failures());
    });
    // The runtime's blocking read of the master ends once the agent is gone.
    rt.shutdown_background();
    let _ = agent.kill();
    let _ = agent.wait();
    // The device going away (the other end closed) ends the agent.
    let (master, slave, path) = pty_pair();
    let mut agent = Command::new(WSIM)
        .args(["agent", "--serial", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(agent.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.contains("at 115200 baud"), "{first}");
    drop(slave);
    drop(master);
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = agent.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed().as_secs() > 10 {
            let _ = agent.kill();
            panic!("the agent outlived its device");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn a_reset_on_a_port_without_modem_lines_is_a_clear_unreachable_error() {
    let (master, _slave, path) = pty_pair();
    let mut agent = Command::new(WSIM)
        .arg("agent")
        .stdin(Stdio::from(master.try_clone().unwrap()))
        .stdout(Stdio::from(master))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dut = format!("serial:{},reset", path.display());
    let o = wsim(&["run", "scenarios/", "--world", "real", "--dut", &dut]);
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("reset by DTR/RTS failed"), "{}", text(&o));
}
