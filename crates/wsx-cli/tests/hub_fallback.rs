//! The fallback transports of `wsx serve`, over raw HTTP/1.1:
//!
//! - `/sse`: `text/event-stream`, the first event `welcome`, every event one `data:` line
//!   (even for `data` published with line breaks) with an `id: SESSION:N`;
//!   `Last-Event-ID` resumes a dropped stream with nothing lost or repeated;
//! - `/poll`: answers at once with an array starting with `welcome`, then holds a request
//!   up to `--poll-timeout` and answers `[]`; a held request is answered as soon as an
//!   event comes; a lost response is fetched again by repeating the old cursor;
//! - `POST /emulation` with one object and with an array: 202, commands applied in
//!   order, their acks and errors on the session's stream;
//! - an unknown session: 404 on `/poll` and `/emulation`;
//! - the `disconnect` command ends a fallback session at once (and its user's presence
//!   after the grace, not after `session_timeout`), and closes a WebSocket with 1000.

use wsx_test_support as support;

use std::time::Duration;
use support::hub::{Driver, HubServer, PollSession, Sse, emulate};
use support::json::Json;

fn serve(flags: &[&str]) -> HubServer {
    HubServer::start(env!("CARGO_BIN_EXE_wsx"), flags)
}

fn types(events: &[Json]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap_or("?")).collect()
}

#[test]
fn sse_starts_with_welcome_and_every_event_is_one_data_line_with_an_id() {
    let hub = serve(&[]);
    let mut sse = Sse::open(hub.addr(), "/sse?user=alice", &[]).expect("SSE");
    assert!(
        sse.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        sse.headers
    );
    let first = sse.event();
    let welcome = first.json();
    assert_eq!(welcome["type"].as_str(), Some("welcome"));
    assert_eq!(welcome["user"].as_str(), Some("alice"));
    let sid = welcome["session"].as_str().expect("a session").to_owned();
    let mut ids = vec![first.id().to_owned()];

    let r = emulate(
        hub.addr(),
        &sid,
        r#"{"type":"subscribe","channel":"room","id":1}"#,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let ack = sse.event();
    assert_eq!(ack.json()["type"].as_str(), Some("ack"));
    ids.push(ack.id().to_owned());
    // Data with line breaks still makes one data: line (compacted, strings kept).
    let pretty = "{\n  \"text\": \"two\\nlines\",\n  \"list\": [1,\n 2]\n}";
    hub.publish("room", pretty);
    let m = sse.event();
    assert_eq!(m.field("data").len(), 1, "{:?}", m.lines);
    let e = m.json();
    assert_eq!(e["type"].as_str(), Some("message"));
    assert_eq!(e["data"]["text"].as_str(), Some("two\nlines"));
    assert_eq!(e["data"]["list"], Json::parse("[1,2]"));
    ids.push(m.id().to_owned());
    for n in 0..5 {
        hub.publish("room", &n.to_string());
        let m = sse.event();
        assert_eq!(m.json()["data"].as_u64(), Some(n));
        assert_eq!(m.field("data").len(), 1, "{:?}", m.lines);
        ids.push(m.id().to_owned());
    }
    // Every id is SESSION:N with N counting up.
    let mut last = 0;
    for id in &ids {
        let (s, n) = id
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("id {id:?} is not SESSION:N"));
        assert_eq!(s, sid, "the id names the session");
        let n: u64 = n.parse().unwrap_or_else(|_| panic!("id {id:?}"));
        assert!(n > last, "ids count up: {ids:?}");
        last = n;
    }
}

#[test]
fn last_event_id_resumes_a_dropped_sse_stream() {
    let hub = serve(&[]);
    let mut sse = Sse::open(hub.addr(), "/sse?user=alice", &[]).expect("SSE");
    let sid = sse.next_json()["session"].as_str().unwrap().to_owned();
    emulate(
        hub.addr(),
        &sid,
        r#"{"type":"subscribe","channel":"room","id":1}"#,
    );
    assert_eq!(sse.next_json()["type"].as_str(), Some("ack"));
    for n in 0..3 {
        hub.publish("room", &n.to_string());
    }
    let mut last_id = String::new();
    for n in 0..2 {
        let m = sse.event();
        assert_eq!(m.json()["data"].as_u64(), Some(n));
        last_id = m.id().to_owned();
    }
    drop(sse); // the network drops it after message 1
    for n in 3..5 {
        hub.publish("room", &n.to_string());
    }
    let mut back = Sse::open(
        hub.addr(),
        "/sse?user=alice",
        &[("Last-Event-ID", last_id.as_str())],
    )
    .expect("SSE with Last-Event-ID");
    for n in 2..5 {
        let m = back.event();
        let e = m.json();
        assert_eq!(
            e["type"].as_str(),
            Some("message"),
            "the same session goes on: {e:?}"
        );
        assert_eq!(e["data"].as_u64(), Some(n), "nothing lost or repeated");
        assert!(m.id().starts_with(&format!("{sid}:")), "{:?}", m.lines);
    }
    // The same session: commands posted to it still work.
    emulate(hub.addr(), &sid, r#"{"type":"presence","channel":"room","id":2}"#);
    let ack = back.next_json();
    assert_eq!((ack["type"].as_str(), ack["id"].as_u64()), (Some("ack"), Some(2)));

    // Another user cannot take the session over with its id.
    let mut other = Sse::open(
        hub.addr(),
        "/sse?user=mallory",
        &[("Last-Event-ID", last_id.as_str())],
    )
    .expect("SSE");
    let w = other.next_json();
    assert_eq!(w["type"].as_str(), Some("welcome"), "a new session: {w:?}");
    assert_eq!(w["user"].as_str(), Some("mallory"));
    assert_ne!(w["session"].as_str(), Some(sid.as_str()));
    // An unknown session in Last-Event-ID: a new session, with a welcome.
    let mut fresh = Sse::open(hub.addr(), "/sse?user=alice", &[("Last-Event-ID", "nope:3")]).expect("SSE");
    assert_eq!(fresh.next_json()["type"].as_str(), Some("welcome"));
}

#[test]
fn poll_answers_at_once_with_welcome_then_holds_until_the_poll_timeout() {
    let hub = serve(&["--poll-timeout", "2"]);
    let r = hub.get("/poll?user=alice");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let events = r.json();
    assert_eq!(events[0]["type"].as_str(), Some("welcome"), "{events:?}");
    let sid = r.header("x-wsx-session").expect("X-Wsx-Session").to_owned();
    assert_eq!(events[0]["session"].as_str(), Some(sid.as_str()));
    assert!(r.header("x-wsx-cursor").is_some(), "{:?}", r.headers);

    let (mut poll, _) = PollSession::start(hub.addr(), "user=bob").unwrap();
    // Nothing to say: held, then an empty array.
    assert!(poll.poll().is_empty(), "an empty array on timeout");
    assert!(poll.poll().is_empty(), "and again");
    // A held poll is answered by the first event.
    poll.emulate(r#"{"type":"subscribe","channel":"room","id":1}"#);
    let acked = poll.poll_until(|e| e["type"].as_str() == Some("ack"));
    assert_eq!(types(&acked), ["ack"]);
    let addr = hub.addr();
    let waiting = std::thread::spawn(move || {
        let events = poll.poll_until(|e| e["type"].as_str() == Some("message"));
        (poll, events)
    });
    // Give the poll a moment to be held (not asserted: it works either way).
    std::thread::sleep(Duration::from_millis(200));
    support::hub::publish(addr, "room", r#""while held""#);
    let (_, events) = waiting.join().expect("the held poll");
    assert_eq!(events.last().unwrap()["data"].as_str(), Some("while held"));
}

#[test]
fn emulation_takes_one_object_or_an_array_in_order_and_answers_202() {
    let hub = serve(&["--poll-timeout", "2"]);
    let (mut poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    let r = poll.emulate(r#"{"type":"subscribe","channel":"room","id":1}"#);
    assert_eq!(r.status, 202, "one object: {}", r.text());
    let r = poll.emulate(
        r#"[{"type":"publish","channel":"room","data":"a","id":2},
            {"type":"publish","channel":"room","data":"b","id":3},
            {"type":"dance","id":4},
            {"type":"presence","channel":"room","id":5},
            {"type":"unsubscribe","channel":"room","id":6},
            {"type":"publish","channel":"room","data":"c","id":7}]"#,
    );
    assert_eq!(r.status, 202, "an array: {}", r.text());
    let events = poll.poll_until(|e| e["id"].as_u64() == Some(7));
    let answers: Vec<(String, u64)> = events
        .iter()
        .filter(|e| !e["id"].is_null())
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["id"].as_u64().unwrap()))
        .collect();
    let want: Vec<(String, u64)> = [
        ("ack", 1),
        ("ack", 2),
        ("ack", 3),
        ("error", 4),
        ("ack", 5),
        ("ack", 6),
        ("ack", 7),
    ]
    .into_iter()
    .map(|(t, i)| (t.to_owned(), i))
    .collect();
    assert_eq!(answers, want, "answered in order: {events:?}");
    let error = events.iter().find(|e| e["id"].as_u64() == Some(4)).unwrap();
    assert_eq!(error["code"].as_str(), Some("unknown_type"));
    // a and b, in order, arrived while subscribed; c after the unsubscribe did not.
    let data_of = |events: &[Json]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["type"].as_str() == Some("message"))
            .filter_map(|e| e["data"].as_str().map(str::to_owned))
            .collect()
    };
    let mut messages = data_of(&events);
    // A message may trail its ack: take what is still on the way.
    while messages.len() < 2 {
        let more = poll.poll();
        assert!(!more.is_empty(), "the messages a and b: {events:?}");
        messages.extend(data_of(&more));
    }
    assert_eq!(messages, ["a", "b"]);
    let h = hub.get("/api/history/room").json();
    let published: Vec<&str> = h["messages"]
        .as_array()
        .iter()
        .filter_map(|m| m["data"].as_str())
        .collect();
    assert_eq!(published, ["a", "b", "c"], "c was published, just not to us");

    // Bodies that are not commands.
    assert_eq!(poll.emulate("{not json").status, 400);
    assert_eq!(poll.emulate("").status, 400);
    // The same over SSE: acks on the stream.
    let mut sse = Sse::open(hub.addr(), "/sse?user=bob", &[]).unwrap();
    let sid = sse.next_json()["session"].as_str().unwrap().to_owned();
    let r = emulate(
        hub.addr(),
        &sid,
        r#"[{"type":"subscribe","channel":"x","id":"a"},{"type":"subscribe","channel":"y","id":"b"}]"#,
    );
    assert_eq!(r.status, 202);
    assert_eq!(sse.next_json()["id"].as_str(), Some("a"));
    assert_eq!(sse.next_json()["id"].as_str(), Some("b"));
}

#[test]
fn an_unknown_session_is_404_on_poll_and_emulation() {
    let hub = serve(&[]);
    let r = hub.get("/poll?session=no-such-session");
    assert_eq!(r.status, 404, "{}", r.text());
    let r = emulate(
        hub.addr(),
        "no-such-session",
        r#"{"type":"presence","channel":"x"}"#,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    // An SSE session is not a poll session.
    let mut sse = Sse::open(hub.addr(), "/sse?user=alice", &[]).unwrap();
    let sid = sse.next_json()["session"].as_str().unwrap().to_owned();
    assert_eq!(hub.get(&format!("/poll?session={sid}")).status, 404);
}

#[test]
fn a_lost_poll_response_is_fetched_again_with_the_old_cursor() {
    let hub = serve(&["--poll-timeout", "2"]);
    let (mut poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    poll.emulate(r#"{"type":"subscribe","channel":"room","id":1}"#);
    poll.poll_until(|e| e["type"].as_str() == Some("ack"));
    let before = poll.cursor;
    for n in 0..3 {
        hub.publish("room", &n.to_string());
    }
    // The response to this request is "lost": the client never saw it.
    let (lost, lost_cursor) = poll.poll_after(before);
    assert!(!lost.is_empty());
    assert!(lost_cursor > before);
    // Asking again with the old cursor gets the same events (and any that came since).
    let (again, cursor) = poll.poll_after(before);
    assert!(again.len() >= lost.len(), "{again:?}");
    assert_eq!(again[..lost.len()], lost[..], "the same events again");
    assert!(cursor >= lost_cursor);
    let mut seen: Vec<u64> = again.iter().filter_map(|e| e["data"].as_u64()).collect();
    poll.cursor = cursor;
    while seen.len() < 3 {
        let (more, c) = poll.poll_after(poll.cursor);
        poll.cursor = c;
        seen.extend(more.iter().filter_map(|e| e["data"].as_u64()));
    }
    assert_eq!(seen, [0, 1, 2]);
    // Confirmed events are gone; the next ones come.
    hub.publish("room", "3");
    let next = poll.poll_until(|e| e["type"].as_str() == Some("message"));
    assert_eq!(
        next.iter().filter_map(|e| e["data"].as_u64()).collect::<Vec<_>>(),
        [3]
    );
}

#[test]
fn a_last_event_id_older_than_what_is_kept_starts_a_new_session() {
    let hub = serve(&[]);
    let mut sse = Sse::open(hub.addr(), "/sse?user=alice", &[]).expect("SSE");
    let welcome = sse.event();
    let sid = welcome.json()["session"].as_str().unwrap().to_owned();
    let first_id = welcome.id().to_owned();
    emulate(
        hub.addr(),
        &sid,
        r#"{"type":"subscribe","channel":"room","id":1}"#,
    );
    assert_eq!(sse.next_json()["type"].as_str(), Some("ack"));
    // 300 events written: more than the 256 an SSE session keeps for resuming.
    for n in 0..300 {
        hub.publish("room", &n.to_string());
    }
    for n in 0..300 {
        assert_eq!(sse.next_json()["data"].as_u64(), Some(n));
    }
    drop(sse);
    let mut back = Sse::open(
        hub.addr(),
        "/sse?user=alice",
        &[("Last-Event-ID", first_id.as_str())],
    )
    .expect("SSE");
    let w = back.next_json();
    assert_eq!(w["type"].as_str(), Some("welcome"), "a new session: {w:?}");
    assert_ne!(w["session"].as_str(), Some(sid.as_str()));
}

#[test]
fn a_fallback_session_without_a_reader_expires_and_is_then_404() {
    let hub = serve(&[
        "--session-timeout",
        "2",
        "--poll-timeout",
        "1",
        "--presence-grace",
        "1",
    ]);
    let (poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    poll.emulate(r#"{"type":"subscribe","channel":"chat:x","id":1}"#);
    // Nobody polls: the session ends after the session timeout. (`/emulation` does not
    // keep a session alive; it is what we watch.)
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = poll.emulate(r#"{"type":"presence","channel":"chat:x"}"#);
        if r.status == 404 {
            break;
        }
        assert_eq!(r.status, 202, "{}", r.text());
        assert!(std::time::Instant::now() < deadline, "the session never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(poll.poll_raw(None).status, 404, "an expired session on /poll");
    // It left the channel.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !hub.get("/api/presence/chat:x").json()["users"]
        .as_array()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "alice is still present");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn commands_over_emulation_are_rate_limited_and_a_flood_ends_the_session() {
    let hub = serve(&["--rate-limit", "5", "--rate-burst", "5", "--poll-timeout", "2"]);
    let (mut poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    let batch: Vec<String> = (0..6)
        .map(|i| format!(r#"{{"type":"publish","channel":"r","data":{i},"id":{i}}}"#))
        .collect();
    assert_eq!(poll.emulate(&format!("[{}]", batch.join(","))).status, 202);
    let events = poll.poll_until(|e| e["id"].as_u64() == Some(5));
    let answers: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["code"].as_str()))
        .collect();
    assert_eq!(
        answers,
        [
            ("ack", None),
            ("ack", None),
            ("ack", None),
            ("ack", None),
            ("ack", None),
            ("error", Some("rate_limited"))
        ]
    );
    let flood: Vec<String> = (0..50)
        .map(|i| format!(r#"{{"type":"publish","channel":"r","data":{i}}}"#))
        .collect();
    assert_eq!(poll.emulate(&format!("[{}]", flood.join(","))).status, 202);
    // The session ends: its last events, then 404.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = poll.poll_raw(None);
        if r.status == 404 {
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        let events = r.json();
        assert!(
            events
                .as_array()
                .iter()
                .all(|e| e["code"].as_str() == Some("rate_limited")),
            "{events:?}"
        );
        assert!(std::time::Instant::now() < deadline, "the flood was not stopped");
    }
    assert!(hub.metric("wsx_disconnects_total{code=\"4029\"}").unwrap_or(0.0) >= 1.0);
}

#[test]
fn disconnect_ends_a_long_poll_session() {
    let hub = serve(&["--poll-timeout", "2"]);
    let (poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    let r = hub.post("/api/disconnect", r#"{"user":"alice"}"#);
    assert_eq!(r.json()["disconnected"].as_u64(), Some(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while poll.poll_raw(None).status != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the session outlived its disconnect"
        );
    }
    assert_eq!(poll.emulate(r#"{"type":"presence","channel":"x"}"#).status, 404);
}

#[test]
fn the_disconnect_command_ends_a_fallback_session_and_its_presence_at_once() {
    // A session_timeout far beyond the step timeout: the leave below can only come
    // from the disconnect.
    let hub = serve(&["--presence-grace", "1", "--session-timeout", "600"]);
    let mut bob = Driver::python();
    bob.open("bob", &hub.ws_url("user=bob"));
    bob.send("bob", r#"{"type":"subscribe","channel":"chat:x","id":1}"#);
    assert_eq!(bob.recv_type("bob", "ack").0["id"].as_u64(), Some(1));
    let (mut poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    assert_eq!(
        poll.emulate(r#"{"type":"subscribe","channel":"chat:x","id":1}"#)
            .status,
        202
    );
    poll.poll_until(|e| e["type"].as_str() == Some("ack"));
    // bob's own join came first.
    let join = loop {
        let (e, _) = bob.recv_type("bob", "presence");
        if e["user"].as_str() != Some("bob") {
            break e;
        }
    };
    assert_eq!(
        (join["event"].as_str(), join["user"].as_str()),
        (Some("join"), Some("alice"))
    );
    assert_eq!(poll.emulate(r#"{"type":"disconnect"}"#).status, 202);
    let deadline = std::time::Instant::now() + support::STEP_TIMEOUT;
    while poll.poll_raw(None).status != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "the session outlived its disconnect"
        );
    }
    let (leave, _) = bob.recv_type("bob", "presence");
    assert_eq!(
        (leave["event"].as_str(), leave["user"].as_str()),
        (Some("leave"), Some("alice"))
    );
    // Over a WebSocket: the ack, then a close with 1000.
    bob.send("bob", r#"{"type":"disconnect","id":"bye"}"#);
    let (code, _, texts) = bob.closed("bob", support::STEP_TIMEOUT);
    assert_eq!(code, 1000);
    assert!(
        texts.iter().any(|t| t.contains(r#""bye""#)),
        "no ack before the close: {texts:?}"
    );
}

#[test]
fn emulation_takes_all_of_a_batch_or_none_of_it() {
    let hub = serve(&[
        "--poll-timeout",
        "2",
        "--rate-limit",
        "10000",
        "--rate-burst",
        "10000",
    ]);
    let (mut poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    let batch = |n: usize| {
        let items: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"type":"publish","channel":"b","data":{i},"id":{i}}}"#))
            .collect();
        format!("[{}]", items.join(","))
    };
    // Over the 256 commands a session may have waiting: 429, and none of them applied.
    let r = poll.emulate(&batch(300));
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"].as_str(), Some("rate_limited"));
    assert!(hub.get("/api/history/b").json()["messages"].as_array().is_empty());
    assert_eq!(poll.emulate(&batch(10)).status, 202);
    let events = poll.poll_until(|e| e["id"].as_u64() == Some(9));
    assert_eq!(events.len(), 10, "{events:?}");
}

#[test]
fn malformed_fallback_requests_get_400() {
    let hub = serve(&[]);
    let (poll, _) = PollSession::start(hub.addr(), "user=alice").unwrap();
    let r = hub.get(&format!("/poll?session={}&cursor=abc", poll.sid));
    assert_eq!(r.status, 400, "a cursor that is not a number: {}", r.text());
    let r = hub.post("/emulation", r#"{"type":"presence","channel":"x"}"#);
    assert_eq!(r.status, 400, "no session: {}", r.text());
    assert_eq!(hub.request("DELETE", "/poll", &[], b"").status, 405);
}

#[test]
fn cors_preflight_and_headers_for_an_allowed_origin() {
    let hub = serve(&["--allowed-origins", "https://app.example"]);
    let origin = [("Origin", "https://app.example")];
    let pre = hub.request(
        "OPTIONS",
        "/emulation",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert!((200..300).contains(&pre.status), "{}", pre.status);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(
        pre.header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST"))
    );
    let r = hub.request("GET", "/poll?user=alice", &origin, b"");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let exposed = r.header("access-control-expose-headers").unwrap_or_default();
    assert!(
        exposed.contains("X-Wsx-Session") && exposed.contains("X-Wsx-Cursor"),
        "a browser may read the session and cursor headers: {exposed:?}"
    );
    let sid = r.header("x-wsx-session").unwrap().to_owned();
    let r = hub.request(
        "POST",
        &format!("/emulation?session={sid}"),
        &[
            ("Origin", "https://app.example"),
            ("Content-Type", "application/json"),
        ],
        br#"{"type":"subscribe","channel":"c"}"#,
    );
    assert_eq!(r.status, 202);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // Another origin gets no CORS headers.
    let pre = hub.request("OPTIONS", "/poll", &[("Origin", "https://evil.example")], b"");
    assert!(pre.header("access-control-allow-origin").is_none());
}
