//! Limits a peer pushes against, over real sockets: oversize messages and frames, an
//! oversize or stalled opening handshake, a peer that does not read, a ping flood, a
//! decompression bomb.

use wsx_test_support as support;

use futures_util::poll;
use std::pin::pin;
use std::time::Duration;
use support::{RawClient, accept_one, config, listen, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::time::Instant;
use wsx::proto::frame::MAX_HEADER_LEN;
use wsx::proto::{CloseCode, DeflateConfig, Error as ProtoError, FrameHeader, OpCode};
use wsx::{AcceptOptions, Error, Message, Server};

const KIB: usize = 1 << 10;

/// A TCP connection to `addr` whose receive buffer is small, so that a peer that does not
/// read fills it quickly.
async fn small_buffer_connect(addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4 * KIB as u32).unwrap();
    socket.set_send_buffer_size(4 * KIB as u32).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp
}

#[tokio::test]
async fn oversize_message_from_the_client_fails_with_1009() {
    let limit = 16 * KIB;
    let (listener, addr) = listen().await;
    let server_config = config(|c| c.protocol.max_message_size = limit);
    let (release, released) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &server_config).await.unwrap();
        let first = ws.recv().await;
        let then = ws.recv().await;
        // Hold the socket until the client is done, so that the client's side is a plain
        // close handshake (`a_peer_that_hangs_up_at_once_...` covers the reset).
        let _ = released.await;
        (first, then.is_none())
    });

    let mut client = within(
        "connect",
        support::client(&format!("ws://{addr}/"))
            .compression(None)
            .connect(),
    )
    .await
    .unwrap();
    client.send(Message::binary(vec![7; 2 * limit])).await.unwrap();
    // The server's close ends the stream normally on the client's side.
    let end = within("client recv", client.recv()).await;
    assert!(end.is_none(), "client got {end:?}");
    let close = client.close_frame().expect("the server's close frame");
    assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
    release.send(()).unwrap();

    let (first, ended) = within("server", server).await.unwrap();
    match first {
        Some(Err(Error::Protocol(ProtoError::MessageTooLarge { limit: l }))) => assert_eq!(l, limit),
        other => panic!("server got {other:?}"),
    }
    assert!(ended, "the server's stream goes on after the error");
}

/// The failing side drops its socket at once, with the rest of the message unread: the
/// kernel resets the connection, and the client's close reply fails to go out. The client
/// still ends normally, with the 1009 it received.
#[tokio::test]
async fn a_peer_that_hangs_up_at_once_after_1009_still_ends_the_stream_normally() {
    let limit = 16 * KIB;
    let (listener, addr) = listen().await;
    let server_config = config(|c| c.protocol.max_message_size = limit);
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &server_config).await.unwrap();
        ws.recv().await.map(|r| r.map_err(|e| e.to_string()))
    });
    let mut client = within(
        "connect",
        support::client(&format!("ws://{addr}/"))
            .compression(None)
            .connect(),
    )
    .await
    .unwrap();
    // Small enough for the kernel buffers, large enough to be left partly unread.
    client.send(Message::binary(vec![7; 4 * limit])).await.unwrap();
    let failed = within("server", server).await.unwrap();
    assert!(matches!(failed, Some(Err(_))), "server got {failed:?}");
    // The server is gone, its socket closed with unread input.
    let end = within("client recv", client.recv()).await;
    assert!(end.is_none(), "client got {end:?}");
    assert_eq!(
        client.close_frame().map(|c| c.code),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );
}

#[tokio::test]
async fn oversize_message_from_the_server_fails_with_1009() {
    let limit = 16 * KIB;
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &support::plain_config()).await.unwrap();
        ws.send(Message::binary(vec![7; 2 * limit])).await.unwrap();
        let end = ws.recv().await;
        (
            end.map(|r| r.map_err(|e| e.to_string())),
            ws.close_frame().cloned(),
        )
    });

    let client_config = config(|c| c.protocol.max_message_size = limit);
    let mut client = within(
        "connect",
        support::client(&format!("ws://{addr}/"))
            .config(client_config)
            .connect(),
    )
    .await
    .unwrap();
    match within("client recv", client.recv()).await {
        Some(Err(Error::Protocol(ProtoError::MessageTooLarge { limit: l }))) => assert_eq!(l, limit),
        other => panic!("client got {other:?}"),
    }
    // The server finishes the close handshake the client started, then ends normally.
    let (end, close) = within("server", server).await.unwrap();
    assert!(end.is_none(), "server got {end:?}");
    assert_eq!(
        close.expect("the client's close frame").code,
        CloseCode::MESSAGE_TOO_BIG
    );
    assert!(client.recv().await.is_none());
}

#[tokio::test]
async fn oversize_frame_header_fails_with_1009_before_any_payload() {
    let limit = 1 << 20;
    let (listener, addr) = listen().await;
    let server_config = config(|c| c.protocol.max_frame_size = limit);
    let (release, released) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &server_config).await.unwrap();
        let first = ws.recv().await;
        let _ = released.await;
        first
    });

    let mut peer = within("handshake", RawClient::connect(addr)).await;
    // Only a header announcing a 1 TiB binary frame: not one byte of its payload follows.
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode: OpCode::Binary,
        mask: Some([1, 2, 3, 4]),
        payload_len: 1 << 40,
    };
    let mut wire = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut wire);
    peer.io.write_all(&wire[..n]).await.unwrap();
    let close = within("close frame", peer.expect_close())
        .await
        .expect("a close code");
    assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
    assert!(within("EOF", peer.read_to_eof()).await, "expected a clean EOF");
    release.send(()).unwrap();

    match within("server", server).await.unwrap() {
        Some(Err(Error::Protocol(ProtoError::FrameTooLarge { size, limit: l }))) => {
            assert_eq!((size, l), (1 << 40, limit));
        }
        other => panic!("server got {other:?}"),
    }
}

#[tokio::test]
async fn oversize_handshake_gets_431() {
    let huge_header = format!("X-Filler: {}\r\n", "a".repeat(20 * KIB));
    let many_headers: String = (0..100).map(|i| format!("X-Header-{i}: {i}\r\n")).collect();
    let cases = [
        ("a head over max_handshake_bytes", huge_header),
        ("more header fields than max_headers", many_headers),
    ];
    for (what, extra) in cases {
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move { accept_one(&listener, &wsx::Config::default()).await });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = support::upgrade_request("localhost", "/", "13", &extra);
        let response = within(what, support::http_exchange(&mut tcp, &request)).await;
        assert_eq!(response.status, 431, "{what}: {response:?}");
        match within(what, server).await.unwrap() {
            Err(Error::Handshake(
                ProtoError::HandshakeTooLarge { .. } | ProtoError::TooManyHeaders { .. },
            )) => {}
            other => panic!("{what}: server got {other:?}"),
        }
    }
}

/// A client that sends half a request and then nothing is dropped by a [`Server`] when
/// `handshake_timeout` has passed: still connected a second before, gone a second after
/// (paused clock: the runtime jumps to each timer as soon as every task waits).
#[tokio::test(start_paused = true)]
async fn stalled_handshake_is_dropped_after_handshake_timeout() {
    let timeout = Duration::from_secs(10);
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .config(config(|c| c.handshake_timeout = timeout));
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(server.run_until(|_ws, _info| async {}, async {
        let _ = stopped.await;
    }));

    let t0 = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout_at(t0 + timeout - Duration::from_secs(1), tcp.read(&mut buf)).await;
    assert!(early.is_err(), "the server answered or hung up early: {early:?}");
    // Let the clock pass the server's deadline, then read in real time: whatever the
    // server did at its deadline is in the socket by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::time::resume();
    let read = within("the server drops the connection", tcp.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the connection dropped, read {read:?}"
    );

    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
}

/// The same with [`wsx::accept_with`] on an in-memory pipe: `Error::Timeout`, and the
/// transport is dropped.
#[tokio::test(start_paused = true)]
async fn stalled_handshake_fails_accept_with_a_timeout() {
    let timeout = Duration::from_secs(7);
    let (mut peer, transport) = tokio::io::duplex(4096);
    peer.write_all(b"GET / HTTP/1.1\r\nHost: local").await.unwrap();
    let t0 = Instant::now();
    let server_config = config(|c| c.handshake_timeout = timeout);
    let accept = wsx::accept_with(transport, &server_config, |_| Ok(AcceptOptions::new()));
    let result = tokio::time::timeout(timeout * 3, accept)
        .await
        .expect("accept_with never timed out");
    assert!(
        matches!(result, Err(Error::Timeout(wsx::error::Timeout::Handshake))),
        "{result:?}"
    );
    assert!(t0.elapsed() >= timeout, "timed out after {:?}", t0.elapsed());
    let mut buf = [0u8; 64];
    assert_eq!(
        peer.read(&mut buf).await.unwrap(),
        0,
        "the server's end is dropped"
    );
}

/// A server sending to a client that never reads: once the kernel buffers are full the
/// queue grows to `send_queue_limit` and no further (`try_send` fails with `QueueFull`),
/// `send` waits, and it completes once the client reads again.
#[tokio::test]
async fn slow_reader_fills_the_send_queue_to_its_limit_and_no_further() {
    let limit = 64 * KIB;
    let message_len = 8 * KIB;
    let frame_len = message_len + 4; // unmasked, 16-bit length
    let (listener, addr) = listen().await;
    let server_config = config(|c| c.send_queue_limit = limit);
    let (ws, peer) = tokio::join!(accept_one(&listener, &server_config), async {
        RawClient::handshake(small_buffer_connect(addr).await, None).await
    });
    let mut ws = ws.unwrap();
    let message = Message::binary(vec![0x5a; message_len]);

    let mut sent = 0usize;
    let full = loop {
        match ws.try_send(message.clone()) {
            Ok(()) => sent += 1,
            Err(Error::QueueFull) => break ws.queued_bytes(),
            Err(e) => panic!("try_send: {e}"),
        }
        assert!(
            ws.queued_bytes() <= limit + frame_len,
            "queue over its limit: {} bytes",
            ws.queued_bytes()
        );
        assert!(
            sent * message_len < 256 << 20,
            "256 MiB accepted for a peer that reads nothing"
        );
        // Let the runtime see the socket's write readiness change.
        tokio::task::yield_now().await;
    };
    assert!(
        (limit..=limit + frame_len).contains(&full),
        "QueueFull with {full} bytes queued (limit {limit})"
    );

    // `send` waits for room, however often it is polled.
    {
        let mut send = pin!(ws.send(message.clone()));
        for _ in 0..5 {
            assert!(
                poll!(&mut send).is_pending(),
                "send completed to a peer that reads nothing"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(ws.queued_bytes() <= limit + frame_len, "{}", ws.queued_bytes());
    assert!(matches!(ws.try_send(message.clone()), Err(Error::QueueFull)));

    // The client starts reading: the pending send completes and the queue drains.
    let reader = tokio::spawn(async move {
        let mut peer = peer;
        let mut total = 0usize;
        let mut buf = vec![0u8; 64 * KIB];
        while let Ok(n @ 1..) = peer.io.read(&mut buf).await {
            total += n;
        }
        total
    });
    within("send once the client reads", ws.send(message.clone()))
        .await
        .unwrap();
    assert_eq!(ws.queued_bytes(), 0);
    drop(ws);
    let total = within("client reads everything", reader).await.unwrap();
    assert_eq!(
        total % frame_len,
        0,
        "{total} bytes is not a whole number of frames"
    );
    assert!(
        total / frame_len > sent,
        "client got {} frames, {sent} were sent",
        total / frame_len
    );
}

/// A `send_queue_limit` of 0 acts as 1 (one message at a time) rather than failing every
/// send and stalling the reader.
#[tokio::test]
async fn a_send_queue_limit_of_zero_still_sends_and_receives() {
    let (listener, addr) = listen().await;
    let zero = config(|c| c.send_queue_limit = 0);
    let server_config = zero.clone();
    let server = tokio::spawn(async move {
        let mut ws = accept_one(&listener, &server_config).await.unwrap();
        support::echo(&mut ws).await
    });
    let mut client = support::client(&format!("ws://{addr}/"))
        .config(zero)
        .connect()
        .await
        .unwrap();
    for i in 0..10 {
        client.feed(format!("{i}")).await.unwrap();
    }
    client.flush().await.unwrap();
    for i in 0..10 {
        let m = within("echo", client.recv()).await.unwrap().unwrap();
        assert_eq!(m, Message::text(format!("{i}")));
    }
    client.close(None).await.unwrap();
    assert!(within("close", client.recv()).await.is_none());
    within("server", server).await.unwrap().unwrap();
}

/// A peer that floods pings and never reads: the pongs pile up until the send queue is
/// over its limit, then the server stops reading (TCP flow control stalls the peer) and
/// its queue stays bounded. The server is split, and its writer also waits to send, so it
/// is the writer that last asks the socket for write readiness: when the peer reads again,
/// the stalled reader must be woken too (no lost wakeup), and everything resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_from_a_peer_that_never_reads_is_throttled() {
    let limit = 64 * KIB;
    // What one read can add beyond the limit: a read's worth of pings turned into pongs.
    let slack = 128 * KIB;
    let (listener, addr) = listen().await;
    let server_config = config(|c| {
        c.send_queue_limit = limit;
        // No timer may wake a stalled reader: only the socket.
        c.protocol.ping_interval = None;
    });
    let (ws, peer) = tokio::join!(accept_one(&listener, &server_config), async {
        RawClient::handshake(small_buffer_connect(addr).await, None).await
    });
    let (mut reader, mut writer) = ws.unwrap().split();
    let server = tokio::spawn(async move {
        let mut messages = Vec::new();
        while let Some(m) = reader.recv().await {
            messages.push(m.map_err(|e| e.to_string()));
        }
        messages
    });

    let RawClient { io, mut conn, .. } = peer;
    let (mut rd, mut wr) = io.into_split();
    for _ in 0..128 {
        conn.ping(&[0xab; 125]).unwrap();
    }
    let batch = conn.take_output();
    let mut offset = 0;
    let mut written = 0usize;
    let mut max_queued = 0;
    loop {
        // One `write` at a time (cancel-safe): a stalled write is abandoned without
        // losing track of the stream.
        match tokio::time::timeout(Duration::from_millis(200), wr.write(&batch[offset..])).await {
            Ok(Ok(n)) => {
                written += n;
                offset = (offset + n) % batch.len();
            }
            Ok(Err(e)) => panic!("flood write failed: {e}"),
            Err(_) if writer.queued_bytes() >= limit => break,
            Err(_) => {} // a pause, not (yet) backpressure
        }
        max_queued = max_queued.max(writer.queued_bytes());
        assert!(max_queued <= limit + slack, "queue grew to {max_queued} bytes");
        assert!(written < 256 << 20, "the server kept reading 256 MiB of pings");
    }
    // Stalled: the server holds at most its limit plus one read's pongs.
    assert!(writer.queued_bytes() <= limit + slack);
    eprintln!("flooded {written} bytes; server queue peaked at {max_queued} (limit {limit})");

    // The writer waits to send as well (polled once: it registers after the reader).
    let big = Message::binary(vec![1; 64 * KIB]);
    let mut send = pin!(writer.send(big));
    assert!(poll!(&mut send).is_pending(), "sent to a peer that reads nothing");

    // The peer reads again: the server drains its pongs and reads the rest of the flood,
    // then a message and the peer's close.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * KIB];
        while let Ok(1..) = rd.read(&mut buf).await {}
    });
    within("the writer's send", send).await.unwrap();
    within("finish the flood", wr.write_all(&batch[offset..]))
        .await
        .unwrap();
    conn.send(Message::text("done")).unwrap();
    conn.close(None).unwrap();
    within("last message", wr.write_all(&conn.take_output()))
        .await
        .unwrap();
    let messages = within("server ends", server).await.unwrap();
    assert_eq!(messages, [Ok(Message::text("done"))]);
    within("peer drained", drain).await.unwrap();
}

/// A tiny compressed message that inflates far beyond `max_message_size` fails with 1009
/// without being inflated.
#[tokio::test]
async fn decompression_bomb_fails_with_1009() {
    let limit = 1 << 20;
    let (listener, addr) = listen().await;
    let server_config = config(|c| c.protocol.max_message_size = limit);
    // The attacker compresses as hard as DEFLATE goes (about 1000:1 on zeros).
    let mut deflate = DeflateConfig::default();
    deflate.level = 9;
    let (ws, peer) = tokio::join!(accept_one(&listener, &server_config), async {
        RawClient::handshake(TcpStream::connect(addr).await.unwrap(), Some(deflate)).await
    });
    let mut ws = ws.unwrap();
    let mut peer = peer;
    assert!(ws.is_compressed() && peer.conn.is_compressed());

    // 16 MiB of zeros, compressed to some 16 KiB: under every frame limit.
    peer.conn.send(Message::binary(vec![0; 16 << 20])).unwrap();
    let bomb = peer.conn.take_output();
    assert!(
        bomb.len() < 64 * KIB,
        "the bomb is {} bytes on the wire",
        bomb.len()
    );

    let (release, released) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let first = ws.recv().await;
        let _ = released.await;
        first
    });
    peer.io.write_all(&bomb).await.unwrap();
    let close = within("close frame", peer.expect_close())
        .await
        .expect("a close code");
    assert_eq!(close.code, CloseCode::MESSAGE_TOO_BIG);
    release.send(()).unwrap();
    match within("server", server).await.unwrap() {
        Some(Err(Error::Protocol(ProtoError::MessageTooLarge { limit: l }))) => assert_eq!(l, limit),
        other => panic!("server got {other:?}"),
    }
}
