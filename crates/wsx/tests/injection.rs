//! Issue #7, item 3: nothing a caller passes to `ClientBuilder` can add a header to the
//! request. Each reproduction from the issue (a CR/LF in the URL's path, in the Origin,
//! in a subprotocol; and in a header value) must fail with a clear error before any
//! byte is written, which a raw listener that records everything it receives checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wsx::{ClientBuilder, Error};

/// What arrived at a listener: how many connections, and every byte.
#[derive(Default)]
struct Recorded {
    connections: usize,
    bytes: Vec<u8>,
}

async fn recorder() -> (String, Arc<Mutex<Recorded>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Recorded::default()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            log.lock().unwrap().connections += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = tcp.read(&mut buf).await {
                    log.lock().unwrap().bytes.extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (addr, seen)
}

/// Connects with `build`, expecting a failure, and returns it once the listener had time
/// to see whatever the client sent.
async fn refused(build: impl FnOnce(&str) -> ClientBuilder) -> (Error, Recorded) {
    let (addr, seen) = recorder().await;
    let result = tokio::time::timeout(Duration::from_secs(10), build(&addr).no_proxy().connect())
        .await
        .expect("the client neither failed nor connected");
    let e = match result {
        Ok(_) => panic!("connected despite an injected header"),
        Err(e) => e,
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let recorded = std::mem::take(&mut *seen.lock().unwrap());
    (e, recorded)
}

fn assert_nothing_sent(what: &str, recorded: &Recorded) {
    let text = String::from_utf8_lossy(&recorded.bytes);
    assert!(
        !text.contains("X-Injected"),
        "{what}: injected on the wire:\n{text}"
    );
    assert!(recorded.bytes.is_empty(), "{what}: wrote {text:?}");
    // Checked before connecting, not just before writing.
    assert_eq!(recorded.connections, 0, "{what}: opened a connection");
}

#[tokio::test]
async fn crlf_in_the_path_is_a_url_error() {
    let (e, recorded) =
        refused(|addr| ClientBuilder::new(format!("ws://{addr}/a\r\nX-Injected: path"))).await;
    match &e {
        Error::Url { reason, .. } => assert!(reason.contains("control character"), "{reason}"),
        other => panic!("expected a URL error, got {other:?}"),
    }
    assert!(e.is_usage());
    assert_nothing_sent("path", &recorded);
}

#[tokio::test]
async fn crlf_in_the_origin_is_invalid_input() {
    let (e, recorded) =
        refused(|addr| ClientBuilder::new(format!("ws://{addr}/")).origin("http://o\r\nX-Injected: origin"))
            .await;
    assert!(
        matches!(&e, Error::InvalidInput(wsx::proto::Error::InvalidHeaderValue(name)) if name == "Origin"),
        "{e:?}"
    );
    assert!(e.is_usage());
    assert!(
        e.to_string().contains("Origin") && e.to_string().contains("control character"),
        "{e}"
    );
    assert_nothing_sent("origin", &recorded);
}

#[tokio::test]
async fn crlf_in_a_subprotocol_is_invalid_input() {
    let (e, recorded) =
        refused(|addr| ClientBuilder::new(format!("ws://{addr}/")).protocol("p\r\nX-Injected: protocol"))
            .await;
    assert!(
        matches!(&e, Error::InvalidInput(wsx::proto::Error::InvalidProtocolName(p)) if p.starts_with("p\r\n")),
        "{e:?}"
    );
    // The message escapes what it quotes: a log line stays one line.
    assert!(!e.to_string().contains('\n'), "{e}");
    assert_nothing_sent("protocol", &recorded);
}

#[tokio::test]
async fn crlf_or_controls_in_a_header_are_invalid_input() {
    for (name, value) in [
        ("X-A", "1\r\nX-Injected: header"),
        ("X-A", "bell\u{7}"),
        ("X-A\r\nX-Injected", "name"),
        ("X A", "space in the name"),
    ] {
        let (e, recorded) =
            refused(|addr| ClientBuilder::new(format!("ws://{addr}/")).header(name, value)).await;
        assert!(
            matches!(
                &e,
                Error::InvalidInput(
                    wsx::proto::Error::InvalidHeaderValue(_) | wsx::proto::Error::InvalidHeaderName(_)
                )
            ),
            "{name:?}: {e:?}"
        );
        assert_nothing_sent(name, &recorded);
    }
}

#[tokio::test]
async fn connect_on_checks_too() {
    let (client, mut server) = tokio::io::duplex(1024);
    let e = ClientBuilder::new("ws://localhost/")
        .protocol("p\r\nX-Injected: protocol")
        .connect_on(client)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e:?}");
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
}
