//! `wsim run --dut rfc2217://HOST:PORT` against a tiny RFC 2217 server written here
//! (its own Telnet parser, independent of wsim's), which bridges each connection to a
//! `wsim agent` subprocess. The server checks the negotiation (BINARY both ways,
//! COM-PORT-OPTION, the baud rate, the reset by SET-CONTROL) and the IAC escaping both
//! ways: it sends a log line with 0xFF bytes and an option wsim must refuse.

mod hil;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use hil::*;

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;
const WILL: u8 = 251;
const WONT: u8 = 252;
const DO: u8 = 253;

/// What the server saw on one connection.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// `(command, option)` pairs the client sent.
    options: Vec<(u8, u8)>,
    /// COM-PORT-OPTION subnegotiations: `(command, value)`.
    subs: Vec<(u8, Vec<u8>)>,
    /// Data bytes after unescaping.
    data_bytes: usize,
    /// A lone IAC followed by something that is no command (a broken escape).
    broken_escape: bool,
}

/// Reads the client: Telnet commands into `seen`, data to the agent.
fn client_to_agent(mut from: TcpStream, mut to: impl Write, seen: Arc<Mutex<Seen>>) {
    #[derive(Clone, Copy)]
    enum St {
        Data,
        Iac,
        Opt(u8),
        Sb,
        SbIac,
    }
    let mut st = St::Data;
    let mut sb = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut data = Vec::new();
        let mut s = seen.lock().unwrap();
        for &b in &buf[..n] {
            st = match (st, b) {
                (St::Data, IAC) => St::Iac,
                (St::Data, _) => {
                    data.push(b);
                    St::Data
                }
                (St::Iac, IAC) => {
                    data.push(IAC);
                    St::Data
                }
                (St::Iac, 251..=254) => St::Opt(b),
                (St::Iac, SB) => {
                    sb.clear();
                    St::Sb
                }
                (St::Iac, 241) => St::Data,
                (St::Iac, _) => {
                    s.broken_escape = true;
                    St::Data
                }
                (St::Opt(c), _) => {
                    s.options.push((c, b));
                    St::Data
                }
                (St::Sb, IAC) => St::SbIac,
                (St::Sb, _) => {
                    sb.push(b);
                    St::Sb
                }
                (St::SbIac, IAC) => {
                    sb.push(IAC);
                    St::Sb
                }
                (St::SbIac, SE) => {
                    if sb.len() >= 2 && sb[0] == 44 {
                        s.subs.push((sb[1], sb[2..].to_vec()));
                    }
                    St::Data
                }
                (St::SbIac, _) => {
                    s.broken_escape = true;
                    St::Data
                }
            };
        }
        s.data_bytes += data.len();
        drop(s);
        if to.write_all(&data).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
}

/// Serves one connection: negotiation, then the bridge to a fresh `wsim agent`.
fn serve(mut c: TcpStream, seen: Arc<Mutex<Seen>>, agents: Arc<Mutex<Vec<Child>>>) {
    // Agree to what the client asks for and offers.
    c.write_all(&[IAC, DO, 0, IAC, WILL, 0, IAC, DO, 44]).unwrap();
    let mut agent = Command::new(WSIM)
        .arg("agent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = agent.stdin.take().unwrap();
    let mut stdout = agent.stdout.take().unwrap();
    agents.lock().unwrap().push(agent);
    let reader = c.try_clone().unwrap();
    let seen2 = seen.clone();
    let up = std::thread::spawn(move || client_to_agent(reader, stdin, seen2));
    // Wait for the baud rate, then confirm it (the value as asked).
    let t0 = std::time::Instant::now();
    let baud = loop {
        if let Some((_, v)) = seen.lock().unwrap().subs.iter().find(|(cmd, _)| *cmd == 1) {
            break v.clone();
        }
        assert!(t0.elapsed().as_secs() < 5, "no SET-BAUDRATE");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut confirm = vec![IAC, SB, 44, 101];
    for b in &baud {
        confirm.push(*b);
        if *b == IAC {
            confirm.push(IAC);
        }
    }
    confirm.extend_from_slice(&[IAC, SE]);
    c.write_all(&confirm).unwrap();
    // A boot log line with 0xFF bytes (escaped), a NOP, and an option to refuse.
    c.write_all(b"I (31) boot: ").unwrap();
    c.write_all(&[IAC, IAC, 0xFE, IAC, IAC, IAC, 241, b'\n', IAC, DO, 99]).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            out.push(b);
            if b == IAC {
                out.push(IAC);
            }
        }
        if c.write_all(&out).is_err() {
            break;
        }
    }
    let _ = c.shutdown(std::net::Shutdown::Both);
    let _ = up.join();
}

/// Starts the server; returns its address and what each connection saw.
#[allow(clippy::type_complexity)]
fn server() -> (String, Arc<Mutex<Vec<Arc<Mutex<Seen>>>>>, Arc<Mutex<Vec<Child>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let conns: Arc<Mutex<Vec<Arc<Mutex<Seen>>>>> = Arc::default();
    let agents: Arc<Mutex<Vec<Child>>> = Arc::default();
    let (c2, a2) = (conns.clone(), agents.clone());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            let seen = Arc::new(Mutex::new(Seen::default()));
            c2.lock().unwrap().push(seen.clone());
            let a = a2.clone();
            std::thread::spawn(move || serve(c, seen, a));
        }
    });
    (addr, conns, agents)
}

#[test]
fn the_suite_over_rfc2217_gives_the_host_models_verdicts_with_negotiation_and_escaping() {
    let (addr, conns, agents) = server();
    let dut = format!("rfc2217://{addr}?baud=921600&reset");
    let dir = tmp("rfc2217", "suite");
    let (out, s) = run_real_in(&dir, &dut, &[]);
    for a in agents.lock().unwrap().iter_mut() {
        let _ = a.kill();
        let _ = a.wait();
    }
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(s["dut"]["agent"], "host-v6.0-ewc1.8.0");
    assert_eq!(&verdicts(&s), host_verdicts());
    // After the reset, the boot log up to the hello is shown.
    assert!(text(&out).contains("boot: I (31) boot: \u{fffd}\u{fffd}\u{fffd}"), "{}", text(&out));
    let conns: Vec<Seen> =
        conns.lock().unwrap().iter().map(|c| c.lock().unwrap().clone()).collect();
    // The run's first contact, then one connection per scenario that ran.
    let ran = s["scenarios"].as_array().unwrap().iter().filter(|e| e["verdict"] != "skip").count();
    assert_eq!(conns.len(), ran + 1);
    for (i, c) in conns.iter().enumerate() {
        assert_eq!(&c.options[..3], &[(WILL, 0), (DO, 0), (WILL, 44)], "connection {i}");
        assert!(c.options.contains(&(WONT, 99)), "connection {i}: option 99 not refused");
        assert_eq!(c.subs[0], (1, 921_600u32.to_be_bytes().to_vec()), "connection {i}");
        for want in [(2, vec![8]), (3, vec![1]), (4, vec![1]), (5, vec![1])] {
            assert!(c.subs.contains(&want), "connection {i}: {want:?} in {:?}", c.subs);
        }
        assert!(!c.broken_escape, "connection {i}");
        assert!(c.data_bytes > 0, "connection {i}");
        // The reset (DTR off, RTS on, RTS off) only on the run's first contact.
        let controls: Vec<u8> =
            c.subs.iter().filter(|(cmd, _)| *cmd == 5).map(|(_, v)| v[0]).collect();
        if i == 0 {
            assert_eq!(controls, [1, 9, 11, 12], "connection {i}");
        } else {
            assert_eq!(controls, [1], "connection {i}");
        }
    }
    // The boot line's 0xFF bytes arrive undoubled: three bytes, three replacement
    // characters in the DUT log.
    let e = s["scenarios"].as_array().unwrap().iter().find(|e| e["verdict"] == "pass").unwrap();
    let case = std::fs::read_to_string(dir.join(e["case_file"].as_str().unwrap())).unwrap();
    assert!(case.contains("I (31) boot: \u{fffd}\u{fffd}\u{fffd}\""), "{case}");
}

#[test]
fn a_telnet_server_without_rfc2217_is_unreachable_with_the_reason() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let _ = c.write_all(&[IAC, 254, 44]);
            std::thread::spawn(move || {
                let mut sink = [0u8; 256];
                while c.read(&mut sink).is_ok_and(|n| n > 0) {}
            });
        }
    });
    let o = wsim(&["run", "scenarios/", "--world", "real", "--dut", &format!("rfc2217://{addr}")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("refused COM-PORT-OPTION"), "{}", text(&o));
}
