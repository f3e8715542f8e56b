//! `wsim agent`'s engine: the client model behind the agent protocol, on any byte
//! stream. Requests are served against [`HostDut`] — the same mapping of commands the
//! in-process DUT uses — and its events are streamed as they come.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::line::{LineSplitter, PROTOCOL_VERSION, RawLine};
use super::message::{
    AgentMsg, Hello, HostMsg, Op, Payload, Received, Request, Resp, WireEvent, WireHandlerCall,
    config_from_wire, decode, encode, inline_cert, unb64,
};
use crate::dut::{Dut, DutReport, HostDut};
use crate::esp::{Env, Profile, Sdkconfig};
use crate::transport::{CertSource, set_global_ca_store};

/// The largest staged buffer.
pub const MAX_STAGED_BUFFER: usize = 16 << 20;
/// All staged buffers together.
pub const MAX_STAGED_TOTAL: usize = 64 << 20;
/// The longest error text a response carries.
const MAX_ERR: usize = 1000;

/// How `wsim agent` presents itself.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The model's profile (the hello's IDF version follows it).
    pub profile: Profile,
    /// The line length announced and used.
    pub max_line: usize,
    /// The largest inline event payload.
    pub inline_max: usize,
    /// The default build options.
    pub sdkconfig: Sdkconfig,
    /// The test PKI certificates are named from (`--pki DIR`): the `pki` ability.
    pub pki: Option<std::sync::Arc<std::collections::BTreeMap<String, Vec<u8>>>>,
}

impl AgentOptions {
    /// The hello `wsim agent` sends.
    pub fn hello(&self) -> Hello {
        Hello {
            proto: PROTOCOL_VERSION,
            agent: format!("wsim {} (the client model)", env!("CARGO_PKG_VERSION")),
            chip: "host".into(),
            idf: match self.profile {
                Profile::Idf55 => "v5.5".into(),
                Profile::Idf6 => "v6.0".into(),
            },
            client: "1.8.0".into(),
            heap: 0,
            sdkconfig: Hello::sdkconfig_map(&self.sdkconfig),
            max_line: self.max_line,
            inline_max: self.inline_max,
            abilities: {
                let mut a: Vec<String> =
                    vec!["sdkconfig".into(), "global_ca".into(), "background".into()];
                if self.pki.is_some() {
                    a.push("pki".into());
                }
                a
            },
        }
    }
}

/// What a spawned call reports back to the loop.
enum Finished {
    /// A foreground call's response.
    Resp(Resp),
    /// A background call's completion.
    Done(Resp),
}

struct Session {
    opts: AgentOptions,
    dut: HostDut,
    buffers: HashMap<u32, Vec<u8>>,
    staged: usize,
}

impl Session {
    fn new(opts: &AgentOptions, sdkconfig: Sdkconfig, seed: u64) -> Session {
        let env = Env::real_seeded(seed).with_sdkconfig(sdkconfig);
        Session {
            opts: opts.clone(),
            dut: HostDut::new(env, opts.profile),
            buffers: HashMap::new(),
            staged: 0,
        }
    }

    /// A certificate inline or by its name in the agent's test PKI.
    fn cert(&self, c: &super::message::Cert) -> Result<Vec<u8>, String> {
        match (&c.pki, &self.opts.pki) {
            (Some(name), Some(pki)) if c.b64.is_none() && c.buf.is_none() => {
                pki.get(name).cloned().ok_or_else(|| {
                    format!(
                        "no PKI member {name:?} (the members: {})",
                        pki.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
            }
            _ => inline_cert(c),
        }
    }

    fn take_payload(&mut self, p: &Payload) -> Result<Vec<u8>, String> {
        match (&p.b64, p.buf) {
            (Some(b), None) => unb64(b, "data"),
            (None, Some(n)) => {
                let b = self.buffers.remove(&n).ok_or_else(|| format!("no staged buffer {n}"))?;
                self.staged -= b.len();
                Ok(b)
            }
            _ => Err("a payload needs exactly one of b64 and buf".into()),
        }
    }
}

/// Serves the protocol on `reader`/`writer` until the reader ends. Sends a hello first.
pub async fn serve_agent<R, W>(mut reader: R, writer: W, opts: AgentOptions) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, mut out_rx) = mpsc::unbounded_channel::<AgentMsg>();
    // The one writer: numbers lines in the order they are written.
    let writer_task = tokio::spawn(async move {
        let mut w = writer;
        let mut seq: u32 = 0;
        while let Some(m) = out_rx.recv().await {
            let line = encode(seq, &m);
            seq = seq.wrapping_add(1);
            w.write_all(line.as_bytes()).await?;
            if out_rx.is_empty() {
                w.flush().await?;
            }
        }
        w.flush().await
    });
    let (fin_tx, mut fin_rx) = mpsc::unbounded_channel::<Finished>();
    let mut session = Session::new(&opts, opts.sdkconfig, 0);
    let _ = out.send(AgentMsg::Hello(opts.hello()));
    let mut splitter = LineSplitter::new(opts.max_line);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = reader.read(&mut buf) => {
                let n: usize = n.unwrap_or_default();
                if n == 0 {
                    break;
                }
                for raw in splitter.push(&buf[..n]) {
                    let RawLine::Line(line) = raw else { continue };
                    // Log lines and garbled lines from the host are not answered.
                    if let Received::Msg { msg: HostMsg::Req(req), .. } = decode::<HostMsg>(&line, opts.max_line) {
                        handle(&mut session, req, &out, &fin_tx).await;
                    }
                }
            }
            Some(r) = session.dut.events().recv() => forward(r, &out, session.opts.inline_max),
            Some(f) = fin_rx.recv() => {
                // Every event the call caused is queued before its answer.
                while let Ok(r) = session.dut.events().try_recv() {
                    forward(r, &out, session.opts.inline_max);
                }
                let _ = out.send(match f {
                    Finished::Resp(r) => AgentMsg::Resp(r),
                    Finished::Done(r) => AgentMsg::Done(r),
                });
            }
        }
    }
    // The host went away: destroy the clients (bounded), stop writing.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), session.dut.shutdown()).await;
    drop(out);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), writer_task).await;
    Ok(())
}

fn forward(r: DutReport, out: &mpsc::UnboundedSender<AgentMsg>, inline_max: usize) {
    let _ = out.send(match r {
        DutReport::Event(e) => AgentMsg::Event(WireEvent::from_dut(&e, inline_max)),
        DutReport::Call(c) => AgentMsg::Hcall(WireHandlerCall {
            client: c.client,
            ms: c.at_ms,
            reaction: c.reaction,
            function: c.function.to_string(),
            ret: c.returned,
        }),
    });
}

fn short(e: String) -> String {
    if e.len() <= MAX_ERR {
        return e;
    }
    let mut cut = MAX_ERR;
    while !e.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &e[..cut])
}

async fn handle(
    session: &mut Session,
    req: Request,
    out: &mpsc::UnboundedSender<AgentMsg>,
    fin: &mpsc::UnboundedSender<Finished>,
) {
    let id = req.id;
    let reply = |r: Result<i64, String>| {
        let _ = out.send(AgentMsg::Resp(match r {
            Ok(v) => Resp::ok(id, v),
            Err(e) => Resp::err(id, short(e)),
        }));
    };
    match req.op {
        Op::Hello => {
            reply(Ok(0));
            let _ = out.send(AgentMsg::Hello(session.opts.hello()));
        }
        Op::Reset { sdkconfig, global_ca, seed } => {
            // The lines are every option that differs from the Kconfig default (the
            // host starts from this agent's hello, so its own options come back).
            let mut build = Sdkconfig::default();
            let applied =
                sdkconfig.iter().try_for_each(|l| build.set(l)).and_then(|()| build.validate());
            if let Err(e) = applied {
                return reply(Err(e.to_string()));
            }
            if let Some(ca) = global_ca {
                match session.cert(&ca) {
                    Ok(bytes) => set_global_ca_store(CertSource::from_ptr_len(bytes, 0)),
                    Err(e) => return reply(Err(format!("global_ca: {e}"))),
                }
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), session.dut.shutdown())
                .await;
            *session = Session::new(&session.opts, build, seed.unwrap_or(0));
            reply(Ok(0));
        }
        Op::Init { client, config, reactions } => {
            if client.is_empty() || client.len() > 64 {
                return reply(Err("client names are 1 to 64 bytes".into()));
            }
            let cfg = match config_from_wire(&config, |c| match c.buf {
                Some(n) => session.take_payload(&Payload { b64: None, buf: Some(n) }),
                None => session.cert(c),
            }) {
                Ok(c) => c,
                Err(e) => return reply(Err(e)),
            };
            let specs: Result<Vec<_>, String> = reactions.iter().map(|r| r.to_spec()).collect();
            match specs {
                Ok(specs) => reply(Ok(i64::from(session.dut.create_now(&client, &cfg, &specs)))),
                Err(e) => reply(Err(e)),
            }
        }
        Op::Call { client, call, background } => {
            let cmd = match call.to_command(|p| session.take_payload(p)) {
                Ok(c) => c,
                Err(e) => return reply(Err(e)),
            };
            let fut = session.dut.call(&client, cmd);
            if background {
                let _ =
                    out.send(AgentMsg::Resp(Resp { id, ret: Some(0), err: None, pending: true }));
            }
            let fin = fin.clone();
            tokio::spawn(async move {
                let r = match fut.await {
                    Ok(v) => Resp::ok(id, v),
                    Err(e) => Resp::err(id, short(e.to_string())),
                };
                let _ = fin.send(if background { Finished::Done(r) } else { Finished::Resp(r) });
            });
        }
        Op::Data { buf, offset, b64 } => {
            let bytes = match unb64(&b64, "data") {
                Ok(b) => b,
                Err(e) => return reply(Err(e)),
            };
            let cur = session.buffers.get(&buf).map_or(0, Vec::len);
            if offset != cur {
                return reply(Err(format!(
                    "buffer {buf}: chunk at {offset}, the buffer holds {cur} bytes"
                )));
            }
            if cur + bytes.len() > MAX_STAGED_BUFFER
                || session.staged + bytes.len() > MAX_STAGED_TOTAL
            {
                return reply(Err(format!(
                    "buffer {buf}: over the limit ({MAX_STAGED_BUFFER} bytes each, {MAX_STAGED_TOTAL} in all)"
                )));
            }
            session.staged += bytes.len();
            let b = session.buffers.entry(buf).or_default();
            b.extend_from_slice(&bytes);
            reply(Ok(b.len() as i64));
        }
        Op::DestroyAll => {
            let f = session.dut.shutdown();
            let fin = fin.clone();
            tokio::spawn(async move {
                let r = match f.await {
                    Ok(v) => Resp::ok(id, v),
                    Err(e) => Resp::err(id, e.to_string()),
                };
                let _ = fin.send(Finished::Resp(r));
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dut::agent::{DEFAULT_MAX_LINE, WireCall, encode_line};
    use tokio::io::{AsyncBufReadExt, BufReader};

    fn opts() -> AgentOptions {
        AgentOptions {
            profile: Profile::Idf55,
            pki: None,
            max_line: DEFAULT_MAX_LINE,
            inline_max: 1024,
            sdkconfig: Sdkconfig::default(),
        }
    }

    /// Sends raw lines to the agent and reads its messages.
    struct Peer {
        w: tokio::io::WriteHalf<tokio::io::DuplexStream>,
        r: BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
        seq: u32,
    }

    impl Peer {
        fn start() -> Peer {
            let (host, agent) = tokio::io::duplex(1 << 20);
            let (ar, aw) = tokio::io::split(agent);
            tokio::spawn(serve_agent(ar, aw, opts()));
            let (r, w) = tokio::io::split(host);
            Peer { w, r: BufReader::new(r), seq: 0 }
        }

        async fn raw(&mut self, line: &[u8]) {
            self.w.write_all(line).await.unwrap();
        }

        async fn req(&mut self, id: u64, op: Op) {
            let line = encode(self.seq, &HostMsg::Req(Request { id, op }));
            self.seq += 1;
            self.raw(line.as_bytes()).await;
        }

        async fn next(&mut self) -> (u32, AgentMsg) {
            let mut line = String::new();
            tokio::time::timeout(std::time::Duration::from_secs(5), self.r.read_line(&mut line))
                .await
                .expect("a line in time")
                .unwrap();
            match crate::dut::agent::decode::<AgentMsg>(
                line.trim_end().as_bytes(),
                DEFAULT_MAX_LINE,
            ) {
                Received::Msg { seq, msg } => (seq, msg),
                other => panic!("{other:?}"),
            }
        }

        async fn resp(&mut self) -> Resp {
            match self.next().await.1 {
                AgentMsg::Resp(r) => r,
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn the_agent_says_hello_ignores_garbage_and_refuses_bad_requests() {
        let mut p = Peer::start();
        let (seq, AgentMsg::Hello(h)) = p.next().await else { panic!("no hello") };
        assert_eq!((seq, h.proto, h.idf.as_str()), (0, 1, "v5.5"));
        assert!(h.can("background") && h.can("sdkconfig"));
        // Log lines, garbage and lines with bad checksums get no answer; the next
        // good request does.
        p.raw(b"hello there\n@W1 0 00000000 {}\n@W1 \xff\xfe\n@W9 1 2 3\n").await;
        p.raw(&[b'@'; 10_000]).await;
        p.raw(b"\n").await;
        p.raw(encode_line(5, r#"{"t":"req","id":1,"op":"nope"}"#).as_bytes()).await;
        p.req(2, Op::Hello).await;
        assert_eq!(p.resp().await, Resp::ok(2, 0));
        assert!(matches!(p.next().await, (2, AgentMsg::Hello(_))));
        // Calls on unknown clients, bad encodings, bad staging are refusals.
        let call = |c: &str| WireCall { call: c.into(), ..WireCall::default() };
        p.req(3, Op::Call { client: "x".into(), call: call("start"), background: false }).await;
        assert!(p.resp().await.err.unwrap().contains("no client named"));
        p.req(4, Op::Call { client: "x".into(), call: call("warp"), background: false }).await;
        assert!(p.resp().await.err.unwrap().contains("unknown call"));
        p.req(5, Op::Data { buf: 1, offset: 3, b64: "AAAA".into() }).await;
        assert!(p.resp().await.err.unwrap().contains("chunk at 3"));
        p.req(6, Op::Data { buf: 1, offset: 0, b64: "!!".into() }).await;
        assert!(p.resp().await.err.unwrap().contains("base64"));
        p.req(7, Op::Data { buf: 1, offset: 0, b64: "AAAA".into() }).await;
        assert_eq!(p.resp().await, Resp::ok(7, 3));
        let mut send = call("send_bin");
        send.timeout = Some(1);
        send.data = Some(Payload { b64: None, buf: Some(2) });
        p.req(8, Op::Call { client: "x".into(), call: send.clone(), background: false }).await;
        assert!(p.resp().await.err.unwrap().contains("no staged buffer 2"));
        p.req(
            9,
            Op::Reset { sdkconfig: vec!["CONFIG_NOPE=y".into()], global_ca: None, seed: None },
        )
        .await;
        assert!(p.resp().await.err.is_some());
        let bad_cfg = serde_json::json!({"buffer_size": "big"});
        p.req(10, Op::Init { client: "a".into(), config: bad_cfg, reactions: vec![] }).await;
        assert!(p.resp().await.err.unwrap().contains("config"));
        // A NULL client (init refuses a common name with the skip) answers as the C
        // API does.
        let cfg = serde_json::json!({"uri": "wss://h/", "cert_common_name": "h", "skip_cert_common_name_check": true});
        p.req(11, Op::Init { client: "n".into(), config: cfg, reactions: vec![] }).await;
        assert_eq!(p.resp().await, Resp::ok(11, 0));
        send.data = Some(Payload { b64: Some("aGk=".into()), buf: None });
        p.req(12, Op::Call { client: "n".into(), call: send, background: false }).await;
        assert_eq!(p.resp().await, Resp::ok(12, -1));
        p.req(13, Op::DestroyAll).await;
        assert_eq!(p.resp().await, Resp::ok(13, 0));
    }
}
