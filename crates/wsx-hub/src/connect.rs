//! Where sessions begin: `GET /ws` (WebSocket), `GET /sse` (an event stream), `GET /poll`
//! (long-polling), and `POST /emulation` (commands for a fallback session). Every path
//! checks the `Origin`, authenticates, and admits the session against the connection
//! limits before anything else.

// Checks fail with the response to send; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use crate::ErrorCode;
use crate::auth::{Identity, origin_allowed};
use crate::broker::{Forwarded, ForwardedReply};
use crate::hub::{Admission, Hub};
use crate::mailbox::Mailbox;
use crate::server::{Body, error, param, query, read_body, text};
use crate::session::fallback::{FallbackHandle, FallbackTransport, Kind, Refused};
use crate::session::websocket::WsTransport;
use crate::session::{Session, Transport, new_sid, node_of};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::value::RawValue;
use std::convert::Infallible;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// Most bytes of events one long-poll response or SSE write carries.
const BATCH_BYTES: usize = 256 << 10;

/// How often an idle SSE stream sends a comment, so that proxies keep it open.
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

/// A session the hub let in.
struct Admitted {
    identity: Identity,
    id: u64,
    mailbox: Arc<Mailbox>,
}

fn origin(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
}

/// Origin, identity, limits: the session may start, or the response that refuses it.
fn admit(hub: &Hub, req: &Request<Incoming>, query: &[(String, String)]) -> Result<Admitted, Response<Body>> {
    let inner = &hub.0;
    if !origin_allowed(&inner.config.allowed_origins, origin(req)) {
        inner.metrics.refuse("origin");
        return Err(error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "origin not allowed",
        ));
    }
    let identity = identify(hub, query)?;
    let mailbox = Mailbox::new(inner.config.outgoing_queue);
    match inner.admit(&identity, &mailbox) {
        Ok(id) => Ok(Admitted {
            identity,
            id,
            mailbox,
        }),
        Err(Admission::TooManyForUser) => {
            inner.metrics.refuse("user_limit");
            Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooLarge,
                format!(
                    "at most {} connections per user",
                    inner.config.max_connections_per_user
                ),
            ))
        }
        Err(Admission::Full) => {
            inner.metrics.refuse("full");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "too many connections",
            ))
        }
        Err(Admission::ShuttingDown) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "shutting down",
        )),
    }
}

fn identify(hub: &Hub, query: &[(String, String)]) -> Result<Identity, Response<Body>> {
    hub.0
        .auth
        .identify(param(query, "user"), param(query, "token"))
        .map_err(|e| {
            hub.0.metrics.refuse("auth");
            error(StatusCode::UNAUTHORIZED, ErrorCode::Forbidden, e)
        })
}

/// `GET /ws?user=…|token=…[&since=…]`: a WebSocket session.
pub(crate) fn websocket(hub: &Hub, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let query = query(&req);
    let Admitted {
        identity,
        id,
        mailbox,
    } = match admit(hub, &req, &query) {
        Ok(a) => a,
        Err(response) => return response,
    };
    let since = param(&query, "since").map(str::to_owned);
    match hub.0.upgrader.upgrade(&mut req, wsx::AcceptOptions::new()) {
        Ok((response, upgrading)) => {
            let inner = hub.0.clone();
            let room = inner.config.outgoing_queue;
            // A task keeps room for everything it captures for its whole life, and an
            // idle connection's memory is mostly its task: it captures one pointer to the
            // boxed upgrade, which hands over the session, and the box is freed then.
            let opening = Box::pin(async move {
                match upgrading.await {
                    Ok(ws) => {
                        let transport = Transport::WebSocket(Box::new(WsTransport::new(ws, room)));
                        let sid = new_sid(&inner.node);
                        let session = Session::new(inner, id, sid, identity, mailbox, transport);
                        Some((session, since))
                    }
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "upgrade failed");
                        inner.leave(id);
                        None
                    }
                }
            });
            tokio::spawn(async move {
                if let Some((session, since)) = opening.await {
                    session.run(since).await;
                }
            });
            response.map(BodyExt::boxed)
        }
        Err(e) => {
            hub.0.leave(id);
            hub.0.metrics.refuse("handshake");
            wsx::hyper::error_response(&e).map(BodyExt::boxed)
        }
    }
}

/// Starts a fallback session; its handle.
fn start_fallback(hub: &Hub, admitted: Admitted, kind: Kind, since: Option<String>) -> Arc<FallbackHandle> {
    let Admitted {
        identity,
        id,
        mailbox,
    } = admitted;
    let sid = new_sid(&hub.0.node);
    let (transport, handle) = FallbackTransport::new(hub.0.clone(), kind, identity.user.clone(), sid.clone());
    let session = Session::new(
        hub.0.clone(),
        id,
        sid,
        identity,
        mailbox,
        Transport::Fallback(transport),
    );
    tokio::spawn(session.run(since));
    handle
}

/// Adds CORS headers for an allowed cross-origin browser request.
fn cors(hub: &Hub, origin: Option<&str>, mut response: Response<Body>) -> Response<Body> {
    let allowed = &hub.0.config.allowed_origins;
    if let Some(origin) = origin
        && !allowed.is_empty()
        && origin_allowed(allowed, Some(origin))
        && let Ok(value) = HeaderValue::from_str(origin)
    {
        let h = response.headers_mut();
        h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        h.insert(http::header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("X-Wsx-Session, X-Wsx-Cursor"),
        );
    }
    response
}

/// `OPTIONS` for the fallback endpoints: a CORS preflight.
pub(crate) fn preflight(hub: &Hub, req: &Request<Incoming>) -> Response<Body> {
    let mut response = cors(hub, origin(req), text(StatusCode::NO_CONTENT, ""));
    let h = response.headers_mut();
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Last-Event-ID"),
    );
    h.insert(
        http::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

// ---- SSE -----------------------------------------------------------------------------------

/// `GET /sse?user=…|token=…[&since=…]`: a `text/event-stream` of the session's events,
/// each one `data:` line with an `id:` that `Last-Event-ID` resumes from.
pub(crate) async fn sse(hub: &Hub, req: Request<Incoming>) -> Response<Body> {
    let query = query(&req);
    let origin = origin(&req).map(str::to_owned);
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit_once(':'))
        .and_then(|(sid, n)| Some((sid.to_owned(), n.parse::<u64>().ok()?)));
    if let Some((sid, after)) = resume
        && let Some(handle) = hub.0.fallback(&sid)
        && handle.kind == Kind::Sse
        && handle.resumable(after)
    {
        // The same identity must come back: the session id alone is not a credential.
        let identity = match identify(hub, &query) {
            Ok(i) => i,
            Err(response) => return response,
        };
        if identity.user == handle.user {
            return cors(hub, origin.as_deref(), sse_response(handle, after));
        }
    }
    let admitted = match admit(hub, &req, &query) {
        Ok(a) => a,
        Err(response) => return cors(hub, origin.as_deref(), response),
    };
    let since = param(&query, "since").map(str::to_owned);
    let handle = start_fallback(hub, admitted, Kind::Sse, since);
    cors(hub, origin.as_deref(), sse_response(handle, 0))
}

fn sse_response(handle: Arc<FallbackHandle>, after: u64) -> Response<Body> {
    handle.attach();
    let body = SseBody {
        handle,
        after,
        keepalive: Box::pin(tokio::time::sleep(SSE_KEEPALIVE)),
    };
    Response::builder()
        .header(http::header::CONTENT_TYPE, "text/event-stream")
        .header(http::header::CACHE_CONTROL, "no-cache")
        // nginx would otherwise buffer the stream.
        .header("x-accel-buffering", "no")
        .body(body.boxed())
        .expect("static headers")
}

struct SseBody {
    handle: Arc<FallbackHandle>,
    after: u64,
    keepalive: Pin<Box<Sleep>>,
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        match this.handle.poll_events(cx, this.after, BATCH_BYTES) {
            Poll::Ready((events, None)) => {
                let mut out = String::new();
                for (n, event) in &events {
                    // One `data:` line per event: event JSON never holds a raw newline.
                    out.push_str("id: ");
                    out.push_str(&this.handle.sid);
                    out.push(':');
                    out.push_str(&n.to_string());
                    out.push_str("\ndata: ");
                    out.push_str(&String::from_utf8_lossy(event));
                    out.push_str("\n\n");
                }
                if let Some((last, _)) = events.last() {
                    this.after = *last;
                    this.handle.taken(*last);
                }
                let next = tokio::time::Instant::now() + SSE_KEEPALIVE;
                this.keepalive.as_mut().reset(next);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
            }
            Poll::Ready((_, Some(_))) => Poll::Ready(None),
            Poll::Pending => {
                if this.keepalive.as_mut().poll(cx).is_ready() {
                    let next = tokio::time::Instant::now() + SSE_KEEPALIVE;
                    this.keepalive.as_mut().reset(next);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b": keepalive\n\n")))));
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        self.handle.detach();
    }
}

// ---- long-polling ------------------------------------------------------------------------------

/// `GET /poll?user=…|token=…` starts a session and answers at once with its first events
/// (`welcome` first); `GET /poll?session=S[&cursor=N]` answers with the events after
/// the last response (or after event `N`), holding the request up to `poll_timeout`
/// while there are none. The `X-Wsx-Cursor` header is the number of the last event
/// sent: a client that lost a response asks again with its previous cursor.
pub(crate) async fn poll(hub: &Hub, req: Request<Incoming>) -> Response<Body> {
    let query = query(&req);
    let origin = origin(&req).map(str::to_owned);
    let response = match param(&query, "session") {
        Some(sid) if hub.0.fallback(sid).is_none() && elsewhere(hub, sid) => {
            let request = Forwarded::Poll {
                sid: sid.to_owned(),
                query: req.uri().query().unwrap_or("").to_owned(),
            };
            forward(hub, sid, request).await
        }
        Some(sid) => poll_session(hub, sid, &query).await,
        None => match admit(hub, &req, &query) {
            Ok(admitted) => {
                let since = param(&query, "since").map(str::to_owned);
                let handle = start_fallback(hub, admitted, Kind::Poll, since);
                // The welcome is queued at once; a short wait takes the replay with it.
                events_response(&handle, 0, Duration::from_secs(5)).await
            }
            Err(response) => response,
        },
    };
    cors(hub, origin.as_deref(), response)
}

async fn poll_session(hub: &Hub, sid: &str, query: &[(String, String)]) -> Response<Body> {
    let Some(handle) = hub.0.fallback(sid).filter(|h| h.kind == Kind::Poll) else {
        return unknown_session();
    };
    let after = match param(query, "cursor").map(str::parse::<u64>) {
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "cursor must be a number",
            );
        }
        None => handle.sent(),
    };
    handle.taken(after);
    events_response(&handle, after, Duration::from_secs(hub.0.config.poll_timeout)).await
}

/// Waits up to `wait` for events after `after`, and answers them as a JSON array.
async fn events_response(handle: &Arc<FallbackHandle>, after: u64, wait: Duration) -> Response<Body> {
    handle.attach();
    let got = tokio::time::timeout(wait, poll_fn(|cx| handle.poll_events(cx, after, BATCH_BYTES))).await;
    handle.detach();
    let (events, ended) = got.unwrap_or_default();
    if events.is_empty() && ended.is_some() {
        return error(StatusCode::NOT_FOUND, ErrorCode::BadRequest, "session ended");
    }
    let last = events.last().map_or(after, |(n, _)| *n);
    handle.set_sent(last);
    let mut body = Vec::with_capacity(events.iter().map(|(_, e)| e.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, (_, e)) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(e);
    }
    body.push(b']');
    Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-store")
        .header("x-wsx-session", &*handle.sid)
        .header("x-wsx-cursor", last.to_string())
        .body(crate::server::full(body))
        .expect("valid headers")
}

// ---- emulation -------------------------------------------------------------------------------

/// `POST /emulation?session=S`: one command object or an array of them, applied in order;
/// answered 202, the acks and errors arriving on the session's stream.
pub(crate) async fn emulation(hub: &Hub, req: Request<Incoming>) -> Response<Body> {
    let query = query(&req);
    let origin = origin(&req).map(str::to_owned);
    let response = 'r: {
        let Some(sid) = param(&query, "session").map(str::to_owned) else {
            break 'r error(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "missing ?session=",
            );
        };
        let local = hub.0.fallback(&sid);
        if local.is_none() && !elsewhere(hub, &sid) {
            break 'r unknown_session();
        }
        let body = match read_body(req, hub.0.config.max_message_size).await {
            Ok(b) => b,
            Err(response) => break 'r response,
        };
        match local {
            Some(handle) => apply_commands(&handle, &body),
            None => {
                let body = String::from_utf8_lossy(&body).into_owned();
                forward(hub, &sid.clone(), Forwarded::Emulation { sid, body }).await
            }
        }
    };
    cors(hub, origin.as_deref(), response)
}

fn unknown_session() -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        ErrorCode::BadRequest,
        "unknown or expired session",
    )
}

/// Hands a body of commands to a local fallback session.
fn apply_commands(handle: &FallbackHandle, body: &[u8]) -> Response<Body> {
    let commands = match split_commands(body) {
        Ok(c) => c,
        Err(why) => return error(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, why),
    };
    match handle.command(commands) {
        Ok(()) => text(StatusCode::ACCEPTED, "accepted"),
        Err(Refused::Busy) => error(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many commands waiting for this session",
        ),
        Err(Refused::Gone) => error(StatusCode::NOT_FOUND, ErrorCode::BadRequest, "session ended"),
    }
}

// ---- across nodes ------------------------------------------------------------------------

/// Whether `sid` names another node (then a request for it is forwarded there).
fn elsewhere(hub: &Hub, sid: &str) -> bool {
    node_of(sid).is_some_and(|node| node != &*hub.0.node)
}

/// Forwards a request for a session on another node and answers with its reply.
async fn forward(hub: &Hub, sid: &str, request: Forwarded) -> Response<Body> {
    let node = node_of(sid).unwrap_or_default();
    match hub.0.broker.forward(node, request).await {
        Ok(Some(reply)) => {
            let mut response = Response::builder().status(reply.status);
            for (name, value) in &reply.headers {
                response = response.header(name, value);
            }
            response
                .body(crate::server::full(reply.body))
                .unwrap_or_else(|_| {
                    error(
                        StatusCode::BAD_GATEWAY,
                        ErrorCode::Unavailable,
                        "bad forwarded reply",
                    )
                })
        }
        // No node listens under that id: it is gone, and so is the session.
        Ok(None) => unknown_session(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            e.to_string(),
        ),
    }
}

/// Answers a request another node forwarded for a session held here.
pub(crate) async fn forwarded(hub: &Hub, request: Forwarded) -> ForwardedReply {
    let response = match request {
        Forwarded::Poll { sid, query } => {
            let query: Vec<(String, String)> =
                form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            poll_session(hub, &sid, &query).await
        }
        Forwarded::Emulation { sid, body } => match hub.0.fallback(&sid) {
            Some(handle) => apply_commands(&handle, body.as_bytes()),
            None => unknown_session(),
        },
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = match response.into_body().collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(never) => match never {},
    };
    ForwardedReply {
        status,
        headers,
        body,
    }
}

/// A body of one JSON value, or an array of them: each element's text.
fn split_commands(body: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    if text.trim_start().starts_with('[') {
        let items: Vec<Box<RawValue>> = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Ok(items.into_iter().map(|c| c.get().to_owned()).collect())
    } else {
        let one: Box<RawValue> = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        Ok(vec![one.get().to_owned()])
    }
}
