//! An RFC 2217 client (Telnet COM-PORT-OPTION): a serial port on a lab server (ser2net,
//! esp_rfc2217_server, pySerial's server) as a byte stream for the agent protocol,
//! `--dut rfc2217://HOST:PORT[?baud=N][&reset]`.
//!
//! The client offers and asks for BINARY both ways and offers COM-PORT-OPTION; once the
//! server agrees it sets the baud rate (and 8N1, no flow control) and waits for the
//! server to confirm the baud rate. Data bytes 0xFF are doubled on the way out and
//! undoubled on the way in; Telnet commands in the data are taken out, options the
//! client did not ask for are refused. Every wait is bounded.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::serial::{DEFAULT_BAUD, RESET_PULSE, parse_path_baud};

/// Telnet: interpret as command.
pub const IAC: u8 = 255;
/// Telnet: refuse to ask.
pub const DONT: u8 = 254;
/// Telnet: ask the other side to do.
pub const DO: u8 = 253;
/// Telnet: refuse to do.
pub const WONT: u8 = 252;
/// Telnet: offer to do.
pub const WILL: u8 = 251;
/// Telnet: subnegotiation begins.
pub const SB: u8 = 250;
/// Telnet: subnegotiation ends.
pub const SE: u8 = 240;
/// Telnet option: binary transmission.
pub const BINARY: u8 = 0;
/// Telnet option: suppress go-ahead.
pub const SGA: u8 = 3;
/// Telnet option: COM-PORT-OPTION (RFC 2217).
pub const COM_PORT_OPTION: u8 = 44;
/// RFC 2217 commands (client to server; the server answers with the code + 100).
pub const SET_BAUDRATE: u8 = 1;
/// RFC 2217 SET-DATASIZE.
pub const SET_DATASIZE: u8 = 2;
/// RFC 2217 SET-PARITY.
pub const SET_PARITY: u8 = 3;
/// RFC 2217 SET-STOPSIZE.
pub const SET_STOPSIZE: u8 = 4;
/// RFC 2217 SET-CONTROL.
pub const SET_CONTROL: u8 = 5;
/// SET-CONTROL values: no flow control, DTR on/off, RTS on/off.
pub const CONTROL_NO_FLOW: u8 = 1;
/// SET-CONTROL: DTR on.
pub const CONTROL_DTR_ON: u8 = 8;
/// SET-CONTROL: DTR off.
pub const CONTROL_DTR_OFF: u8 = 9;
/// SET-CONTROL: RTS on.
pub const CONTROL_RTS_ON: u8 = 11;
/// SET-CONTROL: RTS off.
pub const CONTROL_RTS_OFF: u8 = 12;
/// How long each step of the negotiation may take.
pub const NEGOTIATION_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest subnegotiation kept (longer ones are cut; RFC 2217's are short).
const MAX_SB: usize = 64;

/// Where an RFC 2217 DUT is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc2217Target {
    /// `HOST:PORT`.
    pub addr: String,
    /// The baud rate to set.
    pub baud: u32,
    /// Hard-reset the board (DTR/RTS by SET-CONTROL) when the run first opens it.
    pub reset: bool,
}

impl Rfc2217Target {
    /// Parses `HOST:PORT[?baud=N][&reset]` (the part after `rfc2217://`; `?reset` alone
    /// works too).
    pub fn parse(s: &str) -> Result<Rfc2217Target, String> {
        let err = |why: String| format!("rfc2217://{s}: {why}");
        let (addr, query) = s.split_once('?').unwrap_or((s, ""));
        let ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0));
        if !ok {
            return Err(err("expected rfc2217://HOST:PORT[?baud=N][&reset]".into()));
        }
        let mut t = Rfc2217Target { addr: addr.to_string(), baud: DEFAULT_BAUD, reset: false };
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            match kv.split_once('=') {
                Some(("baud", b)) => {
                    t.baud = parse_path_baud(&format!("x@{b}")).map_err(err)?.1;
                }
                None if kv == "reset" => t.reset = true,
                _ => return Err(err(format!("unknown option {kv:?}; expected baud=N or reset"))),
            }
        }
        Ok(t)
    }
}

impl std::fmt::Display for Rfc2217Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}?baud={}", self.addr, self.baud)?;
        if self.reset {
            f.write_str("&reset")?;
        }
        Ok(())
    }
}

/// Doubles every 0xFF (IAC) of `data` into `out`.
pub fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
}

/// A COM-PORT-OPTION subnegotiation: `IAC SB 44 cmd value… IAC SE`, 0xFF in the value
/// doubled.
pub fn subnegotiation(cmd: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![IAC, SB, COM_PORT_OPTION, cmd];
    escape_into(value, &mut out);
    out.extend_from_slice(&[IAC, SE]);
    out
}

/// What the Telnet parser takes out of the stream besides data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// `IAC WILL|WONT|DO|DONT option`.
    Option(u8, u8),
    /// A subnegotiation's content (after `IAC SB`, before `IAC SE`, 0xFF undoubled).
    Sub(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Data,
    Iac,
    Opt(u8),
    Sb,
    SbIac,
}

/// The receiving side's Telnet parser (byte by byte, so a command split across reads
/// is fine).
#[derive(Debug)]
pub struct Parser {
    st: St,
    sb: Vec<u8>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser { st: St::Data, sb: Vec::new() }
    }
}

impl Parser {
    /// Splits `input` into data (appended to `data`) and controls (to `ctl`).
    pub fn push(&mut self, input: &[u8], data: &mut Vec<u8>, ctl: &mut Vec<Control>) {
        for &b in input {
            self.st = match (self.st, b) {
                (St::Data, IAC) => St::Iac,
                (St::Data, _) => {
                    data.push(b);
                    St::Data
                }
                (St::Iac, IAC) => {
                    data.push(IAC);
                    St::Data
                }
                (St::Iac, WILL | WONT | DO | DONT) => St::Opt(b),
                (St::Iac, SB) => {
                    self.sb.clear();
                    St::Sb
                }
                // NOP, GA, and the other one-byte commands: nothing for a serial link.
                (St::Iac, _) => St::Data,
                (St::Opt(cmd), _) => {
                    ctl.push(Control::Option(cmd, b));
                    St::Data
                }
                (St::Sb, IAC) => St::SbIac,
                (St::Sb, _) => {
                    if self.sb.len() < MAX_SB {
                        self.sb.push(b);
                    }
                    St::Sb
                }
                (St::SbIac, IAC) => {
                    if self.sb.len() < MAX_SB {
                        self.sb.push(IAC);
                    }
                    St::Sb
                }
                (St::SbIac, SE) => {
                    ctl.push(Control::Sub(std::mem::take(&mut self.sb)));
                    St::Data
                }
                // A malformed subnegotiation: dropped.
                (St::SbIac, _) => St::Data,
            };
        }
    }
}

/// A negotiated connection: the data streams and the tasks that pump them.
pub struct Rfc2217Link {
    /// Data from the serial port.
    pub reader: tokio::io::ReadHalf<DuplexStream>,
    /// Data to the serial port.
    pub writer: tokio::io::WriteHalf<DuplexStream>,
    /// The pumps (the owner aborts them when done).
    pub tasks: Vec<JoinHandle<()>>,
}

/// Connects to `target`, negotiates, sets the line (baud, 8N1, no flow control) and,
/// with `reset`, pulses the reset as esptool does (DTR off, RTS on for
/// [`RESET_PULSE`], RTS off).
pub async fn connect(target: &Rfc2217Target, reset: bool) -> Result<Rfc2217Link, String> {
    let what = format!("rfc2217://{}", target.addr);
    let tcp = tokio::time::timeout(NEGOTIATION_TIMEOUT, TcpStream::connect(target.addr.as_str()))
        .await
        .map_err(|_| format!("{what}: no connection within {} s", NEGOTIATION_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{what}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (mut tr, mut tw) = tcp.into_split();
    let (host_end, pump_end) = tokio::io::duplex(16 * 1024);
    let (mut pump_r, mut pump_w) = tokio::io::split(pump_end);
    // Control bytes (already framed) to send, from the negotiation and the parser.
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    // What the server says besides data, while the negotiation listens.
    let (ev_tx, mut ev_rx) = mpsc::channel::<Control>(64);
    let reply_tx = ctl_tx.clone();
    // Until the line is set up, data is the tail of whatever the port printed before
    // (no hello can be in it yet): dropped, so it cannot stall the parser the
    // negotiation listens through.
    let negotiating = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let negotiating_in = negotiating.clone();
    let inbound = tokio::spawn(async move {
        let mut p = Parser::default();
        // Each unwanted option is refused once, so a server repeating it cannot queue
        // refusals without end.
        let mut refused = [[false; 256]; 2];
        let mut buf = vec![0u8; 4096];
        let (mut data, mut ctl) = (Vec::new(), Vec::new());
        loop {
            let n = match tr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            data.clear();
            ctl.clear();
            p.push(&buf[..n], &mut data, &mut ctl);
            for c in ctl.drain(..) {
                if let Control::Option(cmd, opt) = c {
                    let wanted = matches!(opt, BINARY | SGA | COM_PORT_OPTION);
                    // Options not asked for are refused; answers to ours need no reply.
                    match cmd {
                        DO if !wanted && !refused[0][usize::from(opt)] => {
                            refused[0][usize::from(opt)] = true;
                            let _ = reply_tx.send(vec![IAC, WONT, opt]);
                        }
                        WILL if !wanted && !refused[1][usize::from(opt)] => {
                            refused[1][usize::from(opt)] = true;
                            let _ = reply_tx.send(vec![IAC, DONT, opt]);
                        }
                        _ => {}
                    }
                }
                // Only what the negotiation waits for (the answer to COM-PORT-OPTION and
                // the baud rate's confirmation), so notifications cannot crowd it out;
                // nobody listens once the negotiation is over: dropped then.
                let needed = match &c {
                    Control::Option(_, opt) => *opt == COM_PORT_OPTION,
                    Control::Sub(s) => {
                        s.len() >= 2 && s[0] == COM_PORT_OPTION && s[1] == SET_BAUDRATE + 100
                    }
                };
                if needed {
                    let _ = ev_tx.try_send(c);
                }
            }
            if negotiating_in.load(std::sync::atomic::Ordering::SeqCst) {
                continue;
            }
            if !data.is_empty() && pump_w.write_all(&data).await.is_err() {
                return;
            }
        }
    });
    let outbound = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut out = Vec::with_capacity(8192);
        let mut data_open = true;
        loop {
            out.clear();
            tokio::select! {
                c = ctl_rx.recv() => match c {
                    Some(c) => out.extend_from_slice(&c),
                    None => return,
                },
                n = pump_r.read(&mut buf), if data_open => match n {
                    Ok(0) | Err(_) => data_open = false,
                    Ok(n) => escape_into(&buf[..n], &mut out),
                },
            }
            if !out.is_empty() && tw.write_all(&out).await.is_err() {
                return;
            }
            if !data_open {
                let _ = tw.shutdown().await;
                return;
            }
        }
    });
    let (reader, writer) = tokio::io::split(host_end);
    let link = Rfc2217Link { reader, writer, tasks: vec![inbound, outbound] };
    let send = |b: Vec<u8>| ctl_tx.send(b).map_err(|_| format!("{what}: the link closed"));
    send(vec![IAC, WILL, BINARY, IAC, DO, BINARY, IAC, WILL, COM_PORT_OPTION])?;
    // The server must agree to COM-PORT-OPTION.
    wait_for(&mut ev_rx, &what, "COM-PORT-OPTION (IAC DO 44)", |c| match c {
        Control::Option(DO, COM_PORT_OPTION) => Some(Ok(())),
        Control::Option(DONT, COM_PORT_OPTION) => Some(Err(
            "the server refused COM-PORT-OPTION: it is a Telnet server, not an RFC 2217 one"
                .to_string(),
        )),
        _ => None,
    })
    .await?;
    send(subnegotiation(SET_BAUDRATE, &target.baud.to_be_bytes()))?;
    let baud = target.baud;
    wait_for(&mut ev_rx, &what, "the baud rate's confirmation", |c| match c {
        Control::Sub(s)
            if s.len() == 6 && s[0] == COM_PORT_OPTION && s[1] == SET_BAUDRATE + 100 =>
        {
            let got = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
            Some(if got == baud {
                Ok(())
            } else {
                Err(format!("the server set {got} baud, not {baud}"))
            })
        }
        _ => None,
    })
    .await?;
    send(subnegotiation(SET_DATASIZE, &[8]))?;
    send(subnegotiation(SET_PARITY, &[1]))?;
    send(subnegotiation(SET_STOPSIZE, &[1]))?;
    send(subnegotiation(SET_CONTROL, &[CONTROL_NO_FLOW]))?;
    negotiating.store(false, std::sync::atomic::Ordering::SeqCst);
    if reset {
        for (value, pause) in [
            (CONTROL_DTR_OFF, Duration::ZERO),
            (CONTROL_RTS_ON, RESET_PULSE),
            (CONTROL_RTS_OFF, Duration::ZERO),
        ] {
            send(subnegotiation(SET_CONTROL, &[value]))?;
            tokio::time::sleep(pause).await;
        }
    }
    Ok(link)
}

async fn wait_for(
    rx: &mut mpsc::Receiver<Control>,
    what: &str,
    waiting: &str,
    mut f: impl FnMut(&Control) -> Option<Result<(), String>>,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + NEGOTIATION_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => {
                return Err(format!(
                    "{what}: no {waiting} within {} s",
                    NEGOTIATION_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => return Err(format!("{what}: the server closed during the negotiation")),
            Ok(Some(c)) => {
                if let Some(r) = f(&c) {
                    return r.map_err(|e| format!("{what}: {e}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn targets_parse() {
        let t = Rfc2217Target::parse("lab:4000").unwrap();
        assert_eq!((t.addr.as_str(), t.baud, t.reset), ("lab:4000", 115_200, false));
        let t = Rfc2217Target::parse("127.0.0.1:4000?baud=921600&reset").unwrap();
        assert_eq!((t.baud, t.reset), (921_600, true));
        assert_eq!(t.to_string(), "127.0.0.1:4000?baud=921600&reset");
        assert!(Rfc2217Target::parse("lab:4000?reset").unwrap().reset);
        for bad in ["", "lab", "lab:0", ":4000", "lab:4000?baud=x", "lab:4000?speed=9600"] {
            assert!(Rfc2217Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_parser_takes_commands_out_and_undoubles_iac() {
        let mut p = Parser::default();
        let (mut d, mut c) = (Vec::new(), Vec::new());
        let wire = [
            b'a',
            IAC,
            IAC,
            b'b',
            IAC,
            DO,
            99,
            IAC,
            241,
            IAC,
            SB,
            COM_PORT_OPTION,
            101,
            0,
            0,
            IAC,
            IAC,
            0,
            IAC,
            SE,
            b'c',
        ];
        // Byte by byte: state survives across reads.
        for b in wire {
            p.push(&[b], &mut d, &mut c);
        }
        assert_eq!(d, [b'a', IAC, b'b', b'c']);
        assert_eq!(
            c,
            vec![Control::Option(DO, 99), Control::Sub(vec![COM_PORT_OPTION, 101, 0, 0, IAC, 0])]
        );
        let mut out = Vec::new();
        escape_into(&[1, IAC, 2, IAC, IAC], &mut out);
        assert_eq!(out, [1, IAC, IAC, 2, IAC, IAC, IAC, IAC]);
        assert_eq!(
            subnegotiation(SET_BAUDRATE, &[0, 0, 0xFF, 0]),
            [IAC, SB, 44, 1, 0, 0, IAC, IAC, 0, IAC, SE]
        );
    }

    /// A server that agrees to everything, confirms the baud rate, then collects what
    /// comes after the line settings.
    #[tokio::test]
    async fn data_with_0xff_is_doubled_on_the_wire_and_refusals_are_reported() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            // The offer, then the baud rate.
            while got.len() < 9 {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(&got[..9], &[IAC, WILL, 0, IAC, DO, 0, IAC, WILL, 44]);
            s.write_all(&[IAC, DO, 0, IAC, WILL, 0, IAC, DO, 44]).await.unwrap();
            while got.len() < 9 + 10 {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(&subnegotiation(101, &115_200u32.to_be_bytes())).await.unwrap();
            // Data from the device, with an escaped 0xFF and an option to refuse.
            s.write_all(&[b'x', IAC, IAC, IAC, DO, 24, b'y']).await.unwrap();
            let mut rest = Vec::new();
            while !rest.ends_with(b"!") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0);
                rest.extend_from_slice(&buf[..n]);
            }
            rest
        });
        let t = Rfc2217Target::parse(&addr).unwrap();
        let mut link = connect(&t, false).await.unwrap();
        let mut two = [0u8; 3];
        link.reader.read_exact(&mut two).await.unwrap();
        assert_eq!(two, [b'x', IAC, b'y']);
        link.writer.write_all(&[0xFF, b'a', 0xFF, b'!']).await.unwrap();
        let rest = server.await.unwrap();
        // 8N1 and no flow control were set; the refusal of option 24; the data doubled.
        assert!(rest.windows(3).any(|w| w == [IAC, WONT, 24]), "{rest:?}");
        assert!(rest.ends_with(&[IAC, IAC, b'a', IAC, IAC, b'!']), "{rest:?}");
        for sub in [
            subnegotiation(SET_DATASIZE, &[8]),
            subnegotiation(SET_PARITY, &[1]),
            subnegotiation(SET_CONTROL, &[CONTROL_NO_FLOW]),
        ] {
            assert!(rest.windows(sub.len()).any(|w| w == sub.as_slice()), "{sub:?} in {rest:?}");
        }
    }

    #[tokio::test]
    async fn a_plain_telnet_server_is_a_clear_error() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(&[IAC, DONT, 44]).await.unwrap();
            let mut sink = [0u8; 64];
            while s.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        let e = connect(&Rfc2217Target::parse(&addr).unwrap(), false).await.err().unwrap();
        assert!(e.contains("refused COM-PORT-OPTION"), "{e}");
    }
}
