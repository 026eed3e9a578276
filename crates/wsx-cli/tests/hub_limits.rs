//! `wsx serve`'s limits, end to end:
//!
//! - the rate limit (`--rate-limit 5 --rate-burst 5`): the sixth quick publish is refused
//!   with `rate_limited`, and a client that keeps flooding is closed with 4029;
//! - a 2 MiB message: the WebSocket is closed with 1009, `POST /api/publish` and
//!   `POST /emulation` answer 413;
//! - malformed JSON and unknown types are answered with errors and the connection goes on;
//! - `--max-connections-per-user 2`: the third connection of a user gets 429, on any
//!   transport;
//! - a slow consumer — a raw TCP WebSocket client that never reads — is cut off with 4008
//!   (`--outgoing-queue 65536 --slow-consumer-timeout 2`) while a fast subscriber on the
//!   same channel receives every message;
//! - `--max-subscriptions 2`: a third channel is refused with `too_large`, and room made
//!   by an unsubscribe can be used again.

use wsx_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::STEP_TIMEOUT;
use support::hub::{Driver, HubServer, PollSession, RawWs, Sse, WsEvent, publish};
use support::json::Json;

fn serve(flags: &[&str]) -> HubServer {
    HubServer::start(env!("CARGO_BIN_EXE_wsx"), flags)
}

#[test]
fn the_sixth_quick_publish_is_rate_limited_and_a_flood_is_closed_with_4029() {
    let hub = serve(&["--rate-limit", "5", "--rate-burst", "5"]);
    for mut d in [Driver::python(), Driver::node()] {
        d.open("c", &hub.ws_url("user=flooder"));
        d.repeat("c", 6, r#"{"type":"publish","channel":"r","data":{i},"id":{i}}"#);
        for id in 0..5 {
            let e = d.recv("c");
            assert_eq!(
                (e["type"].as_str(), e["id"].as_u64()),
                (Some("ack"), Some(id)),
                "{e:?}"
            );
        }
        let e = d.recv("c");
        assert_eq!(e["type"].as_str(), Some("error"), "the sixth: {e:?}");
        assert_eq!(e["code"].as_str(), Some("rate_limited"), "{e:?}");
        assert_eq!(e["id"].as_u64(), Some(5), "{e:?}");
        // Sends count too, and flooding on is closed.
        d.repeat("c", 100, r#"{"type":"send","to":["x"],"data":{i}}"#);
        let (code, _, before) = d.closed("c", STEP_TIMEOUT);
        assert_eq!(code, 4029, "the close code for a flood");
        assert!(
            before.iter().all(|t| t.contains("rate_limited")),
            "only refusals before the close: {before:?}"
        );
    }
    assert!(hub.metric("wsx_disconnects_total{code=\"4029\"}").unwrap_or(0.0) >= 2.0);
}

#[test]
fn a_two_mib_message_closes_the_websocket_with_1009_and_the_api_answers_413() {
    let hub = serve(&[]);
    const BIG: usize = 2 << 20;
    let mut py = Driver::python();
    py.open("c", &hub.ws_url("user=big"));
    py.publish_big("c", "room", BIG);
    let (code, _, _) = py.closed("c", STEP_TIMEOUT);
    assert_eq!(code, 1009, "python: the close code for a message over the limit");
    let mut node = Driver::node();
    node.open("c", &hub.ws_url("user=big"));
    node.publish_big("c", "room", BIG);
    let (code, _, _) = node.closed("c", STEP_TIMEOUT);
    assert_eq!(code, 1009, "node: the close code for a message over the limit");

    let body = format!(r#"{{"channel":"room","data":"{}"}}"#, "x".repeat(BIG));
    let r = hub.post("/api/publish", &body);
    assert_eq!(r.status, 413, "POST /api/publish of 2 MiB: {}", r.text());
    assert_eq!(r.json()["error"]["code"].as_str(), Some("too_large"));
    let r = hub.post(
        "/api/send",
        &format!(r#"{{"to":["a"],"data":"{}"}}"#, "x".repeat(BIG)),
    );
    assert_eq!(r.status, 413, "POST /api/send of 2 MiB");
    let (poll, _) = PollSession::start(hub.addr(), "user=big").unwrap();
    let r = poll.emulate(&format!(
        r#"{{"type":"publish","channel":"room","data":"{}"}}"#,
        "x".repeat(BIG)
    ));
    assert_eq!(r.status, 413, "POST /emulation of 2 MiB");
    // Nothing of it was published; just under the limit is fine.
    let h = hub.get("/api/history/room").json();
    assert!(h["messages"].as_array().is_empty(), "{h:?}");
    let r = hub.post(
        "/api/publish",
        &format!(r#"{{"channel":"room","data":"{}"}}"#, "x".repeat(1000 << 10)),
    );
    assert_eq!(r.status, 200, "a 1000 KiB publish");
}

#[test]
fn malformed_json_and_unknown_types_get_errors_and_the_connection_goes_on() {
    let hub = serve(&[]);
    for mut d in [Driver::python(), Driver::node()] {
        d.open("c", &hub.ws_url("user=sloppy"));
        let cases = [
            (r#"{not json"#, "bad_request", None),
            (r#"[1,2,3]"#, "bad_request", None),
            (r#""just a string""#, "bad_request", None),
            (r#"{"id":1}"#, "bad_request", Some(1)),
            (r#"{"type":"subscribe","id":2}"#, "bad_request", Some(2)),
            (
                r#"{"type":"subscribe","channel":"a b","id":3}"#,
                "bad_request",
                Some(3),
            ),
            (r#"{"type":"send","to":[],"id":4}"#, "bad_request", Some(4)),
            (r#"{"type":"dance","id":5}"#, "unknown_type", Some(5)),
            (
                r#"{"type":"unsubscribe","channel":"never","id":6}"#,
                "not_subscribed",
                Some(6),
            ),
        ];
        for (text, code, id) in cases {
            d.send("c", text);
            let e = d.recv("c");
            assert_eq!(e["type"].as_str(), Some("error"), "{text}: {e:?}");
            assert_eq!(e["code"].as_str(), Some(code), "{text}: {e:?}");
            assert_eq!(e["id"].as_u64(), id, "{text}: {e:?}");
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e:?}");
        }
        d.send("c", r#"{"type":"subscribe","channel":"ok","id":"fine"}"#);
        let ack = d.recv("c");
        assert_eq!(
            (ack["type"].as_str(), ack["id"].as_str()),
            (Some("ack"), Some("fine")),
            "still working: {ack:?}"
        );
    }
}

#[test]
fn a_subscribe_past_max_subscriptions_is_refused_with_too_large() {
    let hub = serve(&["--max-subscriptions", "2"]);
    let mut d = Driver::python();
    d.open("c", &hub.ws_url("user=collector"));
    let mut request = |text: &str| {
        d.send("c", text);
        let e = d.recv("c");
        let code = e["code"].as_str().map(str::to_owned);
        (e["type"].as_str().unwrap_or_default().to_owned(), code)
    };
    let ack = || ("ack".to_owned(), None);
    for ch in ["a", "b"] {
        let r = request(&format!(r#"{{"type":"subscribe","channel":"{ch}","id":1}}"#));
        assert_eq!(r, ack(), "subscribe {ch}");
    }
    let refused = request(r#"{"type":"subscribe","channel":"c","id":2}"#);
    assert_eq!(refused, ("error".to_owned(), Some("too_large".to_owned())));
    // Subscribing again to one it has is not a new subscription.
    assert_eq!(request(r#"{"type":"subscribe","channel":"b","id":3}"#), ack());
    assert_eq!(request(r#"{"type":"unsubscribe","channel":"a","id":4}"#), ack());
    assert_eq!(request(r#"{"type":"subscribe","channel":"c","id":5}"#), ack());
    // The refused channel really was not subscribed: a publish to a reaches nobody here,
    // one to c arrives.
    hub.publish("a", r#""not for you""#);
    hub.publish("c", r#""for you""#);
    let m = d.recv("c");
    assert_eq!(
        (m["type"].as_str(), m["channel"].as_str()),
        (Some("message"), Some("c")),
        "{m:?}"
    );
}

#[test]
fn the_third_connection_of_a_user_gets_429() {
    let hub = serve(&["--max-connections-per-user", "2"]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("one", &hub.ws_url("user=alice"));
    node.open("two", &hub.ws_url("user=alice"));
    assert_eq!(
        py.try_open("three", &hub.ws_url("user=alice"), None),
        WsEvent::Refused(429)
    );
    assert_eq!(
        node.try_open("three", &hub.ws_url("user=alice"), None),
        WsEvent::Refused(429)
    );
    let sse = Sse::open(hub.addr(), "/sse?user=alice", &[]).expect_err("a third over SSE");
    assert_eq!(sse.status, 429);
    let poll = PollSession::start(hub.addr(), "user=alice").expect_err("a third over poll");
    assert_eq!(poll.status, 429);
    // Someone else is not limited by alice.
    py.open("bob", &hub.ws_url("user=bob"));
    // Once one of alice's closes, she may connect again.
    py.close("one", 1000);
    py.closed("one", STEP_TIMEOUT);
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut n = 0;
    loop {
        n += 1;
        match py.try_open(&format!("again{n}"), &hub.ws_url("user=alice"), None) {
            WsEvent::Open => break,
            WsEvent::Refused(429) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => panic!("reconnecting after a close: {other:?}"),
        }
    }
}

#[test]
fn a_consumer_that_never_reads_is_closed_with_4008_while_a_fast_one_gets_everything() {
    let hub = serve(&[
        "--outgoing-queue",
        "65536",
        "--slow-consumer-timeout",
        "2",
        "--history-size",
        "100000",
    ]);
    // The slow one: a raw client that subscribes, then never reads.
    let mut slow = RawWs::connect(hub.addr(), "/ws?user=slow");
    slow.send_text(r#"{"type":"subscribe","channel":"firehose"}"#);
    let mut py = Driver::python();
    py.open("fast", &hub.ws_url("user=fast"));
    py.send("fast", r#"{"type":"subscribe","channel":"firehose","id":1}"#);
    assert_eq!(py.recv("fast")["type"].as_str(), Some("ack"));
    // The slow one's subscription is in place once presence lists it.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !hub.get("/api/presence/firehose").text().contains("\"slow\"") {
        assert!(Instant::now() < deadline, "the slow client never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Publish 4 KiB messages until the hub gives up on the slow one (bounded).
    let addr = hub.addr();
    let published = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (published, stop) = (published.clone(), stop.clone());
        std::thread::spawn(move || {
            let pad = "p".repeat(4096);
            for n in 0..20_000u64 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                publish(addr, "firehose", &format!(r#"{{"n":{n},"pad":"{pad}"}}"#));
                published.store(n + 1, Ordering::SeqCst);
            }
        })
    };
    // The fast one keeps reading all along (the driver reads its socket on its own;
    // this loop takes the lines off the pipe).
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = hub.metric("wsx_slow_consumer_total").is_some_and(|v| v >= 1.0);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow consumer was never closed ({} published)",
            published.load(Ordering::SeqCst)
        );
        // Read what has arrived by now.
        let upto = published.load(Ordering::SeqCst);
        while next < upto {
            let e = py.recv("fast");
            assert_eq!(e["type"].as_str(), Some("message"), "the fast one: {e:?}");
            assert_eq!(e["data"]["n"].as_u64(), Some(next), "the fast one, in order");
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    publisher.join().expect("the publisher");
    let total = published.load(Ordering::SeqCst);
    eprintln!("the slow consumer was closed after {total} messages of 4 KiB");

    // The slow one now reads: what was queued, then the close, 4008.
    let (code, texts) = slow.until_close(STEP_TIMEOUT);
    assert_eq!(
        code,
        Some(4008),
        "the slow consumer's close code (after {texts} messages)"
    );
    assert!((texts as u64) < total, "the slow one did not get everything");
    // The fast one got every message, in order, and nothing else.
    while next < total {
        let e = py.recv("fast");
        assert_eq!(e["type"].as_str(), Some("message"), "the fast one: {e:?}");
        assert_eq!(e["data"]["n"].as_u64(), Some(next), "the fast one, in order");
        next += 1;
    }
    hub.wait_metric("wsx_disconnects_total{code=\"4008\"}", 1.0, STEP_TIMEOUT);
    // It is still connected and live.
    hub.publish("firehose", r#"{"n":"last"}"#);
    assert_eq!(py.recv("fast")["data"]["n"].as_str(), Some("last"));
}

#[test]
fn a_consumer_that_reads_slowly_but_steadily_gets_overflow_gaps_and_is_not_closed() {
    let hub = serve(&[
        "--outgoing-queue",
        "65536",
        "--slow-consumer-timeout",
        "2",
        "--history-size",
        "100",
    ]);
    let mut slow = RawWs::connect(hub.addr(), "/ws?user=slow");
    slow.send_text(r#"{"type":"subscribe","channel":"firehose","id":1}"#);
    for want in ["welcome", "ack"] {
        let frame = slow.read_frame().expect("the first events");
        let e = Json::parse(&String::from_utf8_lossy(&frame.payload));
        assert_eq!(e["type"].as_str(), Some(want), "{e:?}");
    }
    let addr = hub.addr();
    let publisher = std::thread::spawn(move || {
        // Publish as fast as the API answers, for a few seconds (bounded in count too).
        let pad = "p".repeat(4096);
        let until = Instant::now() + Duration::from_secs(3);
        let mut offsets = Vec::new();
        while Instant::now() < until && offsets.len() < 100_000 {
            let n = offsets.len();
            offsets.push(publish(
                addr,
                "firehose",
                &format!(r#"{{"n":{n},"pad":"{pad}"}}"#),
            ));
        }
        publish(addr, "firehose", r#"{"n":"end"}"#);
        offsets
    });
    // Read steadily, one frame every 3 ms: slower than the publisher, but never stopped.
    let (mut messages, mut gaps) = (0u64, 0u64);
    let mut expect_next = 0u64;
    let mut gap_resume: Option<String> = None;
    let mut offsets_seen: Vec<(u64, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let outcome = loop {
        assert!(Instant::now() < deadline, "the end never came");
        let Some(frame) = slow.read_frame() else {
            break "the connection ended".to_owned();
        };
        if frame.opcode == 8 {
            let code = frame.payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            break format!("closed with {code:?}");
        }
        if frame.opcode != 1 {
            continue;
        }
        let e = Json::parse(&String::from_utf8_lossy(&frame.payload));
        match e["type"].as_str() {
            Some("gap") => {
                assert_eq!(e["reason"].as_str(), Some("overflow"), "{e:?}");
                assert_eq!(e["channel"].as_str(), Some("firehose"), "{e:?}");
                gaps += 1;
                gap_resume = e["offset"].as_str().map(str::to_owned);
            }
            Some("message") if e["data"]["n"].as_str() == Some("end") => break "end".to_owned(),
            Some("message") => {
                let n = e["data"]["n"].as_u64().expect("n");
                if n != expect_next {
                    // A hole only ever follows a gap that says where delivery resumes.
                    assert!(
                        gap_resume.is_some(),
                        "message {n} after {expect_next}: a silent loss"
                    );
                    offsets_seen.push((n, gap_resume.take().unwrap()));
                } else {
                    gap_resume = None;
                }
                expect_next = n + 1;
                messages += 1;
            }
            _ => panic!("the slow reader got {e:?}"),
        }
        std::thread::sleep(Duration::from_millis(3));
    };
    let offsets = publisher.join().unwrap();
    eprintln!(
        "published {}; the slow reader got {messages} messages and {gaps} overflow gaps: {outcome}",
        offsets.len()
    );
    assert_eq!(
        outcome, "end",
        "a client that keeps reading is not cut off ({messages} messages, {gaps} gaps)"
    );
    // Each gap's offset is the offset of the message just before the next one delivered.
    for (n, resume) in offsets_seen {
        assert_eq!(
            resume,
            offsets[n as usize - 1],
            "the gap before message {n} resumes right before it"
        );
    }
}

#[test]
fn a_binary_frame_is_answered_with_bad_request_and_a_quiet_client_gets_pings() {
    let hub = serve(&["--ping-interval", "1"]);
    let mut raw = RawWs::connect(hub.addr(), "/ws?user=raw");
    let welcome = raw.read_frame().expect("the welcome");
    assert!(String::from_utf8_lossy(&welcome.payload).contains("welcome"));
    raw.send_frame(0x2, b"\x01\x02");
    let e = raw.read_frame().expect("the answer");
    let e = Json::parse(&String::from_utf8_lossy(&e.payload));
    assert_eq!(e["type"].as_str(), Some("error"), "{e:?}");
    assert_eq!(e["code"].as_str(), Some("bad_request"), "{e:?}");
    // Quiet now: a keepalive ping comes (the client answers it, as clients do).
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "no keepalive ping");
        let f = raw.read_frame().expect("a frame");
        if f.opcode == 0x9 {
            raw.send_frame(0xA, &f.payload);
            break;
        }
    }
    raw.send_text(r#"{"type":"subscribe","channel":"still","id":1}"#);
    let ack = loop {
        let f = raw.read_frame().expect("a frame");
        if f.opcode == 1 {
            break Json::parse(&String::from_utf8_lossy(&f.payload));
        }
    };
    assert_eq!(ack["type"].as_str(), Some("ack"), "{ack:?}");
}

#[test]
fn over_max_connections_any_user_gets_503() {
    let hub = serve(&["--max-connections", "2"]);
    let mut py = Driver::python();
    py.open("a", &hub.ws_url("user=a"));
    let (_poll, _) = PollSession::start(hub.addr(), "user=b").unwrap();
    assert_eq!(
        py.try_open("c", &hub.ws_url("user=c"), None),
        WsEvent::Refused(503)
    );
    let sse = Sse::open(hub.addr(), "/sse?user=d", &[]).expect_err("a third over SSE");
    assert_eq!(sse.status, 503);
    assert!(hub.metric("wsx_refused_total{reason=\"full\"}").unwrap_or(0.0) >= 2.0);
    // The API and health checks are not connections.
    assert_eq!(hub.get("/healthz").status, 200);
    hub.publish("x", "1");
}

#[test]
fn an_sse_stream_that_is_never_read_is_ended_as_a_slow_consumer() {
    use std::io::{Read, Write};
    let hub = serve(&[
        "--outgoing-queue",
        "65536",
        "--slow-consumer-timeout",
        "2",
        "--history-size",
        "100000",
    ]);
    // A raw SSE request: read up to the welcome, then never again.
    let mut tcp = std::net::TcpStream::connect(hub.addr()).unwrap();
    tcp.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
    write!(
        tcp,
        "GET /sse?user=slow HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&head).contains("\"welcome\"") || !head.ends_with(b"\n\n") {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "the SSE stream ended early");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let sid = text
        .split("\"session\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the welcome's session")
        .to_owned();
    let r = support::hub::emulate(hub.addr(), &sid, r#"{"type":"subscribe","channel":"hose"}"#);
    assert_eq!(r.status, 202);
    // A fast SSE reader on the same channel.
    let mut fast = Sse::open(hub.addr(), "/sse?user=fast", &[]).unwrap();
    let fast_sid = fast.next_json()["session"].as_str().unwrap().to_owned();
    support::hub::emulate(
        hub.addr(),
        &fast_sid,
        r#"{"type":"subscribe","channel":"hose","id":1}"#,
    );
    assert_eq!(fast.next_json()["type"].as_str(), Some("ack"));
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !hub.get("/api/presence/hose").text().contains("\"slow\"") {
        assert!(Instant::now() < deadline, "the slow one never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pad = "z".repeat(16 << 10);
    let mut n = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while hub.metric("wsx_slow_consumer_total").unwrap_or(0.0) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the unread SSE stream was never ended ({n} published)"
        );
        for _ in 0..20 {
            hub.publish("hose", &format!(r#"{{"n":{n},"pad":"{pad}"}}"#));
            n += 1;
        }
        // The fast one keeps up.
        for want in n - 20..n {
            let e = fast.next_json();
            assert_eq!(
                e["data"]["n"].as_u64(),
                Some(want),
                "the fast SSE reader, in order"
            );
        }
    }
    hub.wait_metric("wsx_disconnects_total{code=\"4008\"}", 1.0, STEP_TIMEOUT);
    // The slow one's stream ends (its last chunk) once it reads what was written.
    let mut rest = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    while !rest.ends_with(b"\r\n0\r\n\r\n") {
        match tcp.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => rest.extend_from_slice(&chunk[..k]),
            Err(e) => panic!("reading the unread stream: {e}"),
        }
    }
    assert!(
        rest.ends_with(b"\r\n0\r\n\r\n"),
        "the stream ended with its last chunk"
    );
    // Its session is gone.
    let r = support::hub::emulate(hub.addr(), &sid, r#"{"type":"presence","channel":"hose"}"#);
    assert_eq!(r.status, 404, "{}", r.text());
}
