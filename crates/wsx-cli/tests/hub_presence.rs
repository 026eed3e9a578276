//! Presence on `wsx serve`, end to end with Python `websockets` and Node `ws`:
//!
//! - the `presence` command's ack and `GET /api/presence/C` list the users subscribed
//!   (per user, not per connection; sorted);
//! - on `chat:` channels subscribers get `join` and, `--presence-grace` after a user's
//!   last connection leaves, `leave`; a reconnect within the grace does not flap;
//! - other channels get no presence events by default.

use wsx_test_support as support;

use std::time::{Duration, Instant};
use support::STEP_TIMEOUT;
use support::hub::{Driver, HubServer};
use support::json::Json;

fn serve(flags: &[&str]) -> HubServer {
    HubServer::start(env!("CARGO_BIN_EXE_wsx"), flags)
}

fn subscribe(d: &mut Driver, conn: &str, channel: &str) {
    d.send(
        conn,
        &format!(r#"{{"type":"subscribe","channel":"{channel}","id":"s"}}"#),
    );
    let (ack, _) = d.recv_type(conn, "ack");
    assert_eq!(ack["channel"].as_str(), Some(channel), "{ack:?}");
}

fn api_users(hub: &HubServer, channel: &str) -> Vec<String> {
    let r = hub.get(&format!("/api/presence/{channel}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["channel"].as_str(), Some(channel));
    body["users"].strings().into_iter().map(str::to_owned).collect()
}

/// Polls the API until `channel`'s users are `want`.
fn wait_users(hub: &HubServer, channel: &str, want: &[&str]) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let users = api_users(hub, channel);
        if users == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{channel}: users {users:?}, not {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_presence(e: &Json, channel: &str, event: &str, user: &str) {
    assert_eq!(e["type"].as_str(), Some("presence"), "{e:?}");
    assert_eq!(e["channel"].as_str(), Some(channel), "{e:?}");
    assert_eq!(e["event"].as_str(), Some(event), "{e:?}");
    assert_eq!(e["user"].as_str(), Some(user), "{e:?}");
}

#[test]
fn the_presence_command_and_the_api_list_the_subscribed_users() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("bob", &hub.ws_url("user=bob"));
    py.open("alice1", &hub.ws_url("user=alice"));
    node.open("alice2", &hub.ws_url("user=alice"));
    node.open("carol", &hub.ws_url("user=carol"));
    subscribe(&mut py, "bob", "room");
    subscribe(&mut py, "alice1", "room");
    subscribe(&mut node, "alice2", "room");
    // carol is connected but not subscribed; she asks anyway, and is answered.
    node.send("carol", r#"{"type":"presence","channel":"room","id":"p"}"#);
    let e = node.recv("carol");
    assert_eq!(
        (e["type"].as_str(), e["id"].as_str()),
        (Some("ack"), Some("p")),
        "{e:?}"
    );
    let users = e["users"].strings();
    assert_eq!(users, ["alice", "bob"], "per user, sorted; carol is not in");
    py.send("bob", r#"{"type":"presence","channel":"room","id":9}"#);
    let (ack, _) = py.recv_type("bob", "ack");
    assert_eq!(ack["id"].as_u64(), Some(9));
    assert_eq!(ack["channel"].as_str(), Some("room"));
    assert_eq!(ack["users"].strings(), ["alice", "bob"]);
    assert_eq!(api_users(&hub, "room"), ["alice", "bob"]);
    assert!(api_users(&hub, "empty").is_empty());
    // alice keeps one connection: she stays.
    py.send("alice1", r#"{"type":"unsubscribe","channel":"room","id":"u"}"#);
    py.recv_type("alice1", "ack");
    py.send("bob", r#"{"type":"presence","channel":"room","id":10}"#);
    let (ack, _) = py.recv_type("bob", "ack");
    assert_eq!(ack["users"].strings(), ["alice", "bob"]);
}

#[test]
fn chat_channels_get_join_and_leave_after_the_grace() {
    let hub = serve(&["--presence-grace", "1"]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("alice", &hub.ws_url("user=alice"));
    subscribe(&mut py, "alice", "chat:lobby");
    node.open("bob", &hub.ws_url("user=bob"));
    subscribe(&mut node, "bob", "chat:lobby");
    // alice sees bob join (her own join came with her subscription).
    let (e, _) = py.recv_type("alice", "presence");
    let e = if e["user"].as_str() == Some("alice") {
        py.recv_type("alice", "presence").0
    } else {
        e
    };
    assert_presence(&e, "chat:lobby", "join", "bob");
    // bob leaves; once the grace is over alice sees him leave, and he is gone.
    node.close("bob", 1000);
    node.closed("bob", STEP_TIMEOUT);
    let (e, skipped) = py.recv_type("alice", "presence");
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_presence(&e, "chat:lobby", "leave", "bob");
    assert_eq!(api_users(&hub, "chat:lobby"), ["alice"]);
    // Unsubscribing is leaving too.
    node.open("carol", &hub.ws_url("user=carol"));
    subscribe(&mut node, "carol", "chat:lobby");
    assert_presence(&py.recv("alice"), "chat:lobby", "join", "carol");
    node.send("carol", r#"{"type":"unsubscribe","channel":"chat:lobby"}"#);
    assert_presence(&py.recv("alice"), "chat:lobby", "leave", "carol");
}

#[test]
fn a_reconnect_within_the_grace_does_not_flap() {
    // A grace long enough that the reconnect below is surely within it.
    let hub = serve(&["--presence-grace", "10"]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("alice", &hub.ws_url("user=alice"));
    subscribe(&mut py, "alice", "chat:x");
    node.open("bob", &hub.ws_url("user=bob"));
    subscribe(&mut node, "bob", "chat:x");
    let (e, _) = py.recv_type("alice", "presence");
    let e = if e["user"].as_str() == Some("alice") {
        py.recv_type("alice", "presence").0
    } else {
        e
    };
    assert_presence(&e, "chat:x", "join", "bob");
    node.close("bob", 1000);
    node.closed("bob", STEP_TIMEOUT);
    node.open("bob2", &hub.ws_url("user=bob"));
    subscribe(&mut node, "bob2", "chat:x");
    hub.publish("chat:x", r#""sentinel""#);
    let e = py.recv("alice");
    assert_eq!(
        (e["type"].as_str(), e["data"].as_str()),
        (Some("message"), Some("sentinel")),
        "no leave or join for bob's reconnect: {e:?}"
    );
}

#[test]
fn other_channels_get_no_presence_events_by_default() {
    let hub = serve(&["--presence-grace", "1"]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("alice", &hub.ws_url("user=alice"));
    subscribe(&mut py, "alice", "room");
    node.open("bob", &hub.ws_url("user=bob"));
    subscribe(&mut node, "bob", "room");
    wait_users(&hub, "room", &["alice", "bob"]);
    node.close("bob", 1000);
    node.closed("bob", STEP_TIMEOUT);
    // Wait until bob's leave is done (the grace is over), then the sentinel.
    wait_users(&hub, "room", &["alice"]);
    hub.publish("room", r#""sentinel""#);
    let e = py.recv("alice");
    assert_eq!(
        (e["type"].as_str(), e["data"].as_str()),
        (Some("message"), Some("sentinel")),
        "no presence event on a channel that is not chat:…: {e:?}"
    );
}

#[test]
fn presence_events_follow_the_configured_patterns() {
    let hub = serve(&["--presence-events", "game:*,lobby", "--presence-grace", "1"]);
    let mut py = Driver::python();
    py.open("alice", &hub.ws_url("user=alice"));
    subscribe(&mut py, "alice", "game:1");
    subscribe(&mut py, "alice", "chat:quiet");
    py.open("bob", &hub.ws_url("user=bob"));
    subscribe(&mut py, "bob", "chat:quiet");
    subscribe(&mut py, "bob", "game:1");
    let (e, skipped) = py.recv_type("alice", "presence");
    let e = if e["user"].as_str() == Some("alice") {
        py.recv_type("alice", "presence").0
    } else {
        e
    };
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_presence(&e, "game:1", "join", "bob");
}

#[test]
fn presence_is_per_user_not_per_connection() {
    let hub = serve(&["--presence-grace", "1"]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    node.open("bob", &hub.ws_url("user=bob"));
    subscribe(&mut node, "bob", "chat:p");
    py.open("tab1", &hub.ws_url("user=alice"));
    subscribe(&mut py, "tab1", "chat:p");
    let (e, _) = node.recv_type("bob", "presence");
    let e = if e["user"].as_str() == Some("bob") {
        node.recv_type("bob", "presence").0
    } else {
        e
    };
    assert_presence(&e, "chat:p", "join", "alice");
    // alice's second tab: no second join.
    py.open("tab2", &hub.ws_url("user=alice"));
    subscribe(&mut py, "tab2", "chat:p");
    py.open("carol", &hub.ws_url("user=carol"));
    subscribe(&mut py, "carol", "chat:p");
    assert_presence(&node.recv("bob"), "chat:p", "join", "carol");
    // One of alice's tabs closes, then carol leaves: the next event bob sees is carol's
    // leave (after the grace), none for alice, who is still there in her other tab.
    py.close("tab1", 1000);
    py.closed("tab1", STEP_TIMEOUT);
    py.close("carol", 1000);
    py.closed("carol", STEP_TIMEOUT);
    assert_presence(&node.recv("bob"), "chat:p", "leave", "carol");
    assert_eq!(api_users(&hub, "chat:p"), ["alice", "bob"]);
    // Her last tab closes: now she leaves.
    py.close("tab2", 1000);
    py.closed("tab2", STEP_TIMEOUT);
    assert_presence(&node.recv("bob"), "chat:p", "leave", "alice");
    assert_eq!(api_users(&hub, "chat:p"), ["bob"]);
}

#[test]
fn fallback_sessions_are_present_too() {
    let hub = serve(&["--presence-grace", "1"]);
    let mut py = Driver::python();
    py.open("bob", &hub.ws_url("user=bob"));
    subscribe(&mut py, "bob", "chat:f");
    let mut sse = support::hub::Sse::open(hub.addr(), "/sse?user=dora", &[]).unwrap();
    let sid = sse.next_json()["session"].as_str().unwrap().to_owned();
    support::hub::emulate(
        hub.addr(),
        &sid,
        r#"{"type":"subscribe","channel":"chat:f","id":1}"#,
    );
    let (e, _) = py.recv_type("bob", "presence");
    let e = if e["user"].as_str() == Some("bob") {
        py.recv_type("bob", "presence").0
    } else {
        e
    };
    assert_presence(&e, "chat:f", "join", "dora");
    assert_eq!(api_users(&hub, "chat:f"), ["bob", "dora"]);
    // dora's stream sees bob's presence answer like any client.
    support::hub::emulate(
        hub.addr(),
        &sid,
        r#"{"type":"presence","channel":"chat:f","id":2}"#,
    );
    let ack = loop {
        let e = sse.next_json();
        if e["type"].as_str() == Some("ack") && e["id"].as_u64() == Some(2) {
            break e;
        }
    };
    assert_eq!(ack["users"].strings(), ["bob", "dora"]);
    support::hub::emulate(hub.addr(), &sid, r#"{"type":"unsubscribe","channel":"chat:f"}"#);
    let (e, _) = py.recv_type("bob", "presence");
    assert_presence(&e, "chat:f", "leave", "dora");
}
