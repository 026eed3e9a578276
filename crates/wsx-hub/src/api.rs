//! The HTTP API for server-side code: publish, send, presence, history, disconnect.
//! With an `api_key`, every request needs `Authorization: Bearer KEY`.

// Handlers fail with the response to send; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use crate::ErrorCode;
use crate::hub::Hub;
use crate::offset::Offset;
use crate::protocol::{self, check_channel, check_user};
use crate::server::{Body, error, json, param, query, read_body};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct PublishBody {
    channel: String,
    data: Option<Box<RawValue>>,
    idempotency_key: Option<String>,
}

#[derive(Deserialize)]
struct SendBody {
    to: Vec<String>,
    data: Option<Box<RawValue>>,
    idempotency_key: Option<String>,
}

#[derive(Deserialize)]
struct DisconnectBody {
    user: String,
}

/// Longest idempotency key.
const MAX_KEY_LEN: usize = 256;

fn null() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

fn bad(message: impl std::fmt::Display) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
}

fn unavailable(e: impl std::fmt::Display) -> Response<Body> {
    error(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, e)
}

/// Compares in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(hub: &Hub, req: &Request<Incoming>) -> bool {
    let Some(key) = &hub.config().api_key else {
        return true;
    };
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), key.as_bytes()))
}

/// A channel name from the rest of a path (`/api/presence/` + name), percent-decoded.
fn channel_from_path(rest: &str) -> Result<String, Response<Body>> {
    let name = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| bad("channel name is not UTF-8"))?
        .into_owned();
    check_channel(&name).map_err(bad)?;
    Ok(name)
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Response<Body>> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid body: {e}")))
}

fn check_key(key: &Option<String>) -> Result<(), Response<Body>> {
    match key {
        Some(k) if k.is_empty() || k.len() > MAX_KEY_LEN => {
            Err(bad(format!("idempotency_key must be 1 to {MAX_KEY_LEN} bytes")))
        }
        _ => Ok(()),
    }
}

/// Every `/api/*` request.
pub(crate) async fn handle(hub: &Hub, req: Request<Incoming>) -> Response<Body> {
    if !authorized(hub, &req) {
        hub.0.metrics.refuse("api_key");
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden,
            "missing or wrong Authorization: Bearer KEY",
        );
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    let path = req.uri().path().to_owned();
    let limit = hub.config().max_message_size;
    let result = match (req.method().clone(), path.as_str()) {
        (Method::POST, "/api/publish") => publish(hub, req, limit).await,
        (Method::POST, "/api/send") => send(hub, req, limit).await,
        (Method::POST, "/api/disconnect") => disconnect(hub, req).await,
        (Method::GET, p) if p.starts_with("/api/presence/") => {
            presence(hub, &p["/api/presence/".len()..]).await
        }
        (Method::GET, p) if p.starts_with("/api/history/") => {
            let query = query(&req);
            history(hub, &p["/api/history/".len()..], param(&query, "since")).await
        }
        (_, "/api/publish" | "/api/send" | "/api/disconnect") => Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadRequest,
            "use POST",
        )),
        _ => Err(error(
            StatusCode::NOT_FOUND,
            ErrorCode::BadRequest,
            "no such endpoint",
        )),
    };
    result.unwrap_or_else(|response| response)
}

async fn publish(hub: &Hub, req: Request<Incoming>, limit: usize) -> Result<Response<Body>, Response<Body>> {
    let body = read_body(req, limit).await?;
    let PublishBody {
        channel,
        data,
        idempotency_key,
    } = parse(&body)?;
    check_channel(&channel).map_err(bad)?;
    check_key(&idempotency_key)?;
    let data = data.map_or_else(null, protocol::compact);
    let published = hub
        .publish(&channel, None, data, idempotency_key.as_deref())
        .await
        .map_err(unavailable)?;
    Ok(json(
        StatusCode::OK,
        &json!({ "offset": published.publication.offset, "duplicate": published.duplicate }),
    ))
}

async fn send(hub: &Hub, req: Request<Incoming>, limit: usize) -> Result<Response<Body>, Response<Body>> {
    let body = read_body(req, limit).await?;
    let SendBody {
        to,
        data,
        idempotency_key,
    } = parse(&body)?;
    if to.is_empty() {
        return Err(bad("\"to\" lists nobody"));
    }
    let max = hub.config().max_recipients;
    if to.len() > max {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("\"to\" lists {} users; at most {max}", to.len()),
        ));
    }
    if let Some(why) = to.iter().find_map(|u| check_user(u).err()) {
        return Err(bad(why));
    }
    check_key(&idempotency_key)?;
    let data = data.map_or_else(null, protocol::compact);
    let offsets = hub
        .send(&to, None, &data, idempotency_key.as_deref())
        .await
        .map_err(unavailable)?;
    Ok(json(StatusCode::OK, &json!({ "offsets": offsets })))
}

async fn disconnect(hub: &Hub, req: Request<Incoming>) -> Result<Response<Body>, Response<Body>> {
    let body = read_body(req, 64 << 10).await?;
    let DisconnectBody { user } = parse(&body)?;
    check_user(&user).map_err(bad)?;
    let n = hub.disconnect(&user).await.map_err(unavailable)?;
    Ok(json(StatusCode::OK, &json!({ "user": user, "disconnected": n })))
}

async fn presence(hub: &Hub, rest: &str) -> Result<Response<Body>, Response<Body>> {
    let channel = channel_from_path(rest)?;
    let users = hub.presence(&channel).await.map_err(unavailable)?;
    Ok(json(
        StatusCode::OK,
        &json!({ "channel": channel, "users": users }),
    ))
}

async fn history(hub: &Hub, rest: &str, since: Option<&str>) -> Result<Response<Body>, Response<Body>> {
    let channel = channel_from_path(rest)?;
    let since = match since {
        None => None,
        Some(s) => Some(s.parse::<Offset>().map_err(bad)?),
    };
    let replay = hub.history(&channel, since).await.map_err(unavailable)?;
    // The messages are the events exactly as subscribers got them.
    let mut out = String::from("{\"channel\":");
    out.push_str(&serde_json::to_string(&channel).expect("a string serializes"));
    out.push_str(",\"offset\":\"");
    out.push_str(&replay.latest.to_string());
    out.push('"');
    if let Some(gap) = replay.gap {
        out.push_str(&format!(
            ",\"gap\":{{\"reason\":\"{}\",\"offset\":\"{}\"}}",
            gap.reason.as_str(),
            gap.resume
        ));
    }
    out.push_str(",\"messages\":[");
    for (i, (_, p)) in replay.messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(p.json());
    }
    out.push_str("]}");
    Ok(Response::builder()
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(crate::server::full(out))
        .expect("static headers"))
}
