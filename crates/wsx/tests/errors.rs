//! The error model, one kind at a time: each failure a caller can meet comes out as the
//! variant that names it, with its cause as `source()` where one exists, and the
//! predicates (`is_remote`, `is_io`, `is_timeout`, `is_usage`, `close_code`) agree.
//!
//! The peers are raw listeners and in-memory pipes, each misbehaving in one precise way;
//! only the throwaway certificate comes from `wsx-test-support`.

use std::error::Error as _;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpListener;
use wsx::error::Timeout;
use wsx::proto::Role;
use wsx::{ClientBuilder, CloseCode, CloseFrame, Config, Error, WebSocket};

const STEP: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: timed out"))
}

/// A listener that answers every connection with `response` once the request head is in.
async fn answering(response: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tcp.write_all(response).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    format!("ws://{addr}/")
}

fn pair() -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let config = Config::default();
    (
        WebSocket::from_raw(a, Role::Client, &config, None, &[]),
        WebSocket::from_raw(b, Role::Server, &config, None, &[]),
    )
}

#[tokio::test]
async fn a_bad_url_is_url_with_the_parsers_error() {
    let e = ClientBuilder::new("not a url").connect().await.unwrap_err();
    assert!(matches!(e, Error::Url { .. }) && e.is_usage(), "{e:?}");
    let source = e.source().expect("the parser's error");
    assert!(source.downcast_ref::<url::ParseError>().is_some(), "{source:?}");
    // Rules of ours have a reason and no source.
    let e = ClientBuilder::new("ftp://h/").connect().await.unwrap_err();
    assert!(
        matches!(&e, Error::Url { reason, source: None } if reason.contains("scheme")),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_refused_tls_handshake_is_tls_with_the_rustls_error() {
    let (cert, key) = wsx_test_support::certs::self_signed(&["localhost"]);
    let tls = wsx::tls::server_config(vec![cert], key).unwrap();
    let server = wsx::Server::bind("127.0.0.1:0").await.unwrap().tls(tls);
    let url = format!("wss://localhost:{}/", server.local_addr().unwrap().port());
    tokio::spawn(server.run(|_, _| async {}));

    // The default roots do not know a self-signed certificate.
    let e = within("tls", ClientBuilder::new(&url).no_proxy().connect())
        .await
        .unwrap_err();
    let Error::Tls {
        source: Some(source), ..
    } = &e
    else {
        panic!("expected a TLS error with a source, got {e:?}");
    };
    let rustls = source
        .downcast_ref::<wsx::tls::rustls_crate::Error>()
        .unwrap_or_else(|| panic!("the source is rustls's error, not {source:?}"));
    assert!(
        matches!(rustls, wsx::tls::rustls_crate::Error::InvalidCertificate(_)),
        "{rustls:?}"
    );
    // The message says what was done, the source why it failed: neither repeats the other.
    assert!(!e.to_string().contains(&source.to_string()), "{e}");
    assert!(!e.is_remote() && !e.is_io() && !e.is_usage());
}

#[tokio::test]
async fn a_dead_proxy_is_proxy_with_the_io_error_and_its_address() {
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let proxy = wsx::Proxy::parse(&format!("http://{addr}")).unwrap();
    let e = within(
        "proxy",
        ClientBuilder::new("ws://example.test/").proxy(proxy).connect(),
    )
    .await
    .unwrap_err();
    match &e {
        Error::Proxy {
            proxy,
            source: Some(io),
            ..
        } => {
            assert_eq!(proxy, &addr.to_string());
            assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected a proxy error with an io source, got {other:?}"),
    }
    assert!(e.source().is_some_and(|s| s.is::<std::io::Error>()));
}

#[tokio::test]
async fn a_403_is_rejected_with_its_body() {
    let url = answering(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 13\r\n\r\nnot for you\r\n").await;
    let e = within("403", ClientBuilder::new(&url).no_proxy().connect())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Rejected { status: 403, reason } if reason == "not for you"),
        "{e:?}"
    );
    assert!(!e.is_remote() && e.close_code().is_none());
}

#[tokio::test]
async fn a_garbage_101_is_handshake() {
    let url =
        answering(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .await;
    let e = within("101", ClientBuilder::new(&url).no_proxy().connect())
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Handshake(wsx::proto::Error::InvalidAccept)),
        "{e:?}"
    );
    assert!(e.is_remote() && e.close_code().is_none());
}

#[tokio::test]
async fn a_silent_server_is_a_handshake_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    // Accepts, then never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let e = within(
        "timeout",
        ClientBuilder::new(&url)
            .no_proxy()
            .handshake_timeout(Duration::from_millis(100))
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, Error::Timeout(Timeout::Handshake)) && e.is_timeout(),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_unmasked_frame_from_a_client_is_protocol_and_remote() {
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let mut server = WebSocket::from_raw(a, Role::Server, &Config::default(), None, &[]);
    b.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let failed = tokio::spawn(async move { server.recv().await });
    // The close frame with 1002 goes out first...
    let mut sent = [0u8; 4];
    within("close frame", b.read_exact(&mut sent)).await.unwrap();
    assert_eq!((sent[0], &sent[2..]), (0x88, &[0x03, 0xea][..]), "{sent:x?}");
    // ...and the error comes once the peer is gone (rather than after the close timeout).
    drop(b);
    let e = within("recv", failed).await.unwrap().unwrap().unwrap_err();
    assert!(
        matches!(e, Error::Protocol(wsx::proto::Error::UnmaskedFrameFromClient)),
        "{e:?}"
    );
    assert!(e.is_remote() && !e.is_usage());
    assert_eq!(e.close_code(), Some(CloseCode::PROTOCOL_ERROR));
}

#[tokio::test]
async fn eof_without_a_close_handshake_is_io_unexpected_eof() {
    let (mut client, server) = pair();
    drop(server);
    let e = within("recv", client.recv()).await.unwrap().unwrap_err();
    match &e {
        Error::Io(io) => assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof, "{io}"),
        other => panic!("expected Io(UnexpectedEof), got {other:?}"),
    }
    assert!(e.is_io() && !e.is_remote());
}

#[tokio::test]
async fn local_misuse_is_invalid_input_and_nothing_is_sent() {
    let (mut client, _server) = pair();
    let e = client.ping(&[0; 126]).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidInput(wsx::proto::Error::ControlPayloadTooLong(126))
        ),
        "{e:?}"
    );
    assert!(e.is_usage() && !e.is_remote());
    let e = client
        .close(Some(CloseFrame::new(CloseCode::from(1005), "")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidInput(wsx::proto::Error::UnsendableCloseCode(1005))
        ),
        "{e:?}"
    );
    assert_eq!(client.queued_bytes(), 0);
    // Still open: the misuse cost nothing.
    client.send("still fine").await.unwrap();
}

#[tokio::test]
async fn after_close_send_ping_and_close_all_say_closed() {
    let (mut client, mut server) = pair();
    // The side that started the close handshake...
    client.close(None).await.unwrap();
    assert!(matches!(client.send("late").await, Err(Error::Closed)));
    assert!(matches!(client.ping(b"late").await, Err(Error::Closed)));
    assert!(matches!(client.close(None).await, Err(Error::Closed)));
    // ...and the side that answered it.
    assert!(within("server recv", server.recv()).await.is_none());
    assert!(matches!(server.send("late").await, Err(Error::Closed)));
    assert!(matches!(server.ping(b"late").await, Err(Error::Closed)));
    assert!(matches!(server.close(None).await, Err(Error::Closed)));
    // The split writer agrees.
    let (mut a, b) = pair();
    let (reader, mut writer) = b.split();
    writer.close(None).await.unwrap();
    assert!(matches!(writer.send("late").await, Err(Error::Closed)));
    assert!(matches!(writer.ping(b"late").await, Err(Error::Closed)));
    assert!(matches!(writer.close(None).await, Err(Error::Closed)));
    // Nobody polls the reader, so the server would never close TCP: drop it, or the
    // client waits out its close timeout for that.
    drop((reader, writer));
    assert!(within("client recv", a.recv()).await.is_none());
    let e = Error::Closed;
    assert!(e.is_usage() && e.close_code().is_none());
}

#[test]
fn protocol_errors_route_by_kind() {
    use wsx::proto::Error as P;
    type Check = fn(&Error) -> bool;
    let cases: Vec<(P, Check)> = vec![
        (P::Closed, |e| matches!(e, Error::Closed)),
        (P::KeepaliveTimeout(Duration::from_secs(1)), |e| {
            matches!(e, Error::Timeout(Timeout::Keepalive))
                && e.close_code() == Some(CloseCode::INTERNAL_ERROR)
        }),
        (P::UnexpectedEof, |e| e.is_io()),
        (P::InvalidHeaderValue("Origin".into()), |e| {
            matches!(e, Error::InvalidInput(_))
        }),
        (P::UnexpectedStatus(404), |e| {
            matches!(e, Error::Rejected { status: 404, .. })
        }),
        (P::HandshakeTooLarge { limit: 1 }, |e| {
            matches!(e, Error::Handshake(_)) && e.is_remote()
        }),
        (P::InvalidKey, |e| matches!(e, Error::Handshake(_))),
        (P::MessageTooLarge { limit: 1 }, |e| {
            matches!(e, Error::Protocol(_)) && e.close_code() == Some(CloseCode::MESSAGE_TOO_BIG)
        }),
        (P::InvalidUtf8, |e| {
            matches!(e, Error::Protocol(_)) && e.is_remote()
        }),
        (P::CompressionFailed, |e| {
            matches!(e, Error::Protocol(_)) && !e.is_remote()
        }),
    ];
    for (proto, check) in cases {
        let shown = proto.to_string();
        let e = Error::from(proto);
        assert!(check(&e), "{shown} became {e:?}");
    }
}
