//! Opening a connection: `ws://` and `wss://` URLs, TLS, proxies, the client handshake.

use crate::config::Config;
use crate::error::Timeout;
use crate::error::{Error, Result};
use crate::proxy::Proxy;
use crate::tls::MaybeTlsStream;
use crate::websocket::WebSocket;
use bytes::BytesMut;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use wsx_proto::handshake::{ClientRequest, Response};
use wsx_proto::{DeflateConfig, Role};

/// What [`connect`] returns: a WebSocket over TCP, with or without TLS.
pub type ClientStream = MaybeTlsStream<TcpStream>;

/// Connects to a `ws://` or `wss://` URL with the default configuration
/// (permessage-deflate offered, keepalive on, proxies from the environment).
///
/// ```no_run
/// # async fn demo() -> wsx::Result<()> {
/// let mut ws = wsx::connect("wss://echo.example.com/chat").await?;
/// ws.send("hi").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<WebSocket<ClientStream>> {
    ClientBuilder::new(url).connect().await
}

/// The parts of a WebSocket URL (RFC 6455 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// For TCP and TLS: a name, or an IP literal without brackets.
    host: String,
    port: u16,
    /// The `Host` header: the host (IPv6 in brackets), and the port if not the default.
    authority: String,
    /// Path and query.
    resource: String,
}

impl Target {
    /// Parses with the WHATWG URL parser, then applies RFC 6455 §3's rules: `ws` or `wss`
    /// (`http`/`https` taken as the same), no credentials, and the fragment dropped
    /// ("fragment identifiers are meaningless in the context of WebSocket URIs").
    fn parse(input: &str) -> Result<Target> {
        // The WHATWG parser silently deletes tabs and newlines inside a URL, which would
        // turn a smuggled `\r\nHeader: x` into part of the path instead of an error.
        if input.chars().any(|c| c.is_ascii_control()) {
            return Err(Error::url("it contains a control character"));
        }
        let url = url::Url::parse(input).map_err(|e| Error::Url {
            reason: "cannot parse it".into(),
            source: Some(Box::new(e)),
        })?;
        let tls = match url.scheme() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            other => return Err(Error::url(format!("the scheme must be ws or wss, not {other}"))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::url(
                "credentials in the URL are not supported; send a header",
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(Error::url("it has no host")),
        };
        let default_port = if tls { 443 } else { 80 };
        // The parser knows ws's and http's default ports alike and drops an explicit one.
        let port = url.port().unwrap_or(default_port);
        let host_str = url.host_str().expect("a host was found above");
        let authority = match url.port() {
            Some(p) if p != default_port => format!("{host_str}:{p}"),
            _ => host_str.to_owned(),
        };
        let resource = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Ok(Target {
            tls,
            host,
            port,
            authority,
            resource,
        })
    }
}

#[derive(Debug, Clone)]
enum ProxySetting {
    FromEnv,
    Direct,
    Explicit(Proxy),
}

/// Builds a client connection: headers, subprotocols, compression, timeouts, TLS, proxy.
///
/// ```no_run
/// # async fn demo() -> wsx::Result<()> {
/// use std::time::Duration;
/// let ws = wsx::ClientBuilder::new("wss://example.com/feed")
///     .header("Authorization", "Bearer token")
///     .protocol("v2.feed")
///     .compression(None)
///     .connect_timeout(Duration::from_secs(3))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    config: Config,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    origin: Option<String>,
    tls: Option<Arc<ClientConfig>>,
    proxy: ProxySetting,
}

impl ClientBuilder {
    /// A builder for `url` (`ws://` or `wss://`; `http://` and `https://` mean the same).
    /// The URL is parsed when connecting: one that does not parse, has another scheme,
    /// carries credentials or contains a control character is an [`Error::Url`]. A
    /// fragment is dropped (RFC 6455 §3).
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed");
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        ClientBuilder {
            url: url.into(),
            config: Config::default(),
            headers: Vec::new(),
            protocols: Vec::new(),
            origin: None,
            tls: None,
            proxy: ProxySetting::FromEnv,
        }
    }

    /// Replaces the whole configuration.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").config(wsx::Config::default());
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Adds a request header. The name must be an HTTP token and the value free of
    /// control characters (CR, LF, NUL, …; HTAB is fine): otherwise [`connect`](Self::connect)
    /// fails with [`Error::InvalidInput`] before it opens a connection.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").header("Authorization", "Bearer t0ken");
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offers a subprotocol (call again to offer more, most preferred first). It must be
    /// an HTTP token (RFC 6455 §4.1), or [`connect`](Self::connect) fails with
    /// [`Error::InvalidInput`] before it opens a connection.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").protocol("v2.feed").protocol("v1.feed");
    /// ```
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Sends an `Origin` header, as a browser would; one with a control character makes
    /// [`connect`](Self::connect) fail with [`Error::InvalidInput`].
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").origin("https://app.example.com");
    /// ```
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// permessage-deflate to offer, or `None` to not offer it.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").compression(None);
    /// ```
    pub fn compression(mut self, deflate: Option<DeflateConfig>) -> Self {
        self.config.protocol.deflate = deflate;
        self
    }

    /// Time for TCP connect, proxy tunnel and TLS handshake.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").connect_timeout(std::time::Duration::from_secs(3));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Time for the WebSocket opening handshake.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").handshake_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// TLS configuration for `wss://` (default: [`crate::tls::default_client_config`]).
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").tls_config(wsx::tls::default_client_config());
    /// ```
    pub fn tls_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Tunnels through this proxy instead of the environment's.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").proxy(wsx::Proxy::parse("socks5://127.0.0.1:1080").unwrap());
    /// ```
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxySetting::Explicit(proxy);
        self
    }

    /// Connects directly, ignoring proxy environment variables.
    ///
    /// ```
    /// let builder = wsx::ClientBuilder::new("wss://example.com/feed").no_proxy();
    /// ```
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::Direct;
        self
    }

    /// Connects: TCP (through the proxy, if any), TLS for `wss://`, then the handshake.
    ///
    /// ```no_run
    /// # async fn demo() -> wsx::Result<()> {
    /// let ws = wsx::ClientBuilder::new("ws://127.0.0.1:9002/").connect().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<WebSocket<ClientStream>> {
        Ok(self.connect_with_response().await?.0)
    }

    /// Like [`connect`](Self::connect), and also returns the server's `101` response, for
    /// its headers (a `Set-Cookie`, a server-chosen session id).
    ///
    /// ```no_run
    /// # async fn demo() -> wsx::Result<()> {
    /// let (ws, response) = wsx::ClientBuilder::new("ws://127.0.0.1:9002/").connect_with_response().await?;
    /// println!("{:?}", response.headers.get("set-cookie"));
    /// # Ok(()) }
    /// ```
    pub async fn connect_with_response(self) -> Result<(WebSocket<ClientStream>, Response)> {
        let target = Target::parse(&self.url)?;
        // Before connecting: a value that cannot be sent fails without touching the network.
        let (request, wire) = self.request(&target)?;
        let proxy = match &self.proxy {
            ProxySetting::FromEnv => Proxy::from_env(target.tls, &target.host),
            ProxySetting::Direct => None,
            ProxySetting::Explicit(p) => Some(p.clone()),
        };
        let transport = async {
            let (host, port) = proxy
                .as_ref()
                .map_or((target.host.as_str(), target.port), Proxy::address);
            let mut tcp = match TcpStream::connect((host, port)).await {
                Ok(tcp) => tcp,
                Err(e) if proxy.is_some() => return Err(Proxy::failed(host, port, "cannot connect", e)),
                Err(e) => return Err(e.into()),
            };
            tcp.set_nodelay(true)?;
            if let Some(proxy) = &proxy {
                proxy.tunnel(&mut tcp, &target.host, target.port).await?;
            }
            if !target.tls {
                return Ok(MaybeTlsStream::Plain(tcp));
            }
            let config = self.tls.clone().unwrap_or_else(crate::tls::default_client_config);
            let name = ServerName::try_from(target.host.clone()).map_err(|e| Error::Url {
                reason: format!("{:?} is not a name TLS can verify", target.host),
                source: Some(Box::new(e)),
            })?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| Error::tls_io(format!("handshake with {} failed", target.host), e))?;
            Ok::<_, Error>(MaybeTlsStream::Tls(Box::new(tls.into())))
        };
        let stream = tokio::time::timeout(self.config.connect_timeout, transport)
            .await
            .map_err(|_| Error::Timeout(Timeout::Connect))??;
        self.handshake(stream, request, wire).await
    }

    /// Runs the opening handshake over a transport you connected yourself (a Unix socket,
    /// an in-memory pipe); the URL still supplies `Host` and the path.
    ///
    /// ```no_run
    /// # async fn demo() -> wsx::Result<()> {
    /// let unix = tokio::net::UnixStream::connect("/run/app.sock").await?;
    /// let ws = wsx::ClientBuilder::new("ws://localhost/socket").connect_on(unix).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_on<S: AsyncRead + AsyncWrite + Unpin>(self, stream: S) -> Result<WebSocket<S>> {
        let target = Target::parse(&self.url)?;
        let (request, wire) = self.request(&target)?;
        Ok(self.handshake(stream, request, wire).await?.0)
    }

    /// The request and its bytes. Encoding checks every value (host, path, Origin,
    /// subprotocols, headers), so a bad one is the caller's error before any I/O.
    fn request(&self, target: &Target) -> Result<(ClientRequest, Vec<u8>)> {
        let mut request = ClientRequest::new(&target.authority, &target.resource)
            .deflate(self.config.protocol.deflate.clone());
        for p in &self.protocols {
            request = request.protocol(p);
        }
        if let Some(o) = &self.origin {
            request = request.origin(o);
        }
        for (n, v) in &self.headers {
            request = request.header(n, v);
        }
        let wire = request.encode()?;
        Ok((request, wire))
    }

    async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut stream: S,
        request: ClientRequest,
        wire: Vec<u8>,
    ) -> Result<(WebSocket<S>, Response)> {
        let exchange = async {
            stream.write_all(&wire).await?;
            let mut buf = BytesMut::with_capacity(1024);
            loop {
                if stream.read_buf(&mut buf).await? == 0 {
                    return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
                match request.parse_response(&buf, &self.config.protocol) {
                    Ok(Some(resp)) => {
                        let mut ws = WebSocket::from_raw(
                            stream,
                            Role::Client,
                            &self.config,
                            resp.deflate,
                            &buf[resp.consumed..],
                        );
                        ws.set_protocol(resp.protocol.clone());
                        return Ok((ws, resp));
                    }
                    Ok(None) => continue,
                    Err(wsx_proto::Error::UnexpectedStatus(status)) => {
                        // The body may follow the head in later segments: wait for the
                        // excerpt's worth of it, briefly, so the error says why.
                        let more = async {
                            while body_of(&buf).len() < EXCERPT
                                && stream.read_buf(&mut buf).await.is_ok_and(|n| n > 0)
                            {
                            }
                        };
                        let _ = tokio::time::timeout(REFUSAL_BODY_WAIT, more).await;
                        return Err(Error::Rejected {
                            status,
                            reason: response_body_excerpt(&buf),
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        tokio::time::timeout(self.config.handshake_timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(Timeout::Handshake))?
    }
}

/// How much of a refusal's body goes into the error message.
const EXCERPT: usize = 200;
/// How long to wait for that much of it after the head.
const REFUSAL_BODY_WAIT: Duration = Duration::from_millis(500);

fn body_of(buf: &[u8]) -> &[u8] {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |i| &buf[i + 4..])
}

/// The start of a refusal's body, for the error message.
fn response_body_excerpt(buf: &[u8]) -> String {
    let body = body_of(buf);
    String::from_utf8_lossy(&body[..body.len().min(EXCERPT)])
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(e: Error) -> String {
        match e {
            Error::Url { reason, .. } => reason,
            e => panic!("not a URL error: {e:?}"),
        }
    }

    #[test]
    fn parses_urls() {
        let t = Target::parse("wss://example.com/chat?room=1#frag").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.resource.as_str()),
            (true, "example.com", 443, "/chat?room=1")
        );
        assert_eq!(t.authority, "example.com");
        let t = Target::parse("ws://[::1]:9000?x").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.resource.as_str()),
            ("::1", 9000, "/?x")
        );
        assert_eq!(t.authority, "[::1]:9000");
        assert_eq!(Target::parse("ws://h").unwrap().resource, "/");
        let t = Target::parse("https://EXAMPLE.com:443/a b").unwrap();
        assert_eq!(
            (t.tls, t.authority.as_str(), t.resource.as_str()),
            (true, "example.com", "/a%20b")
        );
        let t = Target::parse("http://h:8080/").unwrap();
        assert_eq!((t.tls, t.port, t.authority.as_str()), (false, 8080, "h:8080"));
        assert_eq!(
            Target::parse("ws://127.0.0.1:80/").unwrap().authority,
            "127.0.0.1"
        );
    }

    #[test]
    fn refuses_unusable_urls() {
        assert!(reason(Target::parse("ftp://h").unwrap_err()).contains("scheme"));
        assert!(reason(Target::parse("ws://user:pw@h").unwrap_err()).contains("credentials"));
        assert!(reason(Target::parse("ws://user@h").unwrap_err()).contains("credentials"));
        assert!(reason(Target::parse("ws://h/a\r\nX-Injected: 1").unwrap_err()).contains("control"));
        assert!(reason(Target::parse("ws://h/a\tb").unwrap_err()).contains("control"));
        assert!(reason(Target::parse("h:80").unwrap_err()).contains("scheme"));
        let e = Target::parse("not a url").unwrap_err();
        let source = std::error::Error::source(&e).expect("the parser's error");
        assert!(source.downcast_ref::<url::ParseError>().is_some(), "{source:?}");
        assert!(matches!(
            Target::parse("ws://[::1/").unwrap_err(),
            Error::Url { source: Some(_), .. }
        ));
    }
}
