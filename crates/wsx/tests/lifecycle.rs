//! A connection's life: keepalive and idle timers, the close handshake from either side,
//! split halves under load, `Sink`/`Stream`, and the `Server`'s shutdown, connection limit
//! and request filter.

use wsx_test_support as support;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use support::{RawClient, accept_one, config, connect, echo, listen, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use wsx::proto::handshake::{Accept, Request};
use wsx::proto::{CloseCode, CloseFrame, Connection, Event, Role};
use wsx::{AcceptOptions, Config, Error, Message, OriginPolicy, Rejection, Server};

const KIB: usize = 1 << 10;

// ---- keepalive and idle ---------------------------------------------------------------------------

/// Keepalive is on by default; a peer that answers pings stays connected for as long as it
/// answers, here twenty ping intervals of paused time.
#[tokio::test(start_paused = true)]
async fn keepalive_keeps_a_responsive_peer_connected() {
    let defaults = Config::default().protocol;
    let interval = defaults.ping_interval.expect("keepalive on by default");
    let cycle = interval + defaults.pong_timeout;

    let (a, b) = tokio::io::duplex(64 << 10);
    let (ws, peer) = tokio::join!(wsx::accept(a), RawClient::handshake(b, None));
    let mut ws = ws.unwrap();
    let mut peer = peer;
    let server = tokio::spawn(async move { echo(&mut ws).await });

    let t0 = Instant::now();
    let end = t0 + interval * 20;
    let mut pings = 0u32;
    while let Ok(event) = tokio::time::timeout_at(end, peer.next_event()).await {
        match event {
            Some(Event::Ping(_)) => {
                pings += 1;
                peer.flush().await.unwrap(); // the pong the core queued
            }
            other => panic!("unexpected {other:?} at {:?}", t0.elapsed()),
        }
    }
    // A ping each time nothing arrived for an interval: every interval + pong timeout here.
    let expected = (interval * 20).as_secs() / cycle.as_secs();
    assert!(
        u64::from(pings) >= expected,
        "{pings} pings in {:?}",
        interval * 20
    );
    assert!(!server.is_finished(), "the server gave up on a responsive peer");

    peer.send("still there?").await.unwrap();
    match peer.next_event().await {
        Some(Event::Message(m)) => assert_eq!(m, Message::text("still there?")),
        other => panic!("expected the echo, got {other:?}"),
    }
    peer.conn.close(None).unwrap();
    peer.flush().await.unwrap();
    assert!(matches!(peer.next_event().await, Some(Event::Close(None))));
    server.await.unwrap().unwrap();
}

/// A raw TCP peer that completed the handshake and then stays silent: after one ping and
/// the pong timeout the server fails the connection with `KeepaliveTimeout`, and the peer
/// finds the ping and a close frame with 1011.
#[tokio::test]
async fn keepalive_fails_a_silent_peer_with_1011() {
    let defaults = Config::default().protocol;
    let interval = defaults.ping_interval.unwrap();
    let deadline = interval + defaults.pong_timeout;
    let (listener, addr) = listen().await;
    let t0 = Instant::now();
    let defaults_config = Config::default();
    let (ws, peer) = tokio::join!(accept_one(&listener, &defaults_config), RawClient::connect(addr));
    // The handshake ran in real time; from here the clock moves only to the next timer.
    tokio::time::pause();
    let mut ws = ws.unwrap();
    let mut peer = peer;

    // Bounded in virtual time, so that a regression fails instead of pinging forever.
    let result = tokio::time::timeout(deadline + interval, ws.recv())
        .await
        .expect("no keepalive failure");
    let elapsed = t0.elapsed();
    match result {
        Some(Err(e @ Error::Timeout(wsx::error::Timeout::Keepalive))) => {
            assert_eq!(e.close_code(), Some(wsx::CloseCode::INTERNAL_ERROR));
        }
        other => panic!("expected a keepalive timeout, got {other:?}"),
    }
    assert!(
        elapsed >= deadline && elapsed < deadline + interval,
        "failed after {elapsed:?}"
    );
    assert!(ws.recv().await.is_none());

    assert!(matches!(peer.next_event().await, Some(Event::Ping(_))));
    let close = peer.expect_close().await.expect("a close code");
    assert_eq!(close.code, CloseCode::INTERNAL_ERROR);
    assert!(peer.read_to_eof().await);
}

/// `idle_timeout`: traffic keeps the connection open; once no message has gone either way
/// for the timeout, the server closes with 1001 and both streams end normally.
#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_with_1001() {
    let idle = Duration::from_secs(60);
    let server_config = config(|c| c.protocol.idle_timeout = Some(idle));
    let (mut ws, mut client) = support::duplex_pair(&server_config, &Config::default()).await;
    let server = tokio::spawn(async move {
        let result = echo(&mut ws).await;
        (result, ws.close_frame().cloned())
    });

    // A message every 40 s for four minutes: never idle for 60 s.
    for i in 0..6 {
        client.send(format!("m{i}")).await.unwrap();
        let reply = client.recv().await.unwrap().unwrap();
        assert_eq!(reply, Message::text(format!("m{i}")));
        let quiet = tokio::time::timeout(Duration::from_secs(40), client.recv()).await;
        assert!(quiet.is_err(), "message {i}: the stream ended early: {quiet:?}");
    }
    let last = Instant::now() - Duration::from_secs(40);
    let end = tokio::time::timeout(idle * 3, client.recv()).await;
    assert!(matches!(end, Ok(None)), "expected the idle close, got {end:?}");
    assert!(
        last.elapsed() >= idle,
        "closed {:?} after the last message",
        last.elapsed()
    );
    assert_eq!(
        client.close_frame(),
        Some(&CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout"))
    );
    let (result, close) = server.await.unwrap();
    result.unwrap();
    assert_eq!(close.map(|c| c.code), Some(CloseCode::GOING_AWAY));
}

// ---- the close handshake ----------------------------------------------------------------------

/// The client closes: both streams end with `None`, each side knows the other's close
/// frame, and the client's stream ends because the server closed TCP (its close timeout
/// is an hour).
#[tokio::test]
async fn client_initiated_close_handshake() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &Config::default()).await.unwrap();
        let result = echo(&mut ws).await;
        (result, ws.close_frame().cloned())
    });
    let patient = config(|c| c.protocol.close_timeout = Duration::from_secs(3600));
    let mut client = support::client(&format!("ws://{addr}/"))
        .config(patient)
        .connect()
        .await
        .unwrap();
    client.send("hi").await.unwrap();
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("hi"));

    client
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
        .await
        .unwrap();
    assert!(matches!(client.send("more").await, Err(Error::Closed)));
    assert!(within("client end", client.recv()).await.is_none());
    // The server echoes the code (RFC 6455 §5.5.1), not the reason.
    assert_eq!(
        client.close_frame(),
        Some(&CloseFrame::new(CloseCode::NORMAL, ""))
    );
    assert!(client.recv().await.is_none());

    let (result, close) = within("server end", server).await.unwrap();
    result.unwrap();
    assert_eq!(close, Some(CloseFrame::new(CloseCode::NORMAL, "bye")));
}

/// The server closes: what the client sent before it saw the close still arrives, both
/// streams end with `None`, and neither side may send any more.
#[tokio::test]
async fn server_initiated_close_handshake() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &Config::default()).await.unwrap();
        ws.send("hello").await.unwrap();
        ws.close(Some(CloseFrame::new(CloseCode::from(4001), "done")))
            .await
            .unwrap();
        assert!(matches!(ws.send("more").await, Err(Error::Closed)));
        let mut received = Vec::new();
        while let Some(m) = ws.recv().await {
            received.push(m.unwrap());
        }
        (received, ws.close_frame().cloned())
    });
    let mut client = connect(addr).await;
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("hello"));
    // Sent before the client reads the server's close frame.
    client.send("late").await.unwrap();
    assert!(within("client end", client.recv()).await.is_none());
    assert_eq!(
        client.close_frame(),
        Some(&CloseFrame::new(CloseCode::from(4001), "done"))
    );
    assert!(matches!(client.send("more").await, Err(Error::Closed)));

    let (received, close) = within("server end", server).await.unwrap();
    assert_eq!(received, [Message::text("late")]);
    assert_eq!(close.map(|c| c.code), Some(CloseCode::from(4001)));
}

/// RFC 6455 §7.1.1: after the close handshake the server closes TCP first, at once (its
/// close timeout is an hour); a peer that keeps its own side open reads EOF.
#[tokio::test]
async fn server_closes_tcp_first() {
    let (listener, addr) = listen().await;
    let patient = config(|c| c.protocol.close_timeout = Duration::from_secs(3600));
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &patient).await.unwrap();
        (ws.recv().await.is_none(), ws.close_frame().cloned())
    });
    let mut peer = within("handshake", RawClient::connect(addr)).await;
    peer.conn
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        .unwrap();
    peer.flush().await.unwrap();
    let reply = within("close reply", peer.expect_close()).await;
    assert_eq!(reply.map(|c| c.code), Some(CloseCode::NORMAL));
    assert!(within("EOF", peer.read_to_eof()).await, "expected a clean EOF");
    let (ended, close) = within("server", server).await.unwrap();
    assert!(ended);
    assert_eq!(close.map(|c| c.code), Some(CloseCode::NORMAL));
}

/// The other half of §7.1.1: a client that finished the close handshake waits for the
/// server to close TCP, and closes it itself only after `close_timeout` (paused clock; the
/// "server" is written by hand so that it never closes).
#[tokio::test(start_paused = true)]
async fn client_waits_for_the_server_to_close_tcp() {
    let close_timeout = Config::default().protocol.close_timeout;
    let (mut server_io, client_io) = tokio::io::duplex(64 << 10);
    let handshake = async {
        let proto = wsx::proto::Config::default();
        let mut buf = BytesMut::new();
        let (request, n) = loop {
            server_io.read_buf(&mut buf).await.unwrap();
            if let Some(parsed) = Request::parse(&buf, &proto).unwrap() {
                break parsed;
            }
        };
        assert_eq!(n, buf.len());
        let accepted = request.accept(&Accept::new()).unwrap();
        server_io.write_all(&accepted.response).await.unwrap();
    };
    let (_, client) = tokio::join!(
        handshake,
        support::client("ws://localhost/").connect_on(client_io)
    );
    let mut client = client.unwrap();
    let mut server = Connection::new(Role::Server, wsx::proto::Config::default());

    client.close(None).await.unwrap();
    let t0 = Instant::now();
    let client_task =
        tokio::spawn(async move { (client.recv().await.is_none(), client.close_frame().cloned()) });
    // Read the client's close, answer it, and keep the transport open.
    let mut buf = [0u8; 1024];
    loop {
        let n = server_io.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed TCP before the close handshake");
        server.receive(&buf[..n]);
        if let Some(Event::Close(None)) = server.poll_event().unwrap() {
            break;
        }
    }
    server_io.write_all(&server.take_output()).await.unwrap();
    // The client now waits for the server to close; it gives up after the close timeout.
    let eof = tokio::time::timeout(close_timeout * 3, server_io.read(&mut buf)).await;
    assert!(matches!(eof, Ok(Ok(0))), "expected EOF, got {eof:?}");
    assert!(
        t0.elapsed() >= close_timeout,
        "the client closed TCP after {:?}",
        t0.elapsed()
    );
    let (ended, close) = client_task.await.unwrap();
    assert!(ended);
    assert_eq!(close, None, "the close reply carried no code");
}

// ---- split -------------------------------------------------------------------------------------

/// Message `i` of a stream: text or binary, of varied sizes, telling its own index.
fn numbered(i: usize) -> Message {
    let body = format!("{i}:").repeat(1 + (i * 37) % 700);
    if i % 2 == 0 {
        Message::text(body)
    } else {
        Message::binary(body.into_bytes())
    }
}

/// Sends `numbered(0..n)`, mixing the ways to send: queue-and-write, queue only, try.
async fn write_numbered<S>(name: &str, mut tx: wsx::split::WsWriter<S>, n: usize) -> wsx::split::WsWriter<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    for i in 0..n {
        match i % 3 {
            0 => tx.send(numbered(i)).await,
            1 => tx.feed(numbered(i)).await,
            _ => match tx.try_send(numbered(i)) {
                Err(Error::QueueFull) => tx.send(numbered(i)).await,
                other => other,
            },
        }
        .unwrap_or_else(|e| panic!("{name} send {i}: {e}"));
    }
    tx.flush().await.unwrap();
    tx
}

/// Both ends split, a reader and a writer task on each, 10,000 messages each way at once
/// with a small send queue: nothing is lost, reordered or stuck. Then the client's writer
/// closes and both readers' streams end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_halves_carry_heavy_traffic_both_ways() {
    const N: usize = 10_000;
    let cfg = config(|c| c.send_queue_limit = 16 * KIB);
    let (listener, addr) = listen().await;
    let (server, client) = tokio::join!(
        accept_one(&listener, &cfg),
        support::client(&format!("ws://{addr}/"))
            .config(cfg.clone())
            .connect()
    );
    let (mut server_rx, mut server_tx) = server.unwrap().split();
    let (mut client_rx, mut client_tx) = client.unwrap().split();

    let server_writer = tokio::spawn(write_numbered("server", server_tx, N));
    let client_writer = tokio::spawn(write_numbered("client", client_tx, N));
    let server_reader = tokio::spawn(async move {
        for i in 0..N {
            let m = server_rx.recv().await.expect("stream ended").unwrap();
            assert_eq!(m, numbered(i), "server received message {i} wrong");
        }
        // The client's close ends the stream.
        let end = server_rx.recv().await;
        assert!(end.is_none(), "server got {end:?}");
        server_rx.close_frame()
    });
    let client_reader = tokio::spawn(async move {
        for i in 0..N {
            let m = client_rx.recv().await.expect("stream ended").unwrap();
            assert_eq!(m, numbered(i), "client received message {i} wrong");
        }
        client_rx
    });

    let mut client_rx = within("client reads all", client_reader).await.unwrap();
    client_tx = within("client writes all", client_writer).await.unwrap();
    server_tx = within("server writes all", server_writer).await.unwrap();

    // Closing from the writer half ends the reader's stream once the server answers.
    client_tx
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "done")))
        .await
        .unwrap();
    assert!(within("client reader ends", client_rx.recv()).await.is_none());
    assert_eq!(client_rx.close_frame().map(|c| c.code), Some(CloseCode::NORMAL));
    assert!(matches!(client_tx.send("more").await, Err(Error::Closed)));
    let server_saw = within("server reader ends", server_reader).await.unwrap();
    assert_eq!(server_saw, Some(CloseFrame::new(CloseCode::NORMAL, "done")));
    assert!(matches!(server_tx.send("more").await, Err(Error::Closed)));
}

/// The peer's close ends the reader's stream, while the writer is idle in another task.
#[tokio::test]
async fn split_reader_ends_when_the_peer_closes() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &Config::default()).await.unwrap();
        ws.send("bye").await.unwrap();
        ws.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "leaving")))
            .await
            .unwrap();
        ws.recv().await.is_none()
    });
    let (mut rx, mut tx) = connect(addr).await.split();
    let (writer_done, writer_told) = oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let _ = writer_told.await;
        tx.send("too late").await
    });
    assert_eq!(
        within("message", rx.recv()).await.unwrap().unwrap(),
        Message::text("bye")
    );
    assert!(within("end", rx.recv()).await.is_none());
    assert_eq!(
        rx.close_frame(),
        Some(CloseFrame::new(CloseCode::GOING_AWAY, "leaving"))
    );
    writer_done.send(()).unwrap();
    assert!(matches!(writer.await.unwrap(), Err(Error::Closed)));
    assert!(within("server", server).await.unwrap());
}

// ---- Sink and Stream ------------------------------------------------------------------------------

/// An echo server that is one line, `reader.forward(writer)`, and a client that uses the
/// `Sink` and `Stream` traits only.
#[tokio::test]
async fn sink_and_stream_forward_echo() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (reader, writer) = accept_one(&listener, &Config::default()).await.unwrap().split();
        reader.forward(writer).await
    });
    let mut client = connect(addr).await;
    let messages: Vec<Message> = (0..100).map(numbered).collect();
    let mut outgoing = futures_util::stream::iter(messages.clone().into_iter().map(Ok));
    SinkExt::send_all(&mut client, &mut outgoing).await.unwrap();
    let echoed: Vec<Message> = (&mut client).take(100).map(|m| m.unwrap()).collect().await;
    assert_eq!(echoed, messages);

    SinkExt::close(&mut client).await.unwrap();
    assert!(within("end", client.next()).await.is_none());
    assert_eq!(client.close_frame().map(|c| c.code), Some(CloseCode::NORMAL));
    within("server", server).await.unwrap().unwrap();
}

// ---- the Server -----------------------------------------------------------------------------------

/// When the shutdown future completes, every connection is asked to close with 1001
/// "server shutting down"; `run` returns after the drain timeout even though one peer
/// never answers (and its close timeout is an hour), and that peer is then dropped.
#[tokio::test]
async fn server_shutdown_closes_every_connection_and_drains() {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .config(config(|c| c.protocol.close_timeout = Duration::from_secs(3600)))
        .drain_timeout(Duration::from_millis(300));
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(server.run_until(
        |mut ws, _info| async move {
            let _ = echo(&mut ws).await;
        },
        async {
            let _ = stopped.await;
        },
    ));

    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c = connect(addr).await;
        c.send(format!("client {i}")).await.unwrap();
        assert!(c.recv().await.unwrap().is_ok());
        clients.push(c);
    }
    let mut silent = RawClient::connect(addr).await;
    silent.send("hello").await.unwrap();
    assert!(matches!(silent.next_event().await, Some(Event::Message(_))));

    stop.send(()).unwrap();
    let going_away = CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down");
    for mut c in clients {
        assert!(within("client end", c.recv()).await.is_none());
        assert_eq!(c.close_frame(), Some(&going_away));
    }
    within("run returns after the drain timeout", run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(silent.expect_close().await, Some(going_away));
    within("silent peer dropped", silent.read_to_eof()).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

/// `max_connections`: the connection over the limit gets HTTP 503; once one closes there is
/// room again.
#[tokio::test]
async fn max_connections_refuses_with_503() {
    let server = Server::bind("127.0.0.1:0").await.unwrap().max_connections(2);
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(server.run_until(
        |mut ws, _info| async move {
            let _ = echo(&mut ws).await;
        },
        async {
            let _ = stopped.await;
        },
    ));
    let mut first = connect(addr).await;
    let mut second = connect(addr).await;
    for c in [&mut first, &mut second] {
        c.send("x").await.unwrap();
        c.recv().await.unwrap().unwrap();
    }
    match support::client(&format!("ws://{addr}/")).connect().await {
        Err(Error::Rejected { status, reason }) => {
            assert_eq!(status, 503);
            assert_eq!(reason, "too many connections");
        }
        other => panic!("expected 503, got {other:?}"),
    }

    first.close(None).await.unwrap();
    assert!(first.recv().await.is_none());
    // The slot is released when the server's task ends, just after the close.
    let mut third = within("a slot frees up", async {
        loop {
            match support::client(&format!("ws://{addr}/")).connect().await {
                Ok(ws) => break ws,
                Err(Error::Rejected { status: 503, .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    third.send("y").await.unwrap();
    assert_eq!(third.recv().await.unwrap().unwrap(), Message::text("y"));
    // Hang up rather than leave the shutdown's close frames unanswered for the drain timeout.
    drop((second, third));
    stop.send(()).unwrap();
    within("run", run).await.unwrap().unwrap();
}

/// `accept_with`'s callback sees the request: it rejects with a status and reason the
/// client reads back, and picks the subprotocol by server preference.
#[tokio::test]
async fn accept_with_rejects_and_chooses_a_subprotocol() {
    let (listener, addr) = listen().await;
    let (results, mut results_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let results = results.clone();
            tokio::spawn(async move {
                let accepted = wsx::accept_with(tcp, &Config::default(), |req| {
                    if req.headers().get("authorization") != Some("Bearer letmein") {
                        return Err(Rejection::forbidden("members only"));
                    }
                    let mut options = AcceptOptions::new().header("X-Served-By", "wsx-test");
                    if let Some(p) = req.select_protocol(&["chat.v2", "chat.v1"]) {
                        options = options.protocol(p);
                    }
                    Ok(options)
                })
                .await;
                let _ = results.send(accepted.map(|ws| ws.protocol().map(str::to_owned)));
            });
        }
    });
    let url = format!("ws://{addr}/room?id=1");

    match support::client(&url).connect().await {
        Err(Error::Rejected { status, reason }) => {
            assert_eq!((status, reason.as_str()), (403, "members only"))
        }
        other => panic!("expected 403, got {other:?}"),
    }
    match results_rx.recv().await.unwrap() {
        Err(Error::Rejected { status, reason }) => {
            assert_eq!((status, reason.as_str()), (403, "members only"))
        }
        other => panic!("server side: {other:?}"),
    }

    let authorized = || support::client(&url).header("Authorization", "Bearer letmein");
    let cases: [(&[&str], Option<&str>); 4] = [
        (&["chat.v1", "chat.v2"], Some("chat.v2")), // the server's preference wins
        (&["chat.v1"], Some("chat.v1")),
        (&["other"], None),
        (&[], None),
    ];
    for (offered, chosen) in cases {
        let mut builder = authorized();
        for p in offered {
            builder = builder.protocol(*p);
        }
        let ws = builder.connect().await.unwrap();
        assert_eq!(ws.protocol(), chosen, "offered {offered:?}");
        assert_eq!(results_rx.recv().await.unwrap().unwrap().as_deref(), chosen);
    }
}

/// `OriginPolicy` in a callback and in `Server::on_request`: listed origins and requests
/// without `Origin` pass, others get 403; `require_origin` refuses requests without one.
#[tokio::test]
async fn origin_policy_refuses_foreign_origins() {
    let policy = OriginPolicy::allow(["https://app.example.com"]);
    let strict = policy.clone().require_origin();
    let server = Server::bind("127.0.0.1:0").await.unwrap().on_request(move |req| {
        let p = if req.path() == "/strict" { &strict } else { &policy };
        p.check(req).map(|()| AcceptOptions::new())
    });
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(server.run_until(
        |mut ws, _info| async move {
            let _ = echo(&mut ws).await;
        },
        async {
            let _ = stopped.await;
        },
    ));
    let cases = [
        ("/", Some("https://app.example.com"), None),
        ("/", Some("HTTPS://APP.EXAMPLE.COM/"), None),
        ("/", None, None),
        ("/", Some("https://evil.example.com"), Some("origin not allowed")),
        ("/", Some("null"), Some("origin not allowed")),
        ("/strict", Some("https://app.example.com"), None),
        ("/strict", None, Some("an Origin header is required")),
    ];
    for (path, origin, refusal) in cases {
        let mut builder = support::client(&format!("ws://{addr}{path}"));
        if let Some(o) = origin {
            builder = builder.origin(o);
        }
        match (builder.connect().await, refusal) {
            (Ok(mut ws), None) => {
                ws.send("hi").await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
            }
            (Err(Error::Rejected { status, reason }), Some(why)) => {
                assert_eq!((status, reason.as_str()), (403, why), "{path} {origin:?}");
            }
            (result, _) => panic!("{path} with origin {origin:?}: {result:?}"),
        }
    }
    stop.send(()).unwrap();
    within("run", run).await.unwrap().unwrap();
}
