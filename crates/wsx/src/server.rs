//! Accepting connections: the server handshake over any transport, an Origin policy, and
//! a small server with an accept loop, a connection limit and graceful shutdown.

use crate::config::Config;
use crate::error::{Error, Result, Timeout};
use crate::tls::MaybeTlsStream;
use crate::websocket::{QueueLimits, WebSocket};
use bytes::BytesMut;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;
use wsx_proto::Role;
use wsx_proto::handshake::{self, ErrorResponse, Request};

/// What the server answers to an acceptable request: a subprotocol and extra headers.
///
/// ```
/// # use wsx::AcceptOptions;
/// let opts = AcceptOptions::new().protocol("chat.v2").header("X-Served-By", "wsx");
/// ```
#[derive(Debug, Clone, Default)]
pub struct AcceptOptions {
    protocol: Option<String>,
    headers: Vec<(String, String)>,
    extensions: http::Extensions,
}

impl AcceptOptions {
    /// Accept with no subprotocol and no extra headers.
    ///
    /// ```
    /// let opts = wsx::AcceptOptions::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Answer with this subprotocol; it must be one the client offered
    /// ([`Request::select_protocol`] picks one).
    ///
    /// ```
    /// let opts = wsx::AcceptOptions::new().protocol("chat.v2");
    /// ```
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Adds a response header (e.g. `Set-Cookie`). A name that is not an HTTP token or a
    /// value with a control character (other than HTAB) fails the handshake with
    /// [`Error::InvalidInput`], answered with a bare 500.
    ///
    /// ```
    /// let opts = wsx::AcceptOptions::new().header("Set-Cookie", "sid=42; HttpOnly");
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Attaches a value for the connection's handler, found in
    /// [`Connected::extensions`]: what an authentication callback learned (the user, their
    /// permissions), so the handler need not work it out again.
    ///
    /// ```
    /// #[derive(Clone)]
    /// struct User(String);
    /// let opts = wsx::AcceptOptions::new().extension(User("alice".into()));
    /// ```
    pub fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    pub(crate) fn to_proto<'a>(
        &'a self,
        deflate: Option<&'a wsx_proto::DeflateConfig>,
    ) -> handshake::Accept<'a> {
        let mut accept = handshake::Accept::new()
            .protocol(self.protocol.as_deref())
            .deflate(deflate);
        for (n, v) in &self.headers {
            accept = accept.header(n, v);
        }
        accept
    }
}

/// A refusal of the handshake: an HTTP status and a reason for the response body.
///
/// ```
/// let r = wsx::Rejection::new(401, "token expired");
/// assert_eq!(r.status(), 401);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
    reason: String,
}

impl Rejection {
    /// A rejection with `status` (4xx or 5xx) and `reason`.
    ///
    /// ```
    /// let r = wsx::Rejection::new(429, "slow down");
    /// ```
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Rejection {
            status,
            reason: reason.into(),
        }
    }

    /// 403 Forbidden.
    ///
    /// ```
    /// assert_eq!(wsx::Rejection::forbidden("no").status(), 403);
    /// ```
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(403, reason)
    }

    /// The HTTP status.
    ///
    /// ```
    /// assert_eq!(wsx::Rejection::new(401, "who are you?").status(), 401);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason.
    ///
    /// ```
    /// assert_eq!(wsx::Rejection::new(401, "who are you?").reason(), "who are you?");
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The complete HTTP response.
    ///
    /// ```
    /// let bytes = wsx::Rejection::new(404, "no such room").to_http_response();
    /// assert!(bytes.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    /// ```
    pub fn to_http_response(&self) -> Vec<u8> {
        self.to_error_response().encode()
    }

    fn to_error_response(&self) -> ErrorResponse {
        ErrorResponse::new(self.status, &self.reason)
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Error {
        Error::Rejected {
            status: r.status,
            reason: r.reason,
        }
    }
}

/// Which `Origin`s may open a connection: the defense against cross-site WebSocket
/// hijacking (RFC 6455 §10.2), since browsers send `Origin` but the same-origin policy
/// does not apply to WebSockets.
///
/// ```
/// use wsx::OriginPolicy;
/// use wsx_proto::handshake::{Headers, Request};
/// let policy = OriginPolicy::allow(["https://app.example.com"]);
/// let req = Request::from_parts("GET", "/", true, Headers::from_pairs([("Origin", "https://evil.test")]));
/// assert_eq!(policy.check(&req).unwrap_err().status(), 403);
/// ```
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    allowed: Vec<String>,
    allow_missing: bool,
}

impl OriginPolicy {
    /// Allows exactly these origins (`scheme://host[:port]`, compared without regard to
    /// case; `*` allows any). Requests without `Origin` (non-browser clients) are allowed
    /// unless [`require_origin`](Self::require_origin) is set.
    ///
    /// ```
    /// let policy = wsx::OriginPolicy::allow(["https://app.example.com", "https://admin.example.com"]);
    /// ```
    pub fn allow<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        OriginPolicy {
            allowed: origins
                .into_iter()
                .map(|o| o.into().trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            allow_missing: true,
        }
    }

    /// Refuses requests that carry no `Origin` header.
    ///
    /// ```
    /// let policy = wsx::OriginPolicy::allow(["https://app.example.com"]).require_origin();
    /// ```
    pub fn require_origin(mut self) -> Self {
        self.allow_missing = false;
        self
    }

    /// Checks a request: `Err` is a 403 to send back.
    ///
    /// ```
    /// use wsx_proto::handshake::{Headers, Request};
    /// let policy = wsx::OriginPolicy::allow(["https://app.example.com"]);
    /// let ok = Request::from_parts("GET", "/", true, Headers::from_pairs([("Origin", "https://APP.example.com")]));
    /// assert!(policy.check(&ok).is_ok());
    /// ```
    pub fn check(&self, request: &Request) -> std::result::Result<(), Rejection> {
        match request.origin() {
            None if self.allow_missing => Ok(()),
            None => Err(Rejection::forbidden("an Origin header is required")),
            Some(origin) => {
                let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
                if self.allowed.iter().any(|a| a == "*" || *a == origin) {
                    Ok(())
                } else {
                    Err(Rejection::forbidden("origin not allowed"))
                }
            }
        }
    }
}

/// Accepts a WebSocket on `stream` with the default configuration, any path, no
/// subprotocol, permessage-deflate when offered.
///
/// ```no_run
/// # async fn demo() -> wsx::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let (tcp, _) = listener.accept().await?;
/// let mut ws = wsx::accept(tcp).await?;
/// while let Some(msg) = ws.recv().await {
///     ws.send(msg?).await?;
/// }
/// # Ok(()) }
/// ```
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> Result<WebSocket<S>> {
    accept_with(stream, &Config::default(), |_| Ok(AcceptOptions::new())).await
}

/// Accepts a WebSocket on `stream`, letting `callback` look at the request (path,
/// headers, Origin, offered subprotocols) and accept it, choose a subprotocol, or reject
/// it with a status. Refusals and malformed requests get a proper HTTP response.
///
/// ```no_run
/// # async fn demo(tcp: tokio::net::TcpStream) -> wsx::Result<()> {
/// use wsx::{AcceptOptions, Rejection};
/// let ws = wsx::accept_with(tcp, &wsx::Config::default(), |req| {
///     if req.path() != "/chat" {
///         return Err(Rejection::new(404, "no such endpoint"));
///     }
///     let mut opts = AcceptOptions::new();
///     if let Some(p) = req.select_protocol(&["chat.v2", "chat.v1"]) {
///         opts = opts.protocol(p);
///     }
///     Ok(opts)
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn accept_with<S, F>(stream: S, config: &Config, callback: F) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> std::result::Result<AcceptOptions, Rejection>,
{
    accept_with_async(stream, config, |req| std::future::ready(callback(req))).await
}

/// Like [`accept_with`], with a callback that may wait before it decides: ask a
/// database, fetch a JWT key set, check a rate limiter. The callback looks at the
/// request and returns a future that owns what it needs (copy the token out first);
/// the `101` or the refusal goes out when the future resolves, all within the
/// handshake timeout.
///
/// ```no_run
/// # async fn demo(tcp: tokio::net::TcpStream) -> wsx::Result<()> {
/// use wsx::{AcceptOptions, Rejection};
/// # async fn lookup(token: Option<String>) -> Option<String> { token }
/// let ws = wsx::accept_with_async(tcp, &wsx::Config::default(), |req| {
///     let token = req.query().and_then(|q| q.strip_prefix("token=")).map(str::to_owned);
///     async move {
///         match lookup(token).await {
///             Some(_user) => Ok(AcceptOptions::new()),
///             None => Err(Rejection::new(401, "unknown token")),
///         }
///     }
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn accept_with_async<S, F, Fut>(stream: S, config: &Config, callback: F) -> Result<WebSocket<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Fut,
    Fut: Future<Output = std::result::Result<AcceptOptions, Rejection>>,
{
    let protocol = Arc::new(config.protocol.clone());
    let (ws, _, _) = tokio::time::timeout(
        config.handshake_timeout,
        server_handshake(stream, &protocol, QueueLimits::of(config), callback),
    )
    .await
    .map_err(|_| Error::Timeout(Timeout::Handshake))??;
    Ok(ws)
}

/// Reads the request, answers it, and wraps the stream.
async fn server_handshake<S, F, Fut>(
    mut stream: S,
    protocol: &Arc<wsx_proto::Config>,
    limits: QueueLimits,
    callback: F,
) -> Result<(WebSocket<S>, Request, http::Extensions)>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Fut,
    Fut: Future<Output = std::result::Result<AcceptOptions, Rejection>>,
{
    let mut buf = BytesMut::with_capacity(1024);
    let (request, used) = loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        match Request::parse(&buf, protocol) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => continue,
            Err(e) => return Err(refuse(&mut stream, ErrorResponse::from_error(&e), e.into()).await),
        }
    };
    if let Err(e) = request.validate() {
        return Err(refuse(&mut stream, ErrorResponse::from_error(&e), e.into()).await);
    }
    let options = match callback(&request).await {
        Ok(o) => o,
        Err(r) => return Err(refuse(&mut stream, r.to_error_response(), r.into()).await),
    };
    let accepted = match request.accept(&options.to_proto(protocol.deflate.as_ref())) {
        Ok(a) => a,
        // Our own callback chose badly (an unoffered subprotocol, a broken header): a 500.
        Err(e) => return Err(refuse(&mut stream, ErrorResponse::from_error(&e), e.into()).await),
    };
    stream.write_all(&accepted.response).await?;
    let mut ws = WebSocket::with_protocol_config(
        stream,
        Role::Server,
        protocol.clone(),
        limits,
        accepted.deflate,
        &buf[used..],
    );
    ws.set_protocol(accepted.protocol);
    Ok((ws, request, options.extensions))
}

async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, response: ErrorResponse, error: Error) -> Error {
    let _ = stream.write_all(&response.encode()).await;
    let _ = stream.shutdown().await;
    error
}

/// The listen backlog [`Server::bind`] asks for.
const LISTEN_BACKLOG: u32 = 4096;

/// The transport of a [`Server`]'s connections.
pub type ServerStream = MaybeTlsStream<TcpStream>;

/// What a [`Server`] handler learns about a connection besides the socket.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Connected {
    /// The handshake request (path, query, headers, Origin).
    pub request: Request,
    /// The peer's address.
    pub peer: SocketAddr,
    /// What the request filter attached with [`AcceptOptions::extension`].
    pub extensions: http::Extensions,
}

type Decision = std::result::Result<AcceptOptions, Rejection>;
type DecisionFuture = Pin<Box<dyn Future<Output = Decision> + Send>>;

/// A server's request filter: sync ones are wrapped in a ready future.
type RequestFilter = Arc<dyn Fn(&Request) -> DecisionFuture + Send + Sync>;

/// How many refusals (HTTP 503 when at `max_connections`) may be in flight at once;
/// beyond that a connection is dropped without an answer, so a flood of connections
/// costs a bounded number of tasks.
const MAX_REFUSALS: usize = 64;

/// A WebSocket server: an accept loop with a connection limit, TLS, a request filter and
/// graceful shutdown (close 1001 to every peer, then a bounded drain).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let server = wsx::Server::bind("127.0.0.1:9002").await?.max_connections(10_000);
/// println!("listening on {}", server.local_addr()?);
/// server
///     .run_until(
///         |mut ws, _info| async move {
///             while let Some(Ok(msg)) = ws.recv().await {
///                 if ws.send(msg).await.is_err() {
///                     break;
///                 }
///             }
///         },
///         async { tokio::signal::ctrl_c().await.ok(); },
///     )
///     .await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    config: Config,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    drain_timeout: Duration,
    filter: Option<RequestFilter>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds a listener, with a listen backlog of 4096: bursts of connections (a
    /// reconnect storm after a deploy) would overflow the usual 128 and wait a second for
    /// SYN retransmits. The kernel caps it at `net.core.somaxconn`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let server = wsx::Server::bind("127.0.0.1:0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        let mut last = None;
        for addr in tokio::net::lookup_host(addr).await? {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            match socket.bind(addr).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
                Ok(listener) => return Ok(Server::from_listener(listener)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
    }

    /// Serves on an existing listener.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let server = wsx::Server::from_listener(listener);
    /// # Ok(()) }
    /// ```
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            config: Config::default(),
            tls: None,
            max_connections: 10_000,
            drain_timeout: Duration::from_secs(5),
            filter: None,
        }
    }

    /// The bound address (useful after binding port 0).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let server = wsx::Server::bind("127.0.0.1:0").await?;
    /// assert_ne!(server.local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Sets the configuration of every connection.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let mut config = wsx::Config::default();
    /// config.protocol.max_message_size = 64 << 10;
    /// let server = wsx::Server::bind("127.0.0.1:0").await?.config(config);
    /// # Ok(()) }
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Serves `wss://` with this TLS configuration.
    ///
    /// ```no_run
    /// # async fn demo() -> wsx::Result<()> {
    /// let tls = wsx::tls::server_config_from_pem("cert.pem".as_ref(), "key.pem".as_ref())?;
    /// let server = wsx::Server::bind("0.0.0.0:443").await?.tls(tls);
    /// # Ok(()) }
    /// ```
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(TlsAcceptor::from(config));
        self
    }

    /// Most connections at once (default 10,000); more are refused with HTTP 503.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let server = wsx::Server::bind("127.0.0.1:0").await?.max_connections(50_000);
    /// # Ok(()) }
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long shutdown waits for connections to finish their close handshake before
    /// dropping them (default 5 s).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let server = wsx::Server::bind("127.0.0.1:0").await?.drain_timeout(std::time::Duration::from_secs(30));
    /// # Ok(()) }
    /// ```
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Inspects each request before accepting it (auth, Origin, path, subprotocol).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// let origins = wsx::OriginPolicy::allow(["https://app.example.com"]);
    /// let server = wsx::Server::bind("127.0.0.1:0").await?.on_request(move |req| {
    ///     origins.check(req)?;
    ///     match req.path() {
    ///         "/ws" => Ok(wsx::AcceptOptions::new()),
    ///         _ => Err(wsx::Rejection::new(404, "not here")),
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn on_request(mut self, filter: impl Fn(&Request) -> Decision + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(move |req| Box::pin(std::future::ready(filter(req)))));
        self
    }

    /// Inspects each request with a callback that may wait (a database, a JWT key set)
    /// before accepting or refusing it; see [`accept_with_async`]. Attach what it learned
    /// with [`AcceptOptions::extension`]; the handler finds it in
    /// [`Connected::extensions`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
    /// #[derive(Clone)]
    /// struct User(String);
    /// let server = wsx::Server::bind("127.0.0.1:0").await?.on_request_async(|req| {
    ///     let name = req.query().and_then(|q| q.strip_prefix("user=")).map(str::to_owned);
    ///     async move {
    ///         // e.g. look the user up in a database here
    ///         let name = name.ok_or_else(|| wsx::Rejection::new(401, "who are you?"))?;
    ///         Ok(wsx::AcceptOptions::new().extension(User(name)))
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn on_request_async<F, Fut>(mut self, filter: F) -> Self
    where
        F: Fn(&Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        self.filter = Some(Arc::new(move |req| Box::pin(filter(req))));
        self
    }

    /// Accepts connections and runs `handler` on each in its own task, for as long as
    /// the returned future is polled. See [`run_until`](Self::run_until) for a graceful
    /// shutdown.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// wsx::Server::bind("127.0.0.1:9002")
    ///     .await?
    ///     .run(|mut ws, _info| async move {
    ///         while let Some(Ok(msg)) = ws.recv().await {
    ///             if ws.send(msg).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn run<H, Fut>(self, handler: H) -> io::Result<()>
    where
        H: Fn(WebSocket<ServerStream>, Connected) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.run_until(handler, std::future::pending()).await
    }

    /// Accepts connections and runs `handler` on each in its own task until `shutdown`
    /// completes; then stops accepting, asks every connection to close with 1001, and
    /// waits up to the drain timeout before dropping what is left. A connection notices
    /// the shutdown in whichever call drives it next ([`WebSocket::recv`], `send`, …; at
    /// once for a [spawned](WebSocket::spawn) one), which sends the close; handlers that
    /// wait on other things should keep a `recv` as a `select!` branch.
    pub async fn run_until<H, Fut>(self, handler: H, shutdown: impl Future<Output = ()>) -> io::Result<()>
    where
        H: Fn(WebSocket<ServerStream>, Connected) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Server {
            listener,
            config,
            tls,
            max_connections,
            drain_timeout,
            filter,
        } = self;
        let handler = Arc::new(handler);
        let protocol = Arc::new(config.protocol.clone());
        let permits = Arc::new(Semaphore::new(max_connections));
        let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        match refusals.clone().try_acquire_owned() {
                            Ok(slot) => {
                                tokio::spawn(async move {
                                    refuse_busy(tcp).await;
                                    drop(slot);
                                });
                            }
                            // Too many refusals in flight already: hang up at once.
                            Err(_) => drop(tcp),
                        }
                        continue;
                    };
                    let conn = Conn {
                        tls: tls.clone(),
                        protocol: protocol.clone(),
                        limits: QueueLimits::of(&config),
                        handshake_timeout: config.handshake_timeout,
                        filter: filter.clone(),
                        stop: stop.clone(),
                    };
                    let handler = handler.clone();
                    // The handshake's state (TLS, buffers, and what it needs: `conn`, `tcp`)
                    // is boxed before the task is spawned, and freed when it completes: a
                    // task keeps room for everything it captures for its whole life, so it
                    // captures a pointer. The session future is built in a statement of its
                    // own for the same reason.
                    let opening = Box::pin(conn.open(tcp, peer));
                    tasks.spawn(async move {
                        let _permit = permit;
                        let session = match opening.await {
                            Ok((ws, info)) => handler(ws, info),
                            Err(e) => {
                                tracing::debug!(%peer, error = %e, "handshake failed");
                                return;
                            }
                        };
                        session.await
                    });
                }
            }
        }
        drop(listener);
        stop.cancel();
        let drained = tokio::time::timeout(drain_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::info!(
                left = tasks.len(),
                "drain timeout: dropping remaining connections"
            );
            tasks.shutdown().await;
        }
        Ok(())
    }
}

/// Everything one connection's task needs from the server.
struct Conn {
    tls: Option<TlsAcceptor>,
    protocol: Arc<wsx_proto::Config>,
    limits: QueueLimits,
    handshake_timeout: Duration,
    filter: Option<RequestFilter>,
    stop: CancellationToken,
}

impl Conn {
    async fn open(self, tcp: TcpStream, peer: SocketAddr) -> Result<(WebSocket<ServerStream>, Connected)> {
        tcp.set_nodelay(true)?;
        let handshake = async {
            let stream = match &self.tls {
                Some(acceptor) => MaybeTlsStream::Tls(Box::new(
                    acceptor
                        .accept(tcp)
                        .await
                        .map_err(|e| Error::tls_io("handshake failed", e))?
                        .into(),
                )),
                None => MaybeTlsStream::Plain(tcp),
            };
            let filter = self.filter.clone();
            server_handshake(stream, &self.protocol, self.limits, |req| match &filter {
                Some(f) => f(req),
                None => Box::pin(std::future::ready(Ok(AcceptOptions::new()))),
            })
            .await
        };
        let (mut ws, request, extensions) = tokio::time::timeout(self.handshake_timeout, handshake)
            .await
            .map_err(|_| Error::Timeout(Timeout::Handshake))??;
        ws.set_shutdown(Box::pin(self.stop.cancelled_owned()));
        Ok((
            ws,
            Connected {
                request,
                peer,
                extensions,
            },
        ))
    }
}

async fn refuse_busy(mut tcp: TcpStream) {
    let response = handshake::http_response(503, &[("Retry-After", "1")], "too many connections");
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(&response).await?;
        tcp.shutdown().await
    })
    .await;
}
