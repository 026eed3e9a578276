//! Progress without `recv()`: a connection whose application only sends still answers
//! pings, runs keepalive and finishes the close handshake; a spawned connection does so
//! while nobody calls anything; messages that arrive meanwhile wait, bounded, and none is
//! lost; round-trip times are measured; a peer that floods after its close frame costs
//! nothing.

use wsx_test_support as support;

use std::time::Duration;
use support::{RawClient, config, listen, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use wsx::proto::{CloseCode, Event};
use wsx::{AcceptOptions, Config, Message};

fn keepalive(interval: u64, timeout: u64) -> Config {
    config(|c| {
        c.protocol.ping_interval = Some(Duration::from_secs(interval));
        c.protocol.pong_timeout = Duration::from_secs(timeout);
        c.protocol.deflate = None;
    })
}

async fn pair(
    config: &Config,
) -> (
    wsx::WebSocket<tokio::io::DuplexStream>,
    RawClient<tokio::io::DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(64 << 10);
    let (ws, peer) = tokio::join!(
        wsx::accept_with(a, config, |_| Ok(AcceptOptions::new())),
        RawClient::handshake(b, None)
    );
    (ws.unwrap(), peer)
}

/// Reads events until a pong, skipping messages; panics on anything else.
async fn next_pong(peer: &mut RawClient<tokio::io::DuplexStream>) -> bytes::Bytes {
    loop {
        match peer.next_event().await {
            Some(Event::Pong(p)) => return p,
            Some(Event::Message(_)) => {}
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

/// The review's case: a handler that only sends. Its `send` calls drive the connection,
/// so the peer's ping is answered, the server's keepalive ping goes out when the peer is
/// quiet, and a peer that then never answers fails the connection with 1011, reported to
/// the sender.
#[tokio::test(start_paused = true)]
async fn a_send_only_loop_answers_pings_and_runs_keepalive() {
    let (mut ws, mut peer) = pair(&keepalive(10, 5)).await;
    let t0 = Instant::now();
    let server = tokio::spawn(async move {
        let mut sent = 0u32;
        loop {
            if let Err(e) = ws.send(format!("tick {sent}")).await {
                return (sent, e, ws);
            }
            sent += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    peer.conn.ping(b"anyone?").unwrap();
    peer.flush().await.unwrap();
    assert_eq!(&next_pong(&mut peer).await[..], b"anyone?");

    // From now on the peer reads but never writes: no pong for the keepalive ping.
    let mut pinged = false;
    let close = loop {
        match peer.next_event().await {
            Some(Event::Ping(_)) => pinged = true,
            Some(Event::Message(_)) => {}
            Some(Event::Close(frame)) => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(pinged, "the keepalive ping went out from a send-only handler");
    assert_eq!(close.unwrap().code, CloseCode::INTERNAL_ERROR);
    let (sent, error, mut ws) = server.await.unwrap();
    assert_eq!(error.close_code(), Some(CloseCode::INTERNAL_ERROR), "{error}");
    let elapsed = t0.elapsed();
    // The peer's last sign of life was its ping at t0: the keepalive ping goes out one
    // to two intervals later (activity is checked when an interval ends), the pong
    // timeout follows, and the next send notices within its 500 ms sleep.
    assert!(
        elapsed >= Duration::from_secs(15) && elapsed < Duration::from_secs(26),
        "failed after {elapsed:?} and {sent} messages"
    );
    // Told once; after that the connection is simply closed.
    assert!(matches!(ws.send("late").await, Err(wsx::Error::Closed)));
    assert!(ws.recv().await.is_none());
}

/// A spawned connection whose reader was dropped and whose writer sits unused: the
/// driver task alone answers pings, pings a quiet peer and keeps it while it answers,
/// discards what the peer sends, and fails it with 1011 once it stops answering.
#[tokio::test(start_paused = true)]
async fn a_spawned_connection_lives_while_nobody_calls_anything() {
    let (ws, mut peer) = pair(&keepalive(10, 5)).await;
    let (reader, writer) = ws.spawn();
    drop(reader);

    peer.send("nobody reads this").await.unwrap();
    peer.conn.ping(b"one").unwrap();
    peer.flush().await.unwrap();
    assert_eq!(&next_pong(&mut peer).await[..], b"one");

    // Ten intervals of a peer that answers keepalive pings, and nothing else.
    let mut pings = 0;
    let until = Instant::now() + Duration::from_secs(100);
    while let Ok(event) = tokio::time::timeout_at(until, peer.next_event()).await {
        match event {
            Some(Event::Ping(_)) => {
                pings += 1;
                peer.flush().await.unwrap(); // the pong
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 6, "{pings} keepalive pings in 100 s");
    assert_eq!(writer.queued_bytes(), 0);

    // Silence: failed with 1011 by the driver.
    let close = peer.expect_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::INTERNAL_ERROR);
    let mut writer = writer;
    assert!(writer.try_send("too late").is_err());
}

/// Clones of a spawned connection's writer send from several tasks at once; every
/// message arrives whole and each task's in order, while the reader receives the peer's
/// messages in order.
#[tokio::test]
async fn writer_clones_send_from_many_tasks() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let ws = support::accept_one(&listener, &support::plain_config())
            .await
            .unwrap();
        let (mut reader, writer) = ws.spawn();
        let tasks: Vec<_> = (0..3)
            .map(|t| {
                let mut w = writer.clone();
                tokio::spawn(async move {
                    for i in 0..200 {
                        let text = format!("{t}:{i}");
                        if i % 2 == 0 {
                            w.send(text).await.unwrap();
                        } else {
                            // try_send with a retry: the driver writes it.
                            while let Err(wsx::Error::QueueFull) = w.try_send(text.clone()) {
                                tokio::task::yield_now().await;
                            }
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut got = Vec::new();
        while let Some(m) = reader.recv().await {
            got.push(m.unwrap());
        }
        got
    });

    let mut client = support::connect(addr).await;
    for i in 0..100 {
        client.feed(format!("c{i}")).await.unwrap();
    }
    client.flush().await.unwrap();
    let mut next = [0usize; 3];
    while next.iter().sum::<usize>() < 600 {
        let m = within("a message", client.recv()).await.unwrap().unwrap();
        let text = m.as_text().unwrap().to_owned();
        let (t, i) = text.split_once(':').unwrap();
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[t], "task {t} out of order");
        next[t] += 1;
    }
    client.close(None).await.unwrap();
    assert!(within("close", client.recv()).await.is_none());
    let got = within("server", server).await.unwrap();
    let expected: Vec<_> = (0..100).map(|i| Message::text(format!("c{i}"))).collect();
    assert_eq!(got, expected);
}

/// When every handle of a spawned connection is gone, the driver closes it with 1000.
#[tokio::test]
async fn dropping_every_handle_closes_normally() {
    let (ws, mut peer) = pair(&support::plain_config()).await;
    let (reader, writer) = ws.spawn();
    let second = writer.clone();
    drop(reader);
    drop(writer);
    drop(second);
    let close = within("close", peer.expect_close()).await.expect("a code");
    assert_eq!(close.code, CloseCode::NORMAL);
}

/// Messages that arrive while the application only sends wait for `recv`, bounded by
/// `receive_queue_limit`: past it the server stops reading (the peer's writes stall), and
/// once the application receives, every message arrives, in order.
#[tokio::test]
async fn messages_wait_bounded_while_the_application_sends() {
    let cfg = config(|c| {
        c.receive_queue_limit = 16 << 10;
        c.protocol.deflate = None;
    });
    let (mut ws, peer) = pair(&cfg).await;
    let RawClient { io, mut conn, .. } = peer;
    let (mut rd, mut wr) = tokio::io::split(io);
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(1..) = rd.read(&mut buf).await {}
    });
    // 4 MiB of 1 KiB messages: far more than the inbox, the pipe and the socket hold.
    for i in 0..4096u32 {
        let mut payload = vec![0u8; 1024];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        conn.send(Message::binary(payload)).unwrap();
    }
    let flood = conn.take_output();
    let writer = tokio::spawn(async move {
        wr.write_all(&flood).await.unwrap();
        wr
    });
    // The application sends for a while and never receives.
    for i in 0..50 {
        ws.send(format!("out {i}")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        !writer.is_finished(),
        "the server took 4 MiB in without anyone receiving"
    );
    // Now it receives: all 4096, in order.
    for i in 0..4096u32 {
        let m = within("a message", ws.recv()).await.unwrap().unwrap();
        let Message::Binary(b) = m else {
            panic!("binary expected")
        };
        assert_eq!(u32::from_be_bytes(b[..4].try_into().unwrap()), i);
    }
    within("the peer's writes complete", writer).await.unwrap();
    drop(ws);
    within("drain", drain).await.unwrap();
}

/// `probe_rtt` sends a timed ping; the pong sets `rtt()` to the round trip.
#[tokio::test(start_paused = true)]
async fn probe_rtt_measures_the_round_trip() {
    let (mut ws, mut peer) = pair(&support::plain_config()).await;
    assert_eq!(ws.rtt(), None);
    ws.probe_rtt().await.unwrap();
    assert!(matches!(peer.next_event().await, Some(Event::Ping(_))));
    tokio::time::sleep(Duration::from_millis(40)).await;
    peer.flush().await.unwrap(); // the pong, 40 ms later
    ws.flush().await.unwrap(); // any call takes it in
    assert_eq!(ws.rtt(), Some(Duration::from_millis(40)));
}

/// The review's reproduction of item 2: a server that sends its close frame and then
/// keeps sending. The client discards everything after the close and closes TCP itself
/// once the close timeout runs out, whatever the server does.
#[tokio::test]
async fn input_after_the_close_frame_is_discarded_and_the_wait_bounded() {
    let (listener, addr) = listen().await;
    let flooded = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = wsx::accept(tcp).await.unwrap();
        ws.close(None).await.unwrap();
        // Underneath the WebSocket: garbage, as fast as the client takes it.
        let tcp = ws.get_ref();
        let junk = vec![0xffu8; 1 << 20];
        let mut total = 0usize;
        loop {
            tcp.writable().await.unwrap();
            match tcp.try_write(&junk) {
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return total,
            }
        }
    });
    let mut cfg = support::plain_config();
    cfg.protocol.close_timeout = Duration::from_secs(1);
    let mut client = support::client(&format!("ws://{addr}/"))
        .config(cfg)
        .connect()
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    assert!(within("end of stream", client.recv()).await.is_none());
    assert!(t0.elapsed() < Duration::from_secs(10));
    drop(client);
    let total = within("the flood ends", flooded).await.unwrap();
    eprintln!("the client took in and discarded {} MiB", total >> 20);
}
