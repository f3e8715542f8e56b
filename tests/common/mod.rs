//! Shared test fixtures: event collection, a raw scripted TCP server, a
//! tokio-tungstenite echo server (ws and wss), and a recording connector.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use wsim::esp::{
    Config, Env, EspWebsocketClient, EventFilter, EventId, OwnedEvent, Profile, handshake,
};
use wsim::transport::{BoxStream, ConnectFailure, ConnectFuture, Connector};

/// How long any single expectation may wait.
pub const WAIT: Duration = Duration::from_secs(5);

/// Events of one client, with the time each arrived.
pub struct Events {
    rx: mpsc::UnboundedReceiver<(Instant, OwnedEvent)>,
    pub seen: Vec<OwnedEvent>,
    ignored: Vec<EventId>,
}

impl Events {
    pub fn attach(client: &EspWebsocketClient) -> Events {
        let (tx, rx) = mpsc::unbounded_channel();
        client.register_events(EventFilter::Any, move |ev| {
            let _ = tx.send((Instant::now(), ev.to_owned_event()));
        });
        Events { rx, seen: Vec::new(), ignored: Vec::new() }
    }

    /// Skips `id` from now on (its events are still recorded in `seen`).
    pub fn ignore(mut self, id: EventId) -> Events {
        self.ignored.push(id);
        self
    }

    /// The next event not ignored, within `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Option<(Instant, OwnedEvent)> {
        let deadline = Instant::now() + limit;
        loop {
            let got = tokio::time::timeout_at(deadline, self.rx.recv()).await.ok().flatten();
            if let Some((_, e)) = &got {
                self.seen.push(e.clone());
                if self.ignored.contains(&e.event) {
                    continue;
                }
            }
            return got;
        }
    }

    /// The next event, which must be `id`.
    pub async fn expect(&mut self, id: EventId) -> OwnedEvent {
        match self.next_within(WAIT).await {
            Some((_, e)) if e.event == id => e,
            Some((_, e)) => panic!("expected {id:?}, got {e:?}; seen so far: {:?}", self.names()),
            None => {
                panic!("expected {id:?}, got nothing within {WAIT:?}; seen: {:?}", self.names())
            }
        }
    }

    /// The next event with its arrival time, which must be `id`.
    pub async fn expect_at(&mut self, id: EventId, limit: Duration) -> (Instant, OwnedEvent) {
        match self.next_within(limit).await {
            Some((t, e)) if e.event == id => (t, e),
            other => panic!("expected {id:?}, got {other:?}; seen: {:?}", self.names()),
        }
    }

    /// Skips events until `id` arrives, and returns it.
    pub async fn skip_until(&mut self, id: EventId) -> OwnedEvent {
        loop {
            match self.next_within(WAIT).await {
                Some((_, e)) if e.event == id => return e,
                Some(_) => {}
                None => panic!("{id:?} never came; seen: {:?}", self.names()),
            }
        }
    }

    /// Expects these events in this order.
    pub async fn expect_seq(&mut self, ids: &[EventId]) -> Vec<OwnedEvent> {
        let mut out = Vec::new();
        for id in ids {
            out.push(self.expect(*id).await);
        }
        out
    }

    /// Asserts that nothing arrives within `d`.
    pub async fn expect_none(&mut self, d: Duration) {
        if let Some((_, e)) = self.next_within(d).await {
            panic!("expected no event, got {e:?}; seen: {:?}", self.names());
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.seen.iter().map(|e| e.event.name()).collect()
    }
}

/// A client on real sockets with a fixed seed.
pub fn client(cfg: Config) -> EspWebsocketClient {
    client_with(cfg, Profile::Idf6)
}

pub fn client_with(cfg: Config, profile: Profile) -> EspWebsocketClient {
    EspWebsocketClient::try_init(&cfg, &Env::real_seeded(7), profile).expect("init")
}

pub fn cfg(uri: String) -> Config {
    Config { uri: Some(uri), network_timeout_ms: 2000, ..Config::default() }
}

/// A client connected to a fresh [`RawServer`] (handshake done, CONNECTED seen), with its
/// events, the server side of the connection, and the server.
pub async fn connected_raw(
    cfg: Config,
    profile: Profile,
) -> (EspWebsocketClient, Events, RawConn, RawServer) {
    let srv = RawServer::bind().await;
    let c = client_with(Config { uri: Some(srv.uri("/")), ..cfg }, profile);
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    let mut conn = srv.accept().await;
    conn.upgrade().await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect, EventId::Connected]).await;
    (c, ev, conn, srv)
}

/// A TCP listener on loopback whose connections the test scripts byte by byte.
pub struct RawServer {
    pub listener: TcpListener,
    pub addr: SocketAddr,
}

impl RawServer {
    pub async fn bind() -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        RawServer { listener, addr }
    }

    pub fn uri(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.addr.port(), path)
    }

    pub async fn accept(&self) -> RawConn {
        let (stream, _) =
            timeout(WAIT, self.listener.accept()).await.expect("accept timed out").unwrap();
        RawConn { stream, buf: Vec::new() }
    }
}

/// A frame the client sent, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    async fn fill(&mut self) -> usize {
        let mut tmp = [0u8; 4096];
        let n = timeout(WAIT, self.stream.read(&mut tmp)).await.expect("read timed out").unwrap();
        self.buf.extend_from_slice(&tmp[..n]);
        n
    }

    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await > 0, "connection closed while reading {n} bytes");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads the HTTP request up to the blank line.
    pub async fn read_request(&mut self) -> String {
        loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let req: Vec<u8> = self.buf.drain(..p + 4).collect();
                return String::from_utf8(req).unwrap();
            }
            assert!(self.fill().await > 0, "closed before the request ended");
        }
    }

    /// Reads the request and answers 101 with the right accept key (plus `extra` header
    /// lines and `after` bytes in the same write). Returns the request.
    pub async fn upgrade_with(&mut self, extra: &str, after: &[u8]) -> String {
        let req = self.read_request().await;
        let key = request_key(&req);
        let mut resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
            handshake::expected_accept(&key)
        )
        .into_bytes();
        resp.extend_from_slice(after);
        self.write(&resp).await;
        req
    }

    pub async fn upgrade(&mut self) -> String {
        self.upgrade_with("", &[]).await
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one client frame and checks its masking.
    pub async fn read_frame(&mut self) -> ClientFrame {
        let h = self.take(2).await;
        let len = match h[1] & 0x7F {
            126 => u16::from_be_bytes(self.take(2).await.try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.take(8).await.try_into().unwrap()) as usize,
            n => n as usize,
        };
        let masked = h[1] & 0x80 != 0;
        let mask = if masked { self.take(4).await } else { vec![0; 4] };
        let mut payload = self.take(len).await;
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        ClientFrame {
            fin: h[0] & 0x80 != 0,
            rsv: h[0] & 0x70,
            opcode: h[0] & 0x0F,
            masked,
            payload,
        }
    }

    /// Asserts that the client sends nothing for `d`.
    pub async fn expect_silent(&mut self, d: Duration) {
        let mut tmp = [0u8; 64];
        if let Ok(r) = timeout(d, self.stream.read(&mut tmp)).await {
            let n = *r.as_ref().unwrap_or(&0);
            panic!("expected silence from the client, got {r:?} ({:?})", &tmp[..n]);
        }
    }

    /// Waits for the client to close the connection (EOF or reset), within `limit`.
    pub async fn expect_closed(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let mut tmp = [0u8; 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut tmp)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }
}

/// The `Sec-WebSocket-Key` of a request.
pub fn request_key(req: &str) -> String {
    req.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("request has a key")
        .trim()
        .to_string()
}

/// An unmasked server frame.
pub fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    wsim::server::server_frame(b0, payload)
}

/// A tokio-tungstenite echo server: echoes text and binary, answers pings and closes,
/// and echoes the first offered subprotocol. Returns its address.
pub async fn echo_server(tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => echo_conn(tcp).await,
                    Some(cfg) => {
                        if let Ok(s) = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await {
                            echo_conn(s).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

async fn echo_conn<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: S) {
    #[expect(clippy::result_large_err, reason = "the callback signature is tungstenite's")]
    fn pick(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
        if let Some(first) = req
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
        {
            resp.headers_mut().insert("Sec-WebSocket-Protocol", first.trim().parse().unwrap());
        }
        Ok(resp)
    }
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(s, pick).await else { return };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

/// Host and port pairs a [`RecordingConnector`] was asked for.
pub type Asked = Arc<Mutex<Vec<(String, u16)>>>;

/// A connector that sends every connection to `target` and records what was asked.
pub struct RecordingConnector {
    pub target: SocketAddr,
    pub asked: Asked,
}

impl Connector for RecordingConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        self.asked.lock().unwrap().push((host.to_string(), port));
        let target = self.target;
        Box::pin(async move {
            let s = TcpStream::connect(target).await.map_err(|_| ConnectFailure::Refused(111))?;
            Ok(Box::new(s) as BoxStream)
        })
    }
}

/// A server-side rustls config for `cert` / `key`, optionally requiring client
/// certificates signed by `client_ca`.
pub fn server_tls(
    cert: &wsim::certs::CertKey,
    client_ca: Option<&str>,
) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![CertificateDer::from(cert.cert_der.clone())];
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let cfg = match client_ca {
        None => builder.with_no_client_auth().with_single_cert(chain, key).unwrap(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier).with_single_cert(chain, key).unwrap()
        }
    };
    Arc::new(cfg)
}
