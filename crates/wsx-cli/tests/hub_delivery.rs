//! `wsx serve` delivers to exactly whom it should, end to end, with clients we did not
//! write (Python `websockets`, Node `ws`) and raw HTTP for the fallbacks:
//!
//! - a `send` reaches every connection of every listed user — alice's two tabs, one on a
//!   WebSocket and one on SSE (or long-polling) — and nobody else;
//! - a channel message reaches every subscriber on every transport, the publisher too
//!   (it is subscribed), with `from`; one published by `POST /api/publish` has no `from`.
//!
//! "Nobody else" is checked without waiting for silence: after the message under test,
//! the API sends a sentinel to everyone, and the next event each bystander gets must be
//! the sentinel.

use wsx_test_support as support;

use support::hub::{Driver, HubServer, PollSession, Sse, emulate};
use support::json::Json;

fn serve(flags: &[&str]) -> HubServer {
    HubServer::start(env!("CARGO_BIN_EXE_wsx"), flags)
}

/// `POST /api/send` to `to` (JSON list) with `data`; fails unless 200.
fn api_send(hub: &HubServer, to: &str, data: &str) -> Json {
    let r = hub.post("/api/send", &format!(r#"{{"to":{to},"data":{data}}}"#));
    assert_eq!(r.status, 200, "POST /api/send: {}", r.text());
    r.json()
}

fn assert_direct(e: &Json, from: Option<&str>, data: &str, who: &str) {
    assert_eq!(e["type"].as_str(), Some("direct"), "{who}: {e:?}");
    assert_eq!(e["from"].as_str(), from, "{who}: from, in {e:?}");
    assert_eq!(e["data"], Json::parse(data), "{who}: data, in {e:?}");
    assert!(e["offset"].as_str().is_some(), "{who}: an offset, in {e:?}");
}

#[test]
fn send_reaches_every_connection_of_the_listed_users_and_nobody_else() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    // alice: a Python WebSocket and an SSE stream; bob and carol: Node; dave: long-poll.
    let welcome = py.open("alice", &hub.ws_url("user=alice"));
    assert_eq!(welcome["user"].as_str(), Some("alice"));
    let mut alice_sse = Sse::open(hub.addr(), "/sse?user=alice", &[]).expect("alice's SSE");
    assert_eq!(alice_sse.next_json()["type"].as_str(), Some("welcome"));
    node.open("bob", &hub.ws_url("user=bob"));
    node.open("carol", &hub.ws_url("user=carol"));
    let (mut dave, first) = PollSession::start(hub.addr(), "user=dave").expect("dave's poll");
    assert_eq!(first[0]["type"].as_str(), Some("welcome"));

    // bob (Node) sends to alice only.
    node.send(
        "bob",
        r#"{"type":"send","to":["alice"],"data":{"text":"for alice"},"id":1}"#,
    );
    let ack = node.recv("bob");
    assert_eq!(ack["type"].as_str(), Some("ack"), "{ack:?}");
    assert_eq!(ack["id"].as_u64(), Some(1));
    let alice_offset = ack["offsets"]["alice"].as_str().expect("alice's inbox offset");
    let on_ws = py.recv("alice");
    assert_direct(
        &on_ws,
        Some("bob"),
        r#"{"text":"for alice"}"#,
        "alice's WebSocket",
    );
    assert_eq!(on_ws["offset"].as_str(), Some(alice_offset));
    let on_sse = alice_sse.next_json();
    assert_direct(&on_sse, Some("bob"), r#"{"text":"for alice"}"#, "alice's SSE tab");
    assert_eq!(
        on_sse["offset"].as_str(),
        Some(alice_offset),
        "one inbox, one offset"
    );

    // A send to two users, from the API: no `from`.
    let answer = api_send(&hub, r#"["alice","carol"]"#, r#""two""#);
    assert!(answer["offsets"]["alice"].as_str().is_some(), "{answer:?}");
    assert!(answer["offsets"]["carol"].as_str().is_some(), "{answer:?}");
    assert!(answer["offsets"]["bob"].is_null(), "{answer:?}");
    assert_direct(&py.recv("alice"), None, r#""two""#, "alice's WebSocket");
    assert_direct(&alice_sse.next_json(), None, r#""two""#, "alice's SSE tab");
    assert_direct(&node.recv("carol"), None, r#""two""#, "carol");

    // The sentinel: whatever anyone got before it, they got wrongly.
    api_send(&hub, r#"["alice","bob","carol","dave"]"#, r#""sentinel""#);
    assert_direct(&py.recv("alice"), None, r#""sentinel""#, "alice's WebSocket");
    assert_direct(&alice_sse.next_json(), None, r#""sentinel""#, "alice's SSE tab");
    assert_direct(&node.recv("bob"), None, r#""sentinel""#, "bob (the sender)");
    assert_direct(&node.recv("carol"), None, r#""sentinel""#, "carol");
    let dave_events = dave.poll_until(|e| e["type"].as_str() == Some("direct"));
    assert_eq!(
        dave_events.len(),
        1,
        "dave got only the sentinel: {dave_events:?}"
    );
    assert_direct(&dave_events[0], None, r#""sentinel""#, "dave");
}

#[test]
fn a_send_to_a_user_with_a_websocket_and_a_poll_tab_reaches_both() {
    let hub = serve(&[]);
    let mut node = Driver::node();
    let mut py = Driver::python();
    node.open("alice", &hub.ws_url("user=alice"));
    let (mut alice_poll, _) = PollSession::start(hub.addr(), "user=alice").expect("alice's poll");
    py.open("bob", &hub.ws_url("user=bob"));
    py.send("bob", r#"{"type":"send","to":["alice"],"data":[1,2,3],"id":"s"}"#);
    assert_eq!(py.recv("bob")["type"].as_str(), Some("ack"));
    assert_direct(&node.recv("alice"), Some("bob"), "[1,2,3]", "alice's WebSocket");
    let polled = alice_poll.poll_until(|e| e["type"].as_str() == Some("direct"));
    assert_eq!(polled.len(), 1, "{polled:?}");
    assert_direct(&polled[0], Some("bob"), "[1,2,3]", "alice's poll tab");
}

#[test]
fn a_channel_message_reaches_every_subscriber_the_publisher_too_and_api_messages_have_no_from() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    // alice: a Python WebSocket and a long-poll tab; bob: Node; carol: connected, not
    // subscribed.
    py.open("alice", &hub.ws_url("user=alice"));
    let (mut alice_poll, _) = PollSession::start(hub.addr(), "user=alice").expect("alice's poll");
    node.open("bob", &hub.ws_url("user=bob"));
    node.open("carol", &hub.ws_url("user=carol"));
    let mut erin_sse = Sse::open(hub.addr(), "/sse?user=erin", &[]).expect("erin's SSE");
    let erin_sid = erin_sse.next_json()["session"].as_str().unwrap().to_owned();

    let subscribe = r#"{"type":"subscribe","channel":"room","id":"sub"}"#;
    py.send("alice", subscribe);
    assert_eq!(py.recv("alice")["type"].as_str(), Some("ack"));
    node.send("bob", subscribe);
    assert_eq!(node.recv("bob")["type"].as_str(), Some("ack"));
    assert_eq!(alice_poll.emulate(subscribe).status, 202);
    let acked = alice_poll.poll_until(|e| e["type"].as_str() == Some("ack"));
    assert_eq!(acked.last().unwrap()["channel"].as_str(), Some("room"));
    assert_eq!(emulate(hub.addr(), &erin_sid, subscribe).status, 202);
    assert_eq!(erin_sse.next_json()["type"].as_str(), Some("ack"));

    // bob publishes: he is subscribed, so he gets his own message, with `from`.
    node.send(
        "bob",
        r#"{"type":"publish","channel":"room","data":{"hello":"room"},"id":7}"#,
    );
    let mut ack = None;
    let mut own = None;
    for _ in 0..2 {
        let e = node.recv("bob");
        match e["type"].as_str() {
            Some("ack") => ack = Some(e),
            Some("message") => own = Some(e),
            _ => panic!("bob got {e:?}"),
        }
    }
    let ack = ack.expect("the publish's ack");
    let own = own.expect("bob's own message");
    assert_eq!(ack["id"].as_u64(), Some(7));
    let offset = ack["offset"].as_str().expect("the ack's offset");
    let check = |e: &Json, from: Option<&str>, data: &str, who: &str| {
        assert_eq!(e["type"].as_str(), Some("message"), "{who}: {e:?}");
        assert_eq!(e["channel"].as_str(), Some("room"), "{who}: {e:?}");
        assert_eq!(e["from"].as_str(), from, "{who}: from, in {e:?}");
        assert_eq!(e["data"], Json::parse(data), "{who}: {e:?}");
    };
    check(&own, Some("bob"), r#"{"hello":"room"}"#, "bob");
    assert_eq!(own["offset"].as_str(), Some(offset));
    let on_ws = py.recv("alice");
    check(&on_ws, Some("bob"), r#"{"hello":"room"}"#, "alice's WebSocket");
    assert_eq!(on_ws["offset"].as_str(), Some(offset));
    let polled = alice_poll.poll_until(|e| e["type"].as_str() == Some("message"));
    assert_eq!(polled.len(), 1, "{polled:?}");
    check(&polled[0], Some("bob"), r#"{"hello":"room"}"#, "alice's poll tab");
    check(
        &erin_sse.next_json(),
        Some("bob"),
        r#"{"hello":"room"}"#,
        "erin's SSE",
    );

    // From the API: the same subscribers, and no `from` at all.
    let api_offset = hub.publish("room", r#"{"from":"the api"}"#);
    for (who, e) in [
        ("alice's WebSocket", py.recv("alice")),
        ("bob", node.recv("bob")),
        ("erin's SSE", erin_sse.next_json()),
    ] {
        check(&e, None, r#"{"from":"the api"}"#, who);
        assert_eq!(e["offset"].as_str(), Some(api_offset.as_str()), "{who}");
        let Json::Object(fields) = &e else { unreachable!() };
        assert!(
            fields.iter().all(|(k, _)| k != "from"),
            "{who}: an API message has no `from` field: {e:?}"
        );
    }
    let polled = alice_poll.poll_until(|e| e["type"].as_str() == Some("message"));
    check(&polled[0], None, r#"{"from":"the api"}"#, "alice's poll tab");

    // carol was never subscribed: her next event is the sentinel.
    api_send(&hub, r#"["carol"]"#, r#""sentinel""#);
    assert_direct(&node.recv("carol"), None, r#""sentinel""#, "carol");
}

#[test]
fn an_unsubscribed_session_gets_nothing_more_from_the_channel() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    py.open("a", &hub.ws_url("user=alice"));
    py.send("a", r#"{"type":"subscribe","channel":"news","id":1}"#);
    assert_eq!(py.recv("a")["type"].as_str(), Some("ack"));
    hub.publish("news", "1");
    assert_eq!(py.recv("a")["data"].as_u64(), Some(1));
    py.send("a", r#"{"type":"unsubscribe","channel":"news","id":2}"#);
    let ack = py.recv("a");
    assert_eq!((ack["type"].as_str(), ack["id"].as_u64()), (Some("ack"), Some(2)));
    hub.publish("news", "2");
    api_send(&hub, r#"["alice"]"#, r#""sentinel""#);
    assert_direct(&py.recv("a"), None, r#""sentinel""#, "alice after unsubscribing");
}

#[test]
fn data_is_delivered_exactly_as_sent() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("pub", &hub.ws_url("user=alice"));
    node.open("sub", &hub.ws_url("user=bob"));
    node.send("sub", r#"{"type":"subscribe","channel":"raw","id":1}"#);
    assert_eq!(node.recv("sub")["type"].as_str(), Some("ack"));
    // Numbers beyond f64, trailing zeros, escapes and characters outside the BMP, as
    // written: the hub passes `data` through.
    let data = r#"{"big":123456789012345678901234567890,"f":1.50,"e":1E+2,"s":"é\u00e9\n🦀","nested":[{},[],null,true]}"#;
    for (who, send) in [("a WebSocket publish", true), ("an API publish", false)] {
        if send {
            py.send(
                "pub",
                &format!(r#"{{"type":"publish","channel":"raw","data":{data}}}"#),
            );
        } else {
            hub.publish("raw", data);
        }
        let text = match node.next("sub", support::STEP_TIMEOUT) {
            support::hub::WsEvent::Text(t) => t,
            other => panic!("{other:?}"),
        };
        assert!(
            text.contains(&format!(r#""data":{data},"#)),
            "{who}: data verbatim in {text}"
        );
    }
}

#[test]
fn wss_delivers_the_same_with_tls() {
    let dir = support::TempDir::new("hub-tls");
    let certs = support::TestCerts::generate(dir.path());
    let hub = serve(&[
        "--tls-cert",
        certs.chain.to_str().unwrap(),
        "--tls-key",
        certs.key.to_str().unwrap(),
    ]);
    let url = |user: &str| format!("wss://localhost:{}/ws?user={user}", hub.addr().port());
    let mut py = Driver::python_trusting(Some(&certs.ca));
    let mut node = Driver::node_trusting(Some(&certs.ca));
    py.open("alice", &url("alice"));
    node.open("bob", &url("bob"));
    node.send(
        "bob",
        r#"{"type":"send","to":["alice"],"data":"over tls","id":1}"#,
    );
    assert_eq!(node.recv("bob")["type"].as_str(), Some("ack"));
    assert_direct(&py.recv("alice"), Some("bob"), r#""over tls""#, "alice over wss");
    // Without the CA the handshake fails: it is really TLS with that certificate.
    let mut untrusting = Driver::python();
    match untrusting.try_open("x", &url("x"), None) {
        support::hub::WsEvent::Failed(why) => assert!(why.contains("CERTIFICATE"), "{why}"),
        other => panic!("an untrusted certificate: {other:?}"),
    }
}
