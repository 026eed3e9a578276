//! The HTTP server: one port for everything. `/ws` upgrades through wsx's hyper
//! integration; `/sse`, `/poll`, `/emulation`, `/api/*`, `/healthz`, `/metrics` and the
//! static pages are ordinary HTTP/1.1.

// Body reading fails with the response to send; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use crate::hub::Hub;
use crate::{api, connect};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The body of every response.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// A complete body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut body = body.into();
    body.push('\n');
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(body))
        .expect("static headers")
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(value.to_string()))
        .expect("static headers")
}

/// A JSON error: `{"error":{"code":…,"message":…}}`.
pub(crate) fn error(
    status: StatusCode,
    code: crate::ErrorCode,
    message: impl std::fmt::Display,
) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "error": { "code": code.as_str(), "message": message.to_string() } }),
    )
}

/// Serves the hub on `listener` until `shutdown` completes, then shuts down gracefully:
/// no new connections, every session closed (WebSockets with 1001, in paced batches),
/// fallback streams ended, in-flight requests finished — within `shutdown_timeout`.
pub async fn serve(
    hub: Hub,
    listener: TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let tls = tls.map(TlsAcceptor::from);
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    if hub.config().api_key.is_none() {
        tracing::warn!("no api_key: /api/* is open to anyone who can reach this port");
    }
    if hub.0.auth.is_development() {
        tracing::warn!(
            "development auth: clients name themselves with ?user= (set jwt_secret for production)"
        );
    }
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let hub = hub.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            match tls {
                None => serve_connection(hub, TokioIo::new(tcp), peer, stop).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
                    match handshake {
                        Ok(Ok(stream)) => serve_connection(hub, TokioIo::new(stream), peer, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let timeout = Duration::from_secs(hub.config().shutdown_timeout);
    tracing::info!(sessions = hub.sessions(), "shutting down");
    let drained = tokio::time::timeout(timeout, async {
        stop.cancel();
        // Batches sized so that every session is told within about a third of the time.
        let sessions = hub.sessions();
        let pace = Duration::from_millis(50);
        let rounds = (timeout.as_millis() as usize / 3 / 50).max(1);
        hub.shutdown(sessions.div_ceil(rounds).max(100), pace).await;
        tasks.close();
        tasks.wait().await;
        while hub.sessions() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            sessions = hub.sessions(),
            "shutdown timeout: dropping what is left"
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), hub.0.broker.shutdown()).await;
    Ok(())
}

async fn serve_connection<I>(hub: Hub, io: TokioIo<I>, peer: SocketAddr, stop: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let hub = hub.clone();
        async move { Ok::<_, Infallible>(route(&hub, req, peer).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "http connection ended");
            }
        }
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Every endpoint.
async fn route(hub: &Hub, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/ws") => connect::websocket(hub, req, peer),
        (&Method::GET, "/sse") => connect::sse(hub, req).await,
        (&Method::GET, "/poll") => connect::poll(hub, req).await,
        (&Method::POST, "/emulation") => connect::emulation(hub, req).await,
        (&Method::OPTIONS, "/sse" | "/poll" | "/emulation") => connect::preflight(hub, &req),
        (_, p) if p.starts_with("/api/") => api::handle(hub, req).await,
        (&Method::GET, "/healthz") => match hub.health() {
            None => text(StatusCode::OK, "ok"),
            Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
        },
        (&Method::GET, "/metrics") => Response::builder()
            .header(
                http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .body(full(hub.metrics_text()))
            .expect("static headers"),
        (_, "/ws" | "/sse" | "/poll" | "/emulation" | "/healthz" | "/metrics") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        (method, p) => match crate::assets::get(p) {
            Some(asset) if method == Method::GET || method == Method::HEAD => Response::builder()
                .header(http::header::CONTENT_TYPE, asset.content_type)
                // Revalidate on every load: a new binary serves a new client at once.
                .header(http::header::CACHE_CONTROL, "no-cache")
                // hyper sends no body for HEAD, but keeps its Content-Length.
                .body(full(asset.body))
                .expect("static headers"),
            Some(_) => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
    }
}

/// Reads a request body of at most `limit` bytes: `Err` is the response to send (413).
pub(crate) async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, Response<Body>> {
    match http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
    {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            crate::ErrorCode::TooLarge,
            format!("body over {limit} bytes"),
        )),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, crate::ErrorCode::BadRequest, e)),
    }
}

/// A request's query parameters.
pub(crate) fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The first value of query parameter `name`.
pub(crate) fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
