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
use wsx_proto::handshake::{self, Headers, Request};

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
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    req.method() == http::Method::GET
        && has(http::header::UPGRADE, "websocket")
        && has(http::header::CONNECTION, "upgrade")
}

/// The `101` response and the WebSocket once hyper hands the connection over, or the
/// handshake error ([`error_response`] turns it into a response).
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    config: &Config,
    options: AcceptOptions,
) -> Result<(http::Response<Full<Bytes>>, Upgrading)> {
    let proto_req = to_proto_request(req);
    let accepted = proto_req.accept(&options.to_proto(config.protocol.deflate.as_ref()))?;
    let response = switching_protocols(&accepted.headers, Full::new(Bytes::new()));
    let fut = upgraded(hyper::upgrade::on(req), config, accepted);
    Ok((response, Upgrading(Box::pin(fut))))
}

/// The WebSocket over a connection hyper hands over once it has sent the `101`.
pub(crate) fn upgraded(
    on_upgrade: hyper::upgrade::OnUpgrade,
    config: &Config,
    accepted: handshake::Accepted,
) -> impl Future<Output = Result<WebSocket<HyperStream>>> + Send + 'static {
    let protocol = Arc::new(config.protocol.clone());
    let limits = QueueLimits::of(config);
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

pub(crate) fn switching_protocols<T>(headers: &[(String, String)], body: T) -> http::Response<T> {
    let mut builder = http::Response::builder().status(http::StatusCode::SWITCHING_PROTOCOLS);
    for (n, v) in headers {
        builder = builder.header(n.as_str(), v.as_str());
    }
    builder
        .body(body)
        .expect("header names and values were checked by wsx-proto")
}

/// The HTTP response for a failed upgrade: the status the error names (400, 403, 426, …)
/// with a plain-text reason, `Sec-WebSocket-Version: 13` on 426.
pub fn error_response(error: &Error) -> http::Response<Full<Bytes>> {
    let (status, reason) = error_status(error);
    let mut builder = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if status == 426 {
        builder = builder
            .header("Sec-WebSocket-Version", "13")
            .header(http::header::UPGRADE, "websocket");
    }
    builder
        .body(Full::new(Bytes::from(format!("{reason}\n"))))
        .expect("static headers")
}

pub(crate) fn error_status(error: &Error) -> (u16, String) {
    match error {
        Error::Protocol(e) => (e.http_status().unwrap_or(500), e.to_string()),
        Error::Rejected { status, reason } => (*status, reason.clone()),
        other => (500, other.to_string()),
    }
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

/// The `handshake` module's plain-text rejection, for servers that write raw bytes.
pub fn rejection_bytes(error: &Error) -> Vec<u8> {
    let (status, reason) = error_status(error);
    handshake::http_response(status, &[], &reason)
}
