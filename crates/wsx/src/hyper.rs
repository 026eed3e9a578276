//! Serving WebSocket and plain HTTP on one port with hyper 1.x (feature `hyper`).
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::{Request, Response, body::Incoming, service::service_fn};
//!
//! async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
//!     if !wsx::hyper::is_upgrade_request(&req) {
//!         return Ok(Response::new(Full::new(Bytes::from("hello over HTTP"))));
//!     }
//!     match wsx::hyper::upgrade(&mut req, &wsx::Config::default(), wsx::AcceptOptions::new()) {
//!         Ok((response, upgrading)) => {
//!             tokio::spawn(async move {
//!                 let Ok(mut ws) = upgrading.await else { return };
//!                 while let Some(Ok(msg)) = ws.recv().await {
//!                     if ws.send(msg).await.is_err() { break; }
//!                 }
//!             });
//!             Ok(response)
//!         }
//!         Err(e) => Ok(wsx::hyper::error_response(&e)),
//!     }
//! }
//!
//! # async fn serve() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let io = hyper_util::rt::TokioIo::new(tcp);
//!         let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service_fn(handle));
//!         let _ = conn.with_upgrades().await; // upgrades need this
//!     });
//! }
//! # }
//! ```

use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::AcceptOptions;
use crate::websocket::{QueueLimits, WebSocket};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wsx_proto::Role;
use wsx_proto::handshake::{self, ErrorResponse, Headers, Request};

/// The transport of a WebSocket upgraded from hyper.
pub type HyperStream = TokioIo<hyper::upgrade::Upgraded>;

/// The request as wsx-proto sees it: method, target, version and headers.
pub fn to_proto_request<B>(req: &http::Request<B>) -> Request {
    proto_request(req.method(), req.uri(), req.version(), req.headers())
}

pub(crate) fn proto_request(
    method: &http::Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &http::HeaderMap,
) -> Request {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    Request::from_parts(
        method.as_str(),
        target,
        version >= http::Version::HTTP_11,
        Headers::from_pairs(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))),
    )
}

/// Whether the request asks for a WebSocket upgrade (it may still be invalid).
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    let has = |name: http::header::HeaderName, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| handshake::has_token(v, token))
    };
    req.method() == http::Method::GET
        && has(http::header::UPGRADE, "websocket")
        && has(http::header::CONNECTION, "upgrade")
}

/// The `101` response and the WebSocket once hyper hands the connection over, or the
/// handshake error ([`error_response`] turns it into a response).
///
/// Each call copies `config` for the new connection; a server that upgrades many
/// connections with one configuration should build an [`Upgrader`] once instead.
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    config: &Config,
    options: AcceptOptions,
) -> Result<(http::Response<Full<Bytes>>, Upgrading)> {
    Upgrader::new(config).upgrade(req, options)
}

/// Upgrades requests with one configuration that every connection it makes shares,
/// instead of a copy each (some 150 bytes per connection, which counts at 100,000 idle
/// ones). Cheap to clone.
///
/// ```
/// let upgrader = wsx::hyper::Upgrader::new(&wsx::Config::default());
/// let mut req = http::Request::get("/")
///     .header("Host", "example.com")
///     .header("Upgrade", "websocket")
///     .header("Connection", "Upgrade")
///     .header("Sec-WebSocket-Version", "13")
///     .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .body(())
///     .unwrap();
/// let (response, _upgrading) = upgrader.upgrade(&mut req, wsx::AcceptOptions::new()).unwrap();
/// assert_eq!(response.status(), 101);
/// ```
#[derive(Debug, Clone)]
pub struct Upgrader {
    protocol: Arc<wsx_proto::Config>,
    limits: QueueLimits,
}

impl Upgrader {
    /// An upgrader for connections configured by `config`.
    pub fn new(config: &Config) -> Upgrader {
        Upgrader {
            protocol: Arc::new(config.protocol.clone()),
            limits: QueueLimits::of(config),
        }
    }

    /// The `101` response and the WebSocket once hyper hands the connection over, or
    /// the handshake error ([`error_response`] turns it into a response).
    pub fn upgrade<B>(
        &self,
        req: &mut http::Request<B>,
        options: AcceptOptions,
    ) -> Result<(http::Response<Full<Bytes>>, Upgrading)> {
        let proto_req = to_proto_request(req);
        let accepted = proto_req.accept(&options.to_proto(self.protocol.deflate.as_ref()))?;
        let response = switching_protocols(&accepted.headers, Full::new(Bytes::new()));
        let fut = self.upgraded(hyper::upgrade::on(req), accepted);
        Ok((response, Upgrading(Box::pin(fut))))
    }

    /// The WebSocket over a connection hyper hands over once it has sent the `101`.
    pub(crate) fn upgraded(
        &self,
        on_upgrade: hyper::upgrade::OnUpgrade,
        accepted: handshake::Accepted,
    ) -> impl Future<Output = Result<WebSocket<HyperStream>>> + Send + 'static {
        let protocol = self.protocol.clone();
        let limits = self.limits;
        async move {
            let io = on_upgrade
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            let mut ws = WebSocket::with_protocol_config(
                TokioIo::new(io),
                Role::Server,
                protocol,
                limits,
                accepted.deflate,
                &[],
            );
            ws.set_protocol(accepted.protocol);
            Ok(ws)
        }
    }
}

pub(crate) fn switching_protocols<T>(headers: &[(String, String)], body: T) -> http::Response<T> {
    let mut builder = http::Response::builder().status(http::StatusCode::SWITCHING_PROTOCOLS);
    for (n, v) in headers {
        builder = builder.header(n.as_str(), v.as_str());
    }
    // wsx-proto refuses every name that is not a token and every value with a control
    // character, which is exactly what `http` refuses (see the test below).
    builder
        .body(body)
        .expect("header names and values were checked by wsx-proto")
}

/// The HTTP response for a failed upgrade: the status the error names (400, 403, 426, …)
/// with a plain-text reason, and the headers that go with it (see
/// [`ErrorResponse`]); 500 for errors that are not
/// the request's fault, such as an invalid header in the [`AcceptOptions`].
///
/// ```
/// let e = wsx::Error::from(wsx_proto::Error::UnsupportedVersion);
/// let response = wsx::hyper::error_response(&e);
/// assert_eq!(response.status(), 426);
/// assert_eq!(response.headers()["sec-websocket-version"], "13");
/// ```
pub fn error_response(error: &Error) -> http::Response<Full<Bytes>> {
    render(&error.to_response(), |body| Full::new(Bytes::from(body)))
}

/// Copies a refusal into an `http` response with the body type of the caller's stack.
pub(crate) fn render<B>(refusal: &ErrorResponse, body: impl FnOnce(String) -> B) -> http::Response<B> {
    let mut builder = http::Response::builder().status(refusal.status());
    for (n, v) in refusal.headers() {
        builder = builder.header(n, v);
    }
    builder
        .body(body(refusal.body().to_owned()))
        .expect("ErrorResponse keeps its status in 400-599 and checks its headers")
}

/// Resolves to the WebSocket once hyper has sent the `101` and released the connection.
pub struct Upgrading(Pin<Box<dyn Future<Output = Result<WebSocket<HyperStream>>> + Send>>);

impl std::fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upgrading")
    }
}

impl Future for Upgrading {
    type Output = Result<WebSocket<HyperStream>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// The same refusal as [`error_response`], as bytes for servers that write raw.
///
/// ```
/// let e = wsx::Error::from(wsx_proto::Error::MethodNotAllowed);
/// assert!(wsx::hyper::rejection_bytes(&e).starts_with(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"));
/// ```
pub fn rejection_bytes(error: &Error) -> Vec<u8> {
    error.to_response().encode()
}

#[cfg(test)]
mod tests {
    use wsx_proto::handshake::{Accept, Headers, Request};

    /// `switching_protocols` may expect: whatever wsx-proto lets into a `101`, `http` takes.
    #[test]
    fn proto_checks_are_at_least_as_strict_as_http() {
        let request = Request::from_parts(
            "GET",
            "/",
            true,
            Headers::from_pairs([
                ("Host", "h"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ]),
        );
        for b in 0..=255u8 {
            let text = String::from_utf8_lossy(&[b'a', b, b'z']).into_owned();
            if request.accept(&Accept::new().header("X", &text)).is_ok() {
                assert!(http::HeaderValue::from_str(&text).is_ok(), "value byte {b:#x}");
            }
            if request.accept(&Accept::new().header(&text, "1")).is_ok() {
                assert!(
                    http::HeaderName::from_bytes(text.as_bytes()).is_ok(),
                    "name byte {b:#x}"
                );
            }
        }
    }
}
