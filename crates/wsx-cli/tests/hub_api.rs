//! The HTTP API and the operational endpoints of `wsx serve`, over raw HTTP/1.1 (with
//! Python `websockets` and Node `ws` clients on the receiving end):
//!
//! - `POST /api/publish` → `{"offset","duplicate"}`, `POST /api/send` → `{"offsets"}`,
//!   `GET /api/history/C[?since=]`, `GET /api/presence/C`;
//! - `idempotency_key`: a retried publish or send is answered with the first result and
//!   delivered once;
//! - `POST /api/disconnect {"user"}` closes every session of the user (WebSockets with
//!   4002) and nobody else's;
//! - malformed requests get 4xx with `{"error":{"code","message"}}`;
//! - `GET /healthz` is 200 `ok`; `GET /metrics` has `wsx_published_total` and the rest.

use wsx_test_support as support;

use support::STEP_TIMEOUT;
use support::hub::{Driver, HubServer, Sse};

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

#[test]
fn publish_send_history_and_presence() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    py.open("alice", &hub.ws_url("user=alice"));
    subscribe(&mut py, "alice", "news");

    let r = hub.post("/api/publish", r#"{"channel":"news","data":{"headline":"one"}}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").is_some_and(|c| c.contains("json")));
    let first = r.json();
    assert_eq!(first["duplicate"].as_bool(), Some(false), "{first:?}");
    let o1 = first["offset"].as_str().expect("an offset").to_owned();
    let m = py.recv("alice");
    assert_eq!(m["offset"].as_str(), Some(o1.as_str()));
    assert_eq!(m["data"]["headline"].as_str(), Some("one"));
    // `data` absent is null.
    let o2 = hub.post("/api/publish", r#"{"channel":"news"}"#).json()["offset"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(py.recv("alice")["data"].is_null());

    let h = hub.get("/api/history/news").json();
    assert_eq!(h["channel"].as_str(), Some("news"));
    assert_eq!(h["offset"].as_str(), Some(o2.as_str()), "the latest offset");
    let messages = h["messages"].as_array();
    assert_eq!(messages.len(), 2, "{h:?}");
    assert_eq!(
        messages[0]["type"].as_str(),
        Some("message"),
        "the events as delivered"
    );
    assert_eq!(messages[0]["offset"].as_str(), Some(o1.as_str()));
    let after = hub.get(&format!("/api/history/news?since={o1}")).json();
    assert_eq!(after["messages"].as_array().len(), 1, "{after:?}");
    assert_eq!(after["messages"][0]["offset"].as_str(), Some(o2.as_str()));
    let none = hub.get(&format!("/api/history/news?since={o2}")).json();
    assert!(none["messages"].as_array().is_empty());
    let r = hub.get("/api/history/news?since=garbage!");
    assert_eq!(r.status, 400, "{}", r.text());

    let r = hub.post("/api/send", r#"{"to":["alice","nobody"],"data":"hi"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let offsets = &r.json()["offsets"];
    let to_alice = offsets["alice"].as_str().expect("alice's offset").to_owned();
    assert!(
        offsets["nobody"].as_str().is_some(),
        "an offline user's inbox keeps it"
    );
    let d = py.recv("alice");
    assert_eq!(d["type"].as_str(), Some("direct"));
    assert_eq!(d["offset"].as_str(), Some(to_alice.as_str()));

    let p = hub.get("/api/presence/news").json();
    assert_eq!(p["channel"].as_str(), Some("news"));
    assert_eq!(p["users"].strings(), ["alice"]);
    // A channel name in the path is percent-decoded.
    subscribe(&mut py, "alice", "chat:a/b");
    let p = hub.get("/api/presence/chat%3Aa%2Fb").json();
    assert_eq!(p["users"].strings(), ["alice"], "{p:?}");
}

#[test]
fn a_retried_publish_or_send_with_the_same_idempotency_key_is_delivered_once() {
    let hub = serve(&[]);
    let mut node = Driver::node();
    node.open("bob", &hub.ws_url("user=bob"));
    subscribe(&mut node, "bob", "orders");
    let body = r#"{"channel":"orders","data":{"id":42},"idempotency_key":"order-42"}"#;
    let first = hub.post("/api/publish", body).json();
    let again = hub.post("/api/publish", body).json();
    assert_eq!(first["duplicate"].as_bool(), Some(false));
    assert_eq!(again["duplicate"].as_bool(), Some(true), "{again:?}");
    assert_eq!(again["offset"], first["offset"], "the first result");
    // Another key is another message.
    let other = hub
        .post(
            "/api/publish",
            r#"{"channel":"orders","data":{"id":43},"idempotency_key":"order-43"}"#,
        )
        .json();
    assert_eq!(other["duplicate"].as_bool(), Some(false));
    assert_eq!(node.recv("bob")["data"]["id"].as_u64(), Some(42));
    assert_eq!(node.recv("bob")["data"]["id"].as_u64(), Some(43), "42 only once");

    let send = r#"{"to":["bob"],"data":"once","idempotency_key":"s-1"}"#;
    let a = hub.post("/api/send", send).json();
    let b = hub.post("/api/send", send).json();
    assert_eq!(a["offsets"], b["offsets"], "the first result");
    assert_eq!(node.recv("bob")["data"].as_str(), Some("once"));
    hub.post("/api/send", r#"{"to":["bob"],"data":"sentinel"}"#);
    assert_eq!(
        node.recv("bob")["data"].as_str(),
        Some("sentinel"),
        "delivered once"
    );
    let h = hub.get("/api/history/orders").json();
    assert_eq!(h["messages"].as_array().len(), 2);
    let r = hub.post(
        "/api/publish",
        &format!(
            r#"{{"channel":"orders","idempotency_key":"{}"}}"#,
            "k".repeat(300)
        ),
    );
    assert_eq!(r.status, 400, "an over-long key: {}", r.text());
}

#[test]
fn disconnect_closes_every_session_of_the_user_with_4002() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("alice1", &hub.ws_url("user=alice"));
    node.open("alice2", &hub.ws_url("user=alice"));
    let mut sse = Sse::open(hub.addr(), "/sse?user=alice", &[]).unwrap();
    assert_eq!(sse.next_json()["type"].as_str(), Some("welcome"));
    py.open("bob", &hub.ws_url("user=bob"));

    let r = hub.post("/api/disconnect", r#"{"user":"alice"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["user"].as_str(), Some("alice"));
    assert_eq!(body["disconnected"].as_u64(), Some(3), "{body:?}");
    assert_eq!(py.closed("alice1", STEP_TIMEOUT).0, 4002, "python");
    assert_eq!(node.closed("alice2", STEP_TIMEOUT).0, 4002, "node");
    sse.until_end(STEP_TIMEOUT);
    // bob is still there.
    hub.post("/api/send", r#"{"to":["bob"],"data":"still here"}"#);
    assert_eq!(py.recv("bob")["data"].as_str(), Some("still here"));
    let r = hub.post("/api/disconnect", r#"{"user":"nobody"}"#);
    assert_eq!(r.json()["disconnected"].as_u64(), Some(0));
}

#[test]
fn malformed_api_requests_get_4xx_with_an_error_object() {
    let hub = serve(&[]);
    let json = [("Content-Type", "application/json")];
    let cases: [(&str, &str, &str, u16, &str); 9] = [
        ("POST", "/api/publish", "{not json", 400, "bad_request"),
        ("POST", "/api/publish", r#"{"data":1}"#, 400, "bad_request"),
        (
            "POST",
            "/api/publish",
            r#"{"channel":"a b","data":1}"#,
            400,
            "bad_request",
        ),
        ("POST", "/api/send", r#"{"to":[],"data":1}"#, 400, "bad_request"),
        (
            "POST",
            "/api/send",
            r#"{"to":["no spaces"],"data":1}"#,
            400,
            "bad_request",
        ),
        ("POST", "/api/disconnect", r#"{}"#, 400, "bad_request"),
        ("GET", "/api/publish", "", 405, "bad_request"),
        ("GET", "/api/nothing-here", "", 404, "bad_request"),
        ("GET", "/api/presence/bad%20name", "", 400, "bad_request"),
    ];
    for (method, path, body, status, code) in cases {
        let r = hub.request(method, path, &json, body.as_bytes());
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["code"].as_str(), Some(code), "{method} {path}: {e:?}");
        assert!(e["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn healthz_is_ok_and_metrics_count_what_happened() {
    let hub = serve(&[]);
    let r = hub.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.text().trim(), "ok");
    let mut py = Driver::python();
    py.open("c", &hub.ws_url("user=alice"));
    subscribe(&mut py, "c", "m");
    for n in 0..3 {
        hub.publish("m", &n.to_string());
        assert_eq!(py.recv("c")["data"].as_u64(), Some(n));
    }
    let r = hub.get("/metrics");
    assert_eq!(r.status, 200);
    let text = r.text();
    for name in [
        "wsx_published_total",
        "wsx_delivered_total",
        "wsx_connections",
        "wsx_subscriptions",
        "wsx_delivery_latency_seconds",
        "wsx_slow_consumer_total",
        "wsx_dropped_total",
    ] {
        assert!(text.contains(name), "/metrics has {name}:\n{text}");
    }
    assert!(hub.metric("wsx_published_total").unwrap() >= 3.0, "{text}");
    assert!(hub.metric("wsx_delivered_total").unwrap() >= 3.0, "{text}");
    assert_eq!(
        hub.metric("wsx_connections{transport=\"websocket\"}"),
        Some(1.0),
        "{text}"
    );
    // The demo page.
    let page = hub.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    assert_eq!(hub.get("/nothing").status, 404);
}

#[test]
fn an_idempotency_key_is_forgotten_after_the_window() {
    let hub = serve(&["--idempotency-window", "1"]);
    let body = r#"{"channel":"w","data":1,"idempotency_key":"k"}"#;
    assert_eq!(
        hub.post("/api/publish", body).json()["duplicate"].as_bool(),
        Some(false)
    );
    assert_eq!(
        hub.post("/api/publish", body).json()["duplicate"].as_bool(),
        Some(true)
    );
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let again = hub.post("/api/publish", body).json();
        if again["duplicate"].as_bool() == Some(false) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the key is never forgotten");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(hub.get("/api/history/w").json()["messages"].as_array().len(), 2);
}
