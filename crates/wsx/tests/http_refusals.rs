//! Refusals through hyper and axum: a server's own bad `AcceptOptions` header (a control
//! character) is an error answered with 500, not a panic in the `http` crate; and the
//! refusals carry the same headers as the raw-socket server's.

#![cfg(feature = "hyper")]

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsx::{AcceptOptions, Config, Error};

const UPGRADE: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Sends `request` and returns the response head (status line and headers, lowercased
/// names) once it is complete.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, Vec<(String, String)>) {
    let run = async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(_) = resp.parse(&buf).unwrap() {
                let headers = resp
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                return (resp.code.unwrap(), headers);
            }
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "the server closed without a response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("a response")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

async fn serve_hyper(options: AcceptOptions) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let options = options.clone();
            let handle = move |mut req: hyper::Request<Incoming>| {
                let options = options.clone();
                async move {
                    let response = match wsx::hyper::upgrade(&mut req, &Config::default(), options) {
                        Ok((response, _upgrading)) => response,
                        Err(e) => {
                            assert!(matches!(e, Error::InvalidInput(_)) || e.is_remote(), "{e:?}");
                            wsx::hyper::error_response(&e)
                        }
                    };
                    Ok::<hyper::Response<Full<Bytes>>, Infallible>(response)
                }
            };
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service_fn(handle))
                    .with_upgrades();
                let _ = conn.await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn hyper_answers_a_bad_accept_header_with_500() {
    let addr = serve_hyper(AcceptOptions::new().header("X-Bad", "a\u{7}b")).await;
    let (status, headers) = exchange(addr, UPGRADE).await;
    assert_eq!(status, 500, "{headers:?}");
    assert!(header(&headers, "x-bad").is_none());
    assert!(header(&headers, "sec-websocket-accept").is_none());
}

#[tokio::test]
async fn hyper_and_raw_refusals_carry_the_same_headers() {
    let addr = serve_hyper(AcceptOptions::new()).await;
    let old_version = String::from_utf8(UPGRADE.to_vec())
        .unwrap()
        .replace("Version: 13", "Version: 8");
    let (status, headers) = exchange(addr, old_version.as_bytes()).await;
    assert_eq!(status, 426);
    assert_eq!(header(&headers, "sec-websocket-version"), Some("13"));
    assert_eq!(header(&headers, "upgrade"), Some("websocket"));
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    let raw = wsx::hyper::rejection_bytes(&Error::from(wsx::proto::Error::UnsupportedVersion));
    let raw = String::from_utf8(raw).unwrap();
    for (name, value) in [
        ("Sec-WebSocket-Version", "13"),
        ("Upgrade", "websocket"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ] {
        assert!(raw.contains(&format!("{name}: {value}\r\n")), "{raw}");
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_answers_a_bad_accept_header_with_500() {
    use axum::Router;
    use axum::response::Response;
    use axum::routing::get;
    use wsx::axum::WebSocketUpgrade;

    async fn ws(upgrade: WebSocketUpgrade) -> Response {
        upgrade
            .options(AcceptOptions::new().header("X-Bad", "a\u{7}b"))
            .on_upgrade(|_ws| async {})
    }
    let app: Router = Router::new().route("/ws", get(ws));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (status, headers) = exchange(addr, UPGRADE).await;
    assert_eq!(status, 500, "{headers:?}");
    assert!(header(&headers, "x-bad").is_none());

    // The extractor's refusals render from the same ErrorResponse.
    let post = String::from_utf8(UPGRADE.to_vec())
        .unwrap()
        .replacen("GET", "POST", 1);
    let (status, _) = exchange(addr, post.as_bytes()).await;
    assert_eq!(status, 405, "axum's router refuses other methods itself");
    let old_version = String::from_utf8(UPGRADE.to_vec())
        .unwrap()
        .replace("Version: 13", "Version: 8");
    let (status, headers) = exchange(addr, old_version.as_bytes()).await;
    assert_eq!(status, 426);
    assert_eq!(header(&headers, "sec-websocket-version"), Some("13"));
    assert_eq!(header(&headers, "upgrade"), Some("websocket"));
}
