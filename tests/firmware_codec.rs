//! The firmware's protocol codec (firmware/main/agent_codec.c), compiled with the system
//! C compiler and cross-checked against the Rust codec (src/dut/agent/): framing, CRC,
//! classification, the line splitter, base64, JSON escapes and numbers, every request
//! (Rust-encoded, parsed by C, written again by C, decoded by Rust), every agent message
//! (C-encoded, decoded by Rust) and message reassembly. Skips, saying so, without a C
//! compiler.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use wsim::dut::agent::message::{b64, sha256_hex, unb64};
use wsim::dut::agent::{
    AgentMsg, Cert, Garble, Hello, HostMsg, Line, LineSplitter, Op, Payload, RawLine, Received,
    Request, Resp, WireCall, WireEvent, WireHandlerCall, WireReaction, classify, config_from_wire,
    config_to_wire, crc32, decode, encode, encode_line,
};
use wsim::dut::{ClientCommand, DutEvent, EventMatch, ReactionSpec};
use wsim::esp::{
    Assembled, Config, ErrorHandle, ErrorType, EventId, OwnedEvent, Reassembler, Sdkconfig,
};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// The driver, built once per test run (in Cargo's test scratch folder); `None` (with
/// the reason printed) when there is no C compiler.
fn driver() -> Option<PathBuf> {
    static DRIVER: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DRIVER.get_or_init(build_driver).clone()
}

fn build_driver() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("firmware_codec_driver");
    // With AddressSanitizer and UBSan where the compiler has them (memory errors and
    // undefined behaviour in the codec fail the tests), plainly otherwise.
    let sanitized: &[&str] = &["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"];
    let mut last = String::new();
    for extra in [sanitized, &[][..]] {
        let out = Command::new(&cc)
            .args(["-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1"])
            .args(extra)
            .arg("-I")
            .arg(root.join("firmware/main"))
            .arg(root.join("firmware/main/agent_codec.c"))
            .arg(root.join("firmware/test/codec_driver.c"))
            .arg("-o")
            .arg(&exe)
            .output();
        match out {
            Err(e) => {
                eprintln!("SKIP firmware codec tests: no C compiler ({cc}: {e})");
                return None;
            }
            Ok(o) if o.status.success() => return Some(exe),
            Ok(o) => last = String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    panic!("the firmware codec does not compile:\n{last}")
}

/// Runs the driver on `cmds`, one answer line per command.
fn run(exe: &PathBuf, cmds: &[String]) -> Vec<String> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for c in cmds {
        input.push_str(c);
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "the driver failed ({:?}; a sanitizer report is on stderr)",
        out.status
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), cmds.len(), "one answer per command");
    lines
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn crc_base64_and_classification_agree_with_rust() {
    let Some(exe) = driver() else { return };
    let mut st = 0x1234_5678_9abc_def1u64;
    let mut cmds = Vec::new();
    let mut expect = Vec::new();
    // CRC vectors and random data.
    for data in [b"123456789".to_vec(), vec![], vec![0u8; 1000], b"{\"t\":\"resp\"}".to_vec()] {
        cmds.push(format!("crc {}", hex(&data)));
        expect.push(format!("{:08x}", crc32(&data)));
    }
    assert_eq!(expect[0], "cbf43926");
    for n in 0..70usize {
        let data: Vec<u8> = (0..n).map(|_| xorshift(&mut st) as u8).collect();
        cmds.push(format!("crc {}", hex(&data)));
        expect.push(format!("{:08x}", crc32(&data)));
        cmds.push(format!("b64e {}", hex(&data)));
        expect.push(if n == 0 { "=".into() } else { b64(&data) });
        cmds.push(format!("b64d {}", b64(&data)));
        expect.push(format!("ok {}", hex(&data)));
    }
    // Invalid base64: what Rust's decoder refuses, C refuses.
    for bad in [
        "A", "AB", "ABC", "AB=C", "====", "AAA=A===", "AB==", "AAB=", "A===", "AA==AA==", "AA!A",
        "AA A",
    ] {
        assert!(unb64(bad, "x").is_err(), "{bad} is invalid for Rust too");
        cmds.push(format!("b64d {bad}"));
        expect.push("bad".into());
    }
    // Classification: hand-made lines and mutations of good ones.
    let good = encode_line(42, r#"{"t":"resp","id":3,"ret":5}"#);
    let good = good.trim_end().as_bytes().to_vec();
    let mut lines: Vec<(Vec<u8>, usize)> = vec![
        (b"I (123) wifi: connected".to_vec(), 4096),
        (b"".to_vec(), 4096),
        (b"@W1 ".to_vec(), 4096),
        (b"@W1 01 00000000 {}".to_vec(), 4096),
        (b"@W1 4294967296 00000000 {}".to_vec(), 4096),
        (b"@W1 4294967295 a02e1f4c {}".to_vec(), 4096),
        (b"@W1 1 ABCDEF01 {}".to_vec(), 4096),
        (b"@W2 0 00000000 {}".to_vec(), 4096),
        (b"@W17 0 00000000 {}".to_vec(), 4096),
        (b"@W1x 0 00000000 {}".to_vec(), 4096),
        (b"@W".to_vec(), 4096),
        (b"@Wx 1".to_vec(), 4096),
        (b"@W1".to_vec(), 4096),
        (b"@W1 0 a02e1f4c".to_vec(), 4096),
        ([&good[..], b"\r"].concat(), 4096),
        (good.clone(), good.len()),
        (good.clone(), good.len() - 1),
        (encode_line(0, "{\"x\":\"\u{e9}\"}").trim_end().as_bytes().to_vec(), 4096),
    ];
    // Not UTF-8 but a matching checksum.
    let body = b"{\"x\":\"\xff\"}";
    lines.push(([format!("@W1 5 {:08x} ", crc32(body)).as_bytes(), body].concat(), 4096));
    for _ in 0..3000 {
        let r = xorshift(&mut st);
        let mut l = good.clone();
        let at = (xorshift(&mut st) as usize) % l.len();
        match r % 4 {
            0 => l[at] ^= 1 << (xorshift(&mut st) % 8),
            1 => l.truncate(at),
            2 => l.insert(at, xorshift(&mut st) as u8),
            _ => l = (0..(r % 80)).map(|_| xorshift(&mut st) as u8).collect(),
        }
        if r.is_multiple_of(7) {
            l.splice(0..0, b"@W1 ".iter().copied());
        }
        lines.push((l, 64 + (r % 3) as usize * 16));
    }
    for (l, max) in &lines {
        cmds.push(format!("classify {max} {}", hex(l)));
        expect.push(match classify(l, *max) {
            Line::Log(_) => "log".into(),
            Line::Frame { seq, body } => format!("frame {seq} {}", hex(body.as_bytes())),
            Line::Garbled(Garble::OtherVersion(v)) => format!("other {v}"),
            Line::Garbled(_) => "garbled".into(),
        });
    }
    let got = run(&exe, &cmds);
    let mut frames = 0;
    for ((c, g), e) in cmds.iter().zip(&got).zip(&expect) {
        if e == "garbled" {
            assert!(g.starts_with("garbled "), "{c}: C says {g}, Rust says garbled");
        } else {
            assert_eq!(g, e, "{c}");
            frames += usize::from(e.starts_with("frame"));
        }
    }
    assert!(frames > 5, "the mutations left some good frames ({frames})");
}

#[test]
fn the_splitter_bounds_lines_as_rusts_does() {
    let Some(exe) = driver() else { return };
    let mut st = 77u64;
    let mut streams: Vec<(usize, Vec<u8>)> = vec![
        (8, b"abcde\n12345678\r\n123456789\nxy".to_vec()),
        (4, [vec![b'z'; 10_000], b"\n".to_vec()].concat()),
        (8, b"\n\n\r\n".to_vec()),
        (8, b"12345678\r".to_vec()),
    ];
    for _ in 0..200 {
        let n = (xorshift(&mut st) % 60) as usize;
        let s: Vec<u8> = (0..n)
            .map(|_| match xorshift(&mut st) % 5 {
                0 => b'\n',
                1 => b'\r',
                _ => b'a' + (xorshift(&mut st) % 26) as u8,
            })
            .collect();
        streams.push((4 + (xorshift(&mut st) % 8) as usize, s));
    }
    let mut cmds = Vec::new();
    let mut expect = Vec::new();
    for (max, s) in &streams {
        cmds.push(format!("split {max} {}", hex(s)));
        let mut sp = LineSplitter::new(*max);
        let mut lines = sp.push(s);
        lines.extend(sp.flush());
        let parts: Vec<String> = lines
            .iter()
            .map(|l| match l {
                RawLine::Line(b) => format!("line {}", hex(b)),
                RawLine::TooLong { start, len } => format!("long {len} {}", hex(start)),
            })
            .collect();
        expect.push(parts.join(";"));
    }
    let got = run(&exe, &cmds);
    for ((c, g), e) in cmds.iter().zip(&got).zip(&expect) {
        assert_eq!(g, e, "{}", &c[..c.len().min(80)]);
    }
}

fn all_commands() -> Vec<ClientCommand> {
    let d = b"\x00\xff\"hi\\\n".to_vec();
    vec![
        ClientCommand::Start,
        ClientCommand::Stop,
        ClientCommand::Destroy,
        ClientCommand::DestroyOnExit,
        ClientCommand::Close { timeout: 10 },
        ClientCommand::CloseWithCode { code: 1000, reason: b"bye".to_vec(), timeout: 5 },
        ClientCommand::CloseWithCode { code: -1, reason: vec![], timeout: u32::MAX },
        ClientCommand::SendText { data: d.clone(), timeout: u32::MAX },
        ClientCommand::SendBin { data: d.clone(), timeout: 1 },
        ClientCommand::SendBin { data: vec![], timeout: 0 },
        ClientCommand::SendTextPartial { data: d.clone(), timeout: 2 },
        ClientCommand::SendBinPartial { data: d.clone(), timeout: 3 },
        ClientCommand::SendContMsg { data: d.clone(), timeout: 4 },
        ClientCommand::SendFin { timeout: 6 },
        ClientCommand::SendWithOpcode { opcode: 9, data: d, timeout: 7 },
        ClientCommand::SetUri { uri: "ws://x/\u{e9}?q=\"1\"".into() },
        ClientCommand::SetHeaders { headers: "A: b\r\nC: \u{1F600}\t\r\n".into() },
        ClientCommand::AppendHeader { key: "k".into(), value: "v\\w".into() },
        ClientCommand::SetPingIntervalSec { sec: 3 },
        ClientCommand::SetPingIntervalSec { sec: 1 << 53 },
        ClientCommand::GetPingIntervalSec,
        ClientCommand::SetReconnectTimeout { ms: -500 },
        ClientCommand::GetReconnectTimeout,
        ClientCommand::IsConnected,
    ]
}

fn requests() -> Vec<HostMsg> {
    let mut out = Vec::new();
    let req = |id, op| HostMsg::Req(Request { id, op });
    out.push(req(1, Op::Hello));
    out.push(req(1 << 53, Op::DestroyAll));
    out.push(req(
        2,
        Op::Reset {
            sdkconfig: vec!["CONFIG_FREERTOS_HZ=1000".into(), "CONFIG_ESP_TLS_INSECURE=y".into()],
            global_ca: Some(Cert::inline(b"-----BEGIN CERTIFICATE-----\n")),
            seed: Some(u64::MAX),
        },
    ));
    out.push(req(3, Op::Reset { sdkconfig: vec![], global_ca: None, seed: None }));
    out.push(req(
        3,
        Op::Reset {
            sdkconfig: vec![],
            global_ca: Some(Cert { pki: Some("ca".into()), ..Cert::default() }),
            seed: Some(0),
        },
    ));
    out.push(req(4, Op::Data { buf: u32::MAX, offset: 0, b64: b64(&[0, 1, 2, 255]) }));
    out.push(req(5, Op::Data { buf: 1, offset: 4096, b64: String::new() }));
    for (i, cmd) in all_commands().into_iter().enumerate() {
        for background in [false, true] {
            let call = WireCall::from_command(&cmd, |b| Payload { b64: Some(b64(b)), buf: None });
            out.push(req(10 + i as u64, Op::Call { client: "a".into(), call, background }));
        }
        let staged = WireCall::from_command(&cmd, |_| Payload { b64: None, buf: Some(7) });
        out.push(req(
            100 + i as u64,
            Op::Call { client: "b".repeat(64), call: staged, background: false },
        ));
    }
    let config = Config {
        uri: Some("wss://127.0.0.1:1/x".into()),
        host: Some("h\u{e9}".into()),
        port: 8443,
        username: Some("u".into()),
        password: Some("p\"w".into()),
        path: Some("/p".into()),
        disable_auto_reconnect: true,
        enable_close_reconnect: true,
        user_context: 77,
        task_prio: 5,
        task_name: Some("ws".into()),
        task_stack: 8192,
        task_core_id: Some(0),
        buffer_size: 512,
        cert_pem: Some(b"-----BEGIN CERTIFICATE-----\n".to_vec()),
        cert_len: 0,
        client_cert: Some(vec![0x30, 0x82]),
        client_cert_len: 2,
        client_key: Some(vec![0, 1, 2]),
        client_key_len: 3,
        transport: wsim::esp::TransportType::OverSsl,
        subprotocol: Some("chat".into()),
        user_agent: Some("ua".into()),
        headers: Some("X: y\r\n".into()),
        pingpong_timeout_sec: 7,
        disable_pingpong_discon: true,
        use_global_ca_store: true,
        cert_common_name: Some("server".into()),
        skip_cert_common_name_check: true,
        keep_alive_enable: true,
        keep_alive_idle: 1,
        keep_alive_interval: 2,
        keep_alive_count: 3,
        reconnect_timeout_ms: -1,
        network_timeout_ms: 10_000,
        ping_interval_sec: 9,
    };
    let reactions = [
        ReactionSpec::Echo { timeout: 9 },
        ReactionSpec::CloseAfter { messages: 2, code: 1000, reason: b"x".to_vec(), timeout: 1 },
        ReactionSpec::Call {
            on: EventMatch {
                event: EventId::Data,
                op_code: Some(1),
                fin: Some(false),
                data_len: Some(2),
                payload_len: Some(5),
                payload_offset: Some(0),
                text: Some("go \"\u{e9}\"".into()),
            },
            call: ClientCommand::SendText { data: b"pong".to_vec(), timeout: 3 },
        },
        ReactionSpec::Call {
            on: EventMatch {
                event: EventId::HeaderReceived,
                op_code: None,
                fin: None,
                data_len: None,
                payload_len: None,
                payload_offset: None,
                text: None,
            },
            call: ClientCommand::Stop,
        },
    ];
    let wire: Vec<WireReaction> = reactions.iter().map(WireReaction::from_spec).collect();
    out.push(req(
        6,
        Op::Init {
            client: "a".into(),
            config: config_to_wire(&config, Cert::inline),
            reactions: wire,
        },
    ));
    let staged = config_to_wire(&config, |_| Cert { buf: Some(3), ..Cert::default() });
    out.push(req(7, Op::Init { client: "z".into(), config: staged, reactions: vec![] }));
    out.push(req(
        8,
        Op::Init {
            client: "d".into(),
            config: config_to_wire(&Config::default(), Cert::inline),
            reactions: vec![],
        },
    ));
    out
}

/// Certificates resolved to a description, so configs compare whatever their source.
fn describe(c: &Cert) -> Result<Vec<u8>, String> {
    Ok(format!("{c:?}").into_bytes())
}

#[test]
fn every_request_survives_c_parsing_and_c_writing() {
    let Some(exe) = driver() else { return };
    let reqs = requests();
    let mut cmds: Vec<String> = reqs
        .iter()
        .enumerate()
        .map(|(i, r)| format!("req {}", hex(encode(i as u32, r).trim_end().as_bytes())))
        .collect();
    // Escapes Rust does not write: \u escapes, surrogate pairs, \/.
    let escaped = r#"{"t":"req","id":9,"op":"call","client":"\u0061\/\ud83d\ude00","call":"set_uri","uri":"\u00e9\b\f\t"}"#;
    cmds.push(format!("req {}", hex(encode_line(0, escaped).trim_end().as_bytes())));
    let got = run(&exe, &cmds);
    for (i, (orig, g)) in reqs.iter().zip(&got).enumerate() {
        let line = g.strip_prefix("ok ").unwrap_or_else(|| panic!("request {i} {orig:?}: {g}"));
        let back = match decode::<HostMsg>(line.as_bytes(), 1 << 20) {
            Received::Msg { seq, msg } => {
                assert_eq!(seq, i as u32);
                msg
            }
            other => panic!("request {i}: C wrote {line}: {other:?}"),
        };
        match (orig, &back) {
            (
                HostMsg::Req(Request {
                    id: a,
                    op: Op::Init { client: ca, config: fa, reactions: ra },
                }),
                HostMsg::Req(Request {
                    id: b,
                    op: Op::Init { client: cb, config: fb, reactions: rb },
                }),
            ) => {
                assert_eq!((a, ca, ra), (b, cb, rb), "request {i}");
                assert_eq!(
                    config_from_wire(fa, describe).unwrap(),
                    config_from_wire(fb, describe).unwrap(),
                    "request {i}: the config"
                );
            }
            _ => assert_eq!(&back, orig, "request {i}"),
        }
    }
    let last = got.last().unwrap().strip_prefix("ok ").expect("the escaped request parses");
    let Received::Msg { msg: HostMsg::Req(r), .. } = decode::<HostMsg>(last.as_bytes(), 4096)
    else {
        panic!("{last}")
    };
    let Op::Call { client, call, .. } = r.op else { panic!("{r:?}") };
    assert_eq!(client, "a/\u{1F600}");
    assert_eq!(call.uri.as_deref(), Some("\u{e9}\u{8}\u{c}\t"));
}

#[test]
fn bad_requests_are_refused_with_their_id_or_ignored_as_garbled() {
    let Some(exe) = driver() else { return };
    let cases: &[(&str, &str)] = &[
        (r#"{"t":"req","id":5,"op":"call","client":"a","call":"warp"}"#, "refused 5 unknown call"),
        (
            r#"{"t":"req","id":6,"op":"call","client":"a","call":"send_text","timeout":1}"#,
            "refused 6 send_text: data missing",
        ),
        (
            r#"{"t":"req","id":7,"op":"call","client":"a","call":"send_text","data":{"b64":"!!"},"timeout":1}"#,
            "refused 7 data: b64: bad base64",
        ),
        (
            r#"{"t":"req","id":8,"op":"call","client":"a","call":"close"}"#,
            "refused 8 close: timeout missing",
        ),
        (
            r#"{"t":"req","id":9,"op":"call","client":"a","call":"close","timeout":4294967296}"#,
            "refused 9 close: timeout",
        ),
        (
            r#"{"t":"req","id":10,"op":"data","buf":1,"offset":0,"b64":"A"}"#,
            "refused 10 data: b64: bad base64",
        ),
        (
            r#"{"t":"req","id":11,"op":"init","client":"","config":{}}"#,
            "refused 11 client names are 1 to 64 bytes",
        ),
        (
            r#"{"t":"req","id":12,"op":"init","client":"a","config":{"buffer_size":"big"}}"#,
            "refused 12 config: buffer_size",
        ),
        (
            r#"{"t":"req","id":13,"op":"init","client":"a","config":{"cert_pem":{"pki":"ca","b64":""}}}"#,
            "refused 13 config.cert_pem: needs exactly one",
        ),
        (
            r#"{"t":"req","id":14,"op":"init","client":"a","config":{},"reactions":[{"kind":"call","on":{"event":"data"},"call":{"call":"start"}}]}"#,
            "refused 14 a handler cannot call start",
        ),
        (
            r#"{"t":"req","id":15,"op":"init","client":"a","config":{},"reactions":[{"kind":"close_after","messages":0,"code":1000,"timeout":1}]}"#,
            "refused 15 close_after: messages must be at least 1",
        ),
        (
            r#"{"t":"req","id":16,"op":"init","client":"a","config":{"transport":"over_udp"}}"#,
            "refused 16 config: transport",
        ),
        (
            r#"{"t":"req","id":17,"op":"call","client":"a","call":"send_bin","data":{"b64":"AA==","buf":1},"timeout":1}"#,
            "refused 17 data: needs exactly one",
        ),
        (r#"{"t":"req","id":1,"op":"nope"}"#, "garbled unknown op"),
        (r#"{"t":"resp","id":1,"ret":0}"#, "garbled not a request"),
        (r#"{"t":"req","op":"hello"}"#, "garbled the request id"),
        (r#"{"t":"req","id":-1,"op":"hello"}"#, "garbled the request id"),
        (r#"{"t":"req","id":1.5,"op":"hello"}"#, "garbled the request id"),
        (r#"{"t":"req","id":1,"op":"hello"} x"#, "garbled bad JSON"),
        (r#"{"t":"req","id":1,"op":"hello""#, "garbled bad JSON"),
        (r#"{"t":"req","id":1,"op":"he\llo"}"#, "garbled bad JSON"),
        (r#"{"t":"req","id":1,"op":"hello","x":"\ud800"}"#, "garbled bad JSON"),
        (
            r#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
            "garbled bad JSON",
        ),
        (r#"{"t":"req","id":1,"op":"hello","n":01}"#, "garbled bad JSON"),
    ];
    let cmds: Vec<String> = cases
        .iter()
        .map(|(b, _)| format!("req {}", hex(encode_line(0, b).trim_end().as_bytes())))
        .collect();
    let got = run(&exe, &cmds);
    for ((body, want), g) in cases.iter().zip(&got) {
        assert!(g.starts_with(want), "{body}: C says {g:?}, expected {want:?}");
        // Rust agrees that the garbled ones are not requests.
        if want.starts_with("garbled") {
            let line = encode_line(0, body);
            assert!(
                !matches!(
                    decode::<HostMsg>(line.trim_end().as_bytes(), 4096),
                    Received::Msg { .. }
                ),
                "{body} decodes in Rust"
            );
        }
    }
}

fn event(ev: EventId, data: &[u8], et: ErrorType) -> OwnedEvent {
    OwnedEvent {
        event: ev,
        op_code: 2,
        fin: true,
        data_len: data.len(),
        payload_len: data.len() as i32,
        payload_offset: 0,
        error_handle: ErrorHandle {
            esp_tls_last_esp_err: -0x8008,
            esp_tls_stack_err: i32::MIN,
            esp_tls_cert_verify_flags: i32::MAX,
            error_type: et,
            esp_ws_handshake_status_code: 101,
            esp_transport_sock_errno: 104,
        },
        close_status_code: 1000,
        data: data.to_vec(),
    }
}

#[test]
fn every_agent_message_written_by_c_decodes_in_rust() {
    let Some(exe) = driver() else { return };
    let mut msgs = vec![
        AgentMsg::Hello(Hello {
            proto: 1,
            agent: "wsim-agent \"0.1\"".into(),
            chip: "esp32s3".into(),
            idf: "v5.5.1".into(),
            client: "1.8.0".into(),
            heap: 1 << 40,
            sdkconfig: Hello::sdkconfig_map(&Sdkconfig::default()),
            max_line: 65536,
            inline_max: 1024,
            abilities: vec!["global_ca".into(), "background".into()],
        }),
        AgentMsg::Resp(Resp::ok(1 << 53, -1)),
        AgentMsg::Resp(Resp::ok(2, i64::from(i32::MIN))),
        AgentMsg::Resp(Resp::err(3, "no client named \"b\"\n\u{e9}")),
        AgentMsg::Resp(Resp { id: 4, ret: Some(0), err: None, pending: true }),
        AgentMsg::Done(Resp::ok(5, 5)),
        AgentMsg::Done(Resp::err(6, "cannot start")),
        AgentMsg::Hcall(WireHandlerCall {
            client: "a".into(),
            ms: u64::from(u32::MAX) + 1,
            reaction: 2,
            function: "echo (message too long)".into(),
            ret: -1,
        }),
    ];
    let all = [
        EventId::Begin,
        EventId::BeforeConnect,
        EventId::HeaderReceived,
        EventId::Connected,
        EventId::Data,
        EventId::Error,
        EventId::Disconnected,
        EventId::Closed,
        EventId::Finish,
    ];
    let types = [
        ErrorType::None,
        ErrorType::TcpTransport,
        ErrorType::PongTimeout,
        ErrorType::Handshake,
        ErrorType::ServerClose,
    ];
    for (i, ev) in all.iter().enumerate() {
        for data in [&b""[..], b"hi\x00\xff", &[7u8; 100][..]] {
            let e = DutEvent {
                client: "c".into(),
                at_ms: 5 * i as u64,
                event: event(*ev, data, types[i % types.len()]),
                digest: None,
            };
            msgs.push(AgentMsg::Event(WireEvent::from_dut(&e, 16)));
        }
    }
    let cmds: Vec<String> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| format!("agent {}", hex(encode(i as u32, m).trim_end().as_bytes())))
        .collect();
    let got = run(&exe, &cmds);
    for (i, (m, g)) in msgs.iter().zip(&got).enumerate() {
        let line = g.strip_prefix("ok ").unwrap_or_else(|| panic!("{m:?}: {g}"));
        match decode::<AgentMsg>(line.as_bytes(), 1 << 20) {
            Received::Msg { seq, msg } => {
                assert_eq!(seq, i as u32);
                assert_eq!(&msg, m, "C wrote {line}");
            }
            other => panic!("{m:?}: C wrote {line}: {other:?}"),
        }
    }
    // The digest of a large payload is the payload's SHA-256.
    let AgentMsg::Event(big) = &msgs[msgs.len() - 1] else { panic!() };
    assert_eq!(big.sha256.as_deref(), Some(sha256_hex(&[7u8; 100]).as_str()));
}

#[test]
fn reassembly_matches_the_models() {
    let Some(exe) = driver() else { return };
    let ev_code = |e: EventId| match e {
        EventId::Connected => 3,
        EventId::Data => 4,
        EventId::Disconnected => 6,
        _ => 0,
    };
    let mk = |e: EventId, op: u8, fin: bool, off: i32, pl: i32, d: &[u8]| OwnedEvent {
        event: e,
        op_code: op,
        fin,
        data_len: d.len(),
        payload_len: pl,
        payload_offset: off,
        error_handle: ErrorHandle::default(),
        close_status_code: 0,
        data: d.to_vec(),
    };
    let seqs: Vec<(usize, Vec<OwnedEvent>)> = vec![
        (
            100,
            vec![
                mk(EventId::Data, 1, false, 0, 5, b"he"),
                mk(EventId::Data, 1, false, 2, 5, b"llo"),
                mk(EventId::Data, 9, true, 0, 1, b"p"),
                mk(EventId::Data, 0, true, 0, 6, b" wor"),
                mk(EventId::Data, 0, true, 4, 6, b"ld"),
                mk(EventId::Data, 0, true, 0, 1, b"x"),
                mk(EventId::Data, 2, true, 0, 0, b""),
            ],
        ),
        (
            4,
            vec![
                mk(EventId::Data, 2, false, 0, 3, b"abc"),
                mk(EventId::Connected, 0, false, 0, 0, b""),
                mk(EventId::Data, 0, true, 0, 2, b"de"),
                mk(EventId::Data, 2, true, 0, 6, b"abc"),
                mk(EventId::Data, 2, true, 3, 6, b"def"),
                mk(EventId::Data, 1, true, 0, 2, b"ok"),
                mk(EventId::Data, 1, true, 1, 2, b"k"),
                mk(EventId::Disconnected, 0, false, 0, 0, b""),
            ],
        ),
    ];
    let mut cmds = Vec::new();
    let mut expect = Vec::new();
    for (max, evs) in &seqs {
        let mut r = Reassembler::new(*max);
        let items: Vec<String> = evs
            .iter()
            .map(|e| {
                let d = if e.data.is_empty() { "".into() } else { hex(&e.data) };
                format!(
                    "{},{},{},{},{},{d}",
                    ev_code(e.event),
                    e.op_code,
                    u8::from(e.fin),
                    e.payload_offset,
                    e.payload_len
                )
            })
            .collect();
        cmds.push(format!("reasm {max} {}", items.join(";")));
        let results: Vec<String> = evs
            .iter()
            .map(|e| match r.push(e) {
                Assembled::Pending => "pending".into(),
                Assembled::Message { opcode, data } => format!("msg {opcode} {}", hex(&data)),
                Assembled::TooLong { opcode, len } => format!("long {opcode} {len}"),
            })
            .collect();
        expect.push(results.join(";"));
    }
    assert!(expect[0].contains("msg 1 68656c6c6f20776f726c64"), "{}", expect[0]);
    assert!(expect[1].contains("long 2 6"), "{}", expect[1]);
    let got = run(&exe, &cmds);
    assert_eq!(got, expect);
    let _ = unhex("00");
}
