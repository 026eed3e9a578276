//! Shared by wsx's tokio-level tests (limits, lifecycle, proxy_tls, http_integration):
//!
//! - [`RawClient`]: a peer that does the opening handshake by hand and then speaks frames
//!   through the sans-I/O core, so a test decides exactly what is written and when, and can
//!   stay silent (never read, never pong);
//! - servers on `127.0.0.1:0` and clients that ignore proxy environment variables;
//! - HTTP over a raw socket, a self-signed certificate, and a guard around a `pproxy` process.

#![allow(dead_code)] // each test binary uses its own subset

use bytes::BytesMut;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsx::client::ClientStream;
use wsx::proto::handshake::ClientRequest;
use wsx::proto::{CloseFrame, Connection, DeflateConfig, Event, Message, Role};
use wsx::{AcceptOptions, ClientBuilder, Config, WebSocket};

/// A bound on steps that take milliseconds, so that a hang fails with a message instead of
/// blocking the suite. Never used in paused-time tests (it would be the next timer).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Awaits `fut`, failing the test if it makes no progress within [`PATIENCE`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: nothing happened within {PATIENCE:?}"),
    }
}

/// The default configuration changed by `f`.
pub fn config(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default();
    f(&mut c);
    c
}

/// The default configuration without permessage-deflate.
pub fn plain_config() -> Config {
    config(|c| c.protocol.deflate = None)
}

/// A client builder that ignores proxy environment variables (the machine running the
/// tests may have some, and one test in `proxy_tls` sets them).
pub fn client(url: &str) -> ClientBuilder {
    ClientBuilder::new(url).no_proxy()
}

/// Connects a default client to `ws://addr/`.
pub async fn connect(addr: SocketAddr) -> WebSocket<ClientStream> {
    client(&format!("ws://{addr}/"))
        .connect()
        .await
        .expect("client handshake")
}

/// A listener on an ephemeral loopback port.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    (listener, addr)
}

/// Accepts one connection on `listener` and runs the server handshake with `config`.
pub async fn accept_one(listener: &TcpListener, config: &Config) -> wsx::Result<WebSocket<TcpStream>> {
    let (tcp, _) = listener.accept().await?;
    wsx::accept_with(tcp, config, |_| Ok(AcceptOptions::new())).await
}

/// A server and a client joined by an in-memory pipe, after the real opening handshake.
pub async fn duplex_pair(
    server: &Config,
    client: &Config,
) -> (
    WebSocket<tokio::io::DuplexStream>,
    WebSocket<tokio::io::DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(64 << 10);
    let (s, c) = tokio::join!(
        wsx::accept_with(a, server, |_| Ok(AcceptOptions::new())),
        ClientBuilder::new("ws://localhost/")
            .config(client.clone())
            .connect_on(b)
    );
    (s.expect("server handshake"), c.expect("client handshake"))
}

/// Receives until the stream ends, echoing every message; returns the first error.
pub async fn echo<S>(ws: &mut WebSocket<S>) -> wsx::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(msg) = ws.recv().await {
        ws.send(msg?).await?;
    }
    Ok(())
}

// ---- a peer under the test's control ----------------------------------------------------------

/// A WebSocket client whose every byte the test controls: the handshake is written by
/// hand, frames are encoded and decoded by a [`Connection`] (wsx-proto) that writes only
/// when told to ([`flush`](Self::flush)) and never runs timers. Reading it is up to the
/// test: a `RawClient` nobody reads is a peer that never reads.
#[derive(Debug)]
pub struct RawClient<S> {
    pub io: S,
    pub conn: Connection,
    /// The server's `101` response head.
    pub head: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawClient<S> {
    /// Runs the client handshake over `io`, offering permessage-deflate if `deflate` is set.
    /// The peer itself accepts messages of any size.
    pub async fn handshake(mut io: S, deflate: Option<DeflateConfig>) -> Self {
        let mut config = wsx::proto::Config::default();
        config.deflate = deflate.clone();
        config.max_frame_size = usize::MAX >> 1;
        config.max_message_size = usize::MAX >> 1;
        let request = ClientRequest::new("localhost", "/").deflate(deflate);
        io.write_all(&request.encode()).await.expect("write request");
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            let n = io.read_buf(&mut buf).await.expect("read response");
            assert!(
                n > 0,
                "server closed during the handshake; it sent {:?}",
                String::from_utf8_lossy(&buf)
            );
            if let Some(response) = request.parse_response(&buf, &config).expect("a 101 response") {
                let head = String::from_utf8_lossy(&buf[..response.consumed]).into_owned();
                let mut conn = Connection::new(Role::Client, config).with_deflate(response.deflate);
                conn.receive(&buf[response.consumed..]);
                return RawClient { io, conn, head };
            }
        }
    }

    /// Writes everything the core has queued (messages, pongs, close replies).
    pub async fn flush(&mut self) -> std::io::Result<()> {
        let out = self.conn.take_output();
        self.io.write_all(&out).await?;
        self.io.flush().await
    }

    /// Queues `message` and writes it.
    pub async fn send(&mut self, message: impl Into<Message>) -> std::io::Result<()> {
        self.conn.send(message.into()).expect("raw client send");
        self.flush().await
    }

    /// The next event from the server; `None` once the transport ended (EOF or reset).
    /// Panics if the server breaks the protocol.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.conn.poll_event() {
                Ok(Some(event)) => return Some(event),
                Ok(None) => {}
                Err(wsx::proto::Error::UnexpectedEof) => return None,
                Err(e) => panic!("the server broke the protocol: {e}"),
            }
            let mut buf = [0u8; 16 << 10];
            match self.io.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.conn.receive(&buf[..n]),
            }
        }
    }

    /// Reads until the server's close frame, skipping anything else; panics at EOF.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match self.next_event().await {
                Some(Event::Close(frame)) => return frame,
                Some(_) => {}
                None => panic!("the transport ended without a close frame"),
            }
        }
    }

    /// Reads raw bytes until the transport ends; true for a clean EOF, false for an error.
    pub async fn read_to_eof(&mut self) -> bool {
        let mut buf = [0u8; 16 << 10];
        loop {
            match self.io.read(&mut buf).await {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
}

impl RawClient<TcpStream> {
    /// Connects to `addr` and runs the handshake without offering compression.
    pub async fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("tcp connect");
        tcp.set_nodelay(true).expect("nodelay");
        RawClient::handshake(tcp, None).await
    }
}

// ---- HTTP over a raw socket -------------------------------------------------------------------

/// An HTTP response, read by hand.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A header's value (the first one, name compared without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Writes `request` and reads one response: the head, then `Content-Length` bytes of body
/// (or whatever arrives until the connection ends). A reset after the response counts as
/// its end: a server that refuses a request may close with unread input.
pub async fn http_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> HttpResponse {
    // The server may refuse before reading everything and reset the connection under us.
    let _ = stream.write_all(request).await;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (status, headers, head_len) = loop {
        let mut parsed = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut parsed);
        if let httparse::Status::Complete(n) = resp.parse(&buf).expect("a well-formed HTTP response") {
            let headers = resp
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                .collect::<Vec<_>>();
            break (resp.code.expect("status"), headers, n);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => panic!(
                "connection ended before a complete response head: {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut response = HttpResponse {
        status,
        headers,
        body: buf[head_len..].to_vec(),
    };
    let length = response
        .header("content-length")
        .map(|v| v.trim().parse::<usize>().unwrap());
    while length.is_none_or(|l| response.body.len() < l) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => response.body.extend_from_slice(&chunk[..n]),
        }
    }
    response
}

/// An opening handshake request for `path` on `host`, with `extra` header lines (each
/// ending in `\r\n`) and `version` as `Sec-WebSocket-Version`.
pub fn upgrade_request(host: &str, path: &str, version: &str, extra: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
    .into_bytes()
}

// ---- TLS ----------------------------------------------------------------------------------------

/// A self-signed certificate for `names` (DNS names or IP literals) and its key.
pub fn self_signed(
    names: &[&str],
) -> (
    wsx::tls::rustls_crate::pki_types::CertificateDer<'static>,
    wsx::tls::rustls_crate::pki_types::PrivateKeyDer<'static>,
) {
    use wsx::tls::rustls_crate::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).expect("generate a certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    (cert.der().clone(), key)
}

// ---- pproxy -------------------------------------------------------------------------------------

/// A `pproxy` process (Python) listening on a loopback port; killed on drop.
#[derive(Debug)]
pub struct Pproxy {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Pproxy {
    /// Starts `python3 -m pproxy -l SCHEME://127.0.0.1:PORT[#user:pass]` and waits until it
    /// accepts connections. `scheme` is `http` or `socks5`. pproxy remembers an
    /// authenticated client address for a while (`--auth`); `--auth 0` makes it check
    /// every connection's credentials.
    pub async fn start(scheme: &str, credentials: Option<&str>) -> Pproxy {
        let installed = Command::new("python3")
            .args(["-c", "import pproxy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed,
            "pproxy (Python) is not installed: run scripts/install-test-deps.sh"
        );
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("find a free port")
                .port();
            let mut uri = format!("{scheme}://127.0.0.1:{port}");
            if let Some(c) = credentials {
                uri = format!("{uri}#{c}");
            }
            let log = std::env::temp_dir().join(format!("wsx-pproxy-{}-{port}.log", std::process::id()));
            let file = std::fs::File::create(&log).expect("pproxy log file");
            let child = Command::new("python3")
                .args(["-m", "pproxy", "-l", &uri, "--auth", "0"])
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("spawn python3 -m pproxy");
            let mut proxy = Pproxy { child, port, log };
            for _ in 0..400 {
                if let Ok(Some(status)) = proxy.child.try_wait() {
                    last_log = format!("pproxy exited with {status}: {}", proxy.log_text());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    return proxy;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The port was taken in between, or pproxy is slow to start: try another.
            if last_log.is_empty() {
                last_log = format!("pproxy did not listen on {port}: {}", proxy.log_text());
            }
        }
        panic!("could not start pproxy: {last_log}");
    }

    /// `scheme://[credentials@]127.0.0.1:port`, as `Proxy::parse` and the proxy variables take it.
    pub fn url(&self, scheme: &str, credentials: Option<&str>) -> String {
        match credentials {
            Some(c) => format!("{scheme}://{c}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// What pproxy printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
