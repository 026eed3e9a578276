//! WebSocket next to plain HTTP on one port: hyper 1.x through `wsx::hyper` (feature
//! `hyper`), and an axum router through `wsx::axum::WebSocketUpgrade` (feature `axum`).

#![cfg(feature = "hyper")]

use wsx_test_support as support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use support::{echo, http_exchange, listen, upgrade_request, within};
use tokio::net::TcpStream;
use wsx::{AcceptOptions, Config, Message};

/// Plain HTTP for everything but upgrade requests, which become echo WebSockets offering
/// the subprotocol `echo.v1`.
async fn handle(mut req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    if !wsx::hyper::is_upgrade_request(&req) {
        let body = format!("plain HTTP: {} {}", req.method(), req.uri().path());
        return Ok(hyper::Response::new(Full::new(Bytes::from(body))));
    }
    let mut options = AcceptOptions::new();
    if let Some(p) = wsx::hyper::to_proto_request(&req).select_protocol(&["echo.v1"]) {
        options = options.protocol(p);
    }
    match wsx::hyper::upgrade(&mut req, &Config::default(), options) {
        Ok((response, upgrading)) => {
            tokio::spawn(async move {
                let mut ws = upgrading.await.expect("upgrade");
                let _ = echo(&mut ws).await;
            });
            Ok(response)
        }
        Err(e) => Ok(wsx::hyper::error_response(&e)),
    }
}

async fn serve_hyper() -> SocketAddr {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
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

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn hyper_serves_http_and_websocket_on_one_port() {
    let addr = serve_hyper().await;

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let page = within("GET", http_exchange(&mut tcp, &get_request("/index.html"))).await;
    assert_eq!(
        (page.status, page.text().as_str()),
        (200, "plain HTTP: GET /index.html")
    );

    let mut ws = within(
        "upgrade",
        support::client(&format!("ws://{addr}/ws"))
            .protocol("other")
            .protocol("echo.v1")
            .connect(),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), Some("echo.v1"));
    assert!(ws.is_compressed());
    for i in 0..10 {
        let m = Message::text(format!("message {i} ").repeat(20));
        ws.send(m.clone()).await.unwrap();
        assert_eq!(within("echo", ws.recv()).await.unwrap().unwrap(), m);
    }
    ws.close(None).await.unwrap();
    assert!(within("close", ws.recv()).await.is_none());

    // One keep-alive connection: a plain request first, then the upgrade.
    let page = within("GET", http_exchange(&mut tcp, &get_request("/before"))).await;
    assert_eq!(
        (page.status, page.text().as_str()),
        (200, "plain HTTP: GET /before")
    );
    let mut ws = within(
        "upgrade after a request",
        wsx::ClientBuilder::new("ws://localhost/ws").connect_on(tcp),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol(), None);
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(
        within("echo", ws.recv()).await.unwrap().unwrap(),
        Message::binary(vec![1, 2, 3])
    );
}

#[tokio::test]
async fn hyper_refuses_invalid_upgrades_with_the_right_status() {
    let addr = serve_hyper().await;
    let cases = [
        ("version 8", upgrade_request("localhost", "/ws", "8", ""), 426),
        (
            "a short key",
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "no key",
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n"
                .to_vec(),
            400,
        ),
    ];
    for (what, request, status) in cases {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let response = within(what, http_exchange(&mut tcp, &request)).await;
        assert_eq!(response.status, status, "{what}: {response:?}");
        if status == 426 {
            assert_eq!(response.header("sec-websocket-version"), Some("13"), "{what}");
        }
        // The connection stays usable for plain HTTP.
        let page = within(what, http_exchange(&mut tcp, &get_request("/after"))).await;
        assert_eq!(page.status, 200, "{what}: {page:?}");
    }
}

#[cfg(feature = "axum")]
mod axum_router {
    use super::*;
    use axum::Router;
    use axum::response::Response;
    use axum::routing::get;
    use wsx::Error;
    use wsx::axum::WebSocketUpgrade;

    /// Tells the client which subprotocol was agreed, then echoes.
    async fn ws_handler(upgrade: WebSocketUpgrade) -> Response {
        let path = upgrade.request().path().to_owned();
        upgrade
            .protocols(["chat.v2", "chat.v1"])
            .on_upgrade(move |mut ws| async move {
                let agreed = ws.protocol().unwrap_or("none").to_owned();
                if ws.send(format!("{path} {agreed}")).await.is_ok() {
                    let _ = echo(&mut ws).await;
                }
            })
    }

    async fn serve_axum() -> SocketAddr {
        let app: Router = Router::new()
            .route("/ws", get(ws_handler))
            .route("/", get(|| async { "hello from axum" }));
        let (listener, addr) = listen().await;
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    #[tokio::test]
    async fn axum_router_serves_a_route_and_websockets_with_subprotocols() {
        let addr = serve_axum().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let page = within("GET /", http_exchange(&mut tcp, &get_request("/"))).await;
        assert_eq!((page.status, page.text().as_str()), (200, "hello from axum"));

        let cases: [(&[&str], Option<&str>); 4] = [
            (&["chat.v1", "chat.v2"], Some("chat.v2")), // the server's preference wins
            (&["chat.v1"], Some("chat.v1")),
            (&["chat.v3"], None),
            (&[], None),
        ];
        for (offered, agreed) in cases {
            let mut builder = support::client(&format!("ws://{addr}/ws?from=test"));
            for p in offered {
                builder = builder.protocol(*p);
            }
            let mut ws = within("upgrade", builder.connect()).await.unwrap();
            assert_eq!(ws.protocol(), agreed, "offered {offered:?}");
            let hello = within("hello", ws.recv()).await.unwrap().unwrap();
            assert_eq!(hello, Message::text(format!("/ws {}", agreed.unwrap_or("none"))));
            ws.send("echo me").await.unwrap();
            assert_eq!(
                within("echo", ws.recv()).await.unwrap().unwrap(),
                Message::text("echo me")
            );
            ws.close(None).await.unwrap();
            assert!(within("close", ws.recv()).await.is_none());
        }
    }

    #[tokio::test]
    async fn axum_extractor_refuses_invalid_upgrades() {
        let addr = serve_axum().await;
        let cases = [
            ("version 8", upgrade_request("localhost", "/ws", "8", ""), 426),
            ("not an upgrade", get_request("/ws"), 400),
        ];
        for (what, request, status) in cases {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let response = within(what, http_exchange(&mut tcp, &request)).await;
            assert_eq!(response.status, status, "{what}: {response:?}");
            if status == 426 {
                assert_eq!(response.header("sec-websocket-version"), Some("13"), "{what}");
            }
        }
        match support::client(&format!("ws://{addr}/nowhere")).connect().await {
            Err(Error::Rejected { status, .. }) => assert_eq!(status, 404),
            other => panic!("expected 404, got {other:?}"),
        }
    }
}
