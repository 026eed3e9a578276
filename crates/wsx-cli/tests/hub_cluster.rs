//! Cluster mode end to end: two or three `wsx serve --broker redis://…` nodes on a real
//! `redis-server` of the test's own (on a free loopback port), some behind a real nginx
//! or HAProxy balancing round robin with no sticky sessions, and Python `websockets`
//! clients:
//!
//! - a publish on any node reaches the subscribers of every node once, in offset order,
//!   including the publishing node's own (which does not wait for Redis's echo);
//! - `send` reaches a user's connections on every node and nobody else; a disconnect
//!   closes them everywhere;
//! - a long-poll and an SSE session whose requests land on other nodes than the one that
//!   holds them (forwarded through Redis);
//! - a client recovers on another node than the one it left;
//! - a node killed with SIGKILL: its users leave everyone's presence within the TTL;
//! - Redis killed and restarted mid-stream: the nodes stay up, say so in `/healthz` and
//!   the metrics, come back by themselves, and the subscribers get an `epoch` gap — or
//!   nothing missing when Redis kept its data (AOF);
//! - a frozen Redis (SIGSTOP) fails operations within the timeout instead of hanging,
//!   and junk on a topic's Redis channel is counted and ignored.

use wsx_test_support as support;

use std::time::{Duration, Instant};
use support::STEP_TIMEOUT;
use support::balancer::Balancer;
use support::hub::{Driver, HubServer, PollSession, Sse, emulate, publish, request};
use support::json::Json;
use support::redis::RedisServer;

fn node(redis: &RedisServer, flags: &[&str]) -> HubServer {
    let url = redis.url();
    let mut all = vec!["--broker", url.as_str()];
    all.extend_from_slice(flags);
    let hub = HubServer::start(env!("CARGO_BIN_EXE_wsx"), &all);
    wait_healthy(&hub);
    hub
}

fn nodes(redis: &RedisServer, n: usize, flags: &[&str]) -> Vec<HubServer> {
    (0..n).map(|_| node(redis, flags)).collect()
}

/// Waits until `/healthz` answers 200 (the node reached Redis).
fn wait_healthy(hub: &HubServer) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let r = hub.get("/healthz");
        if r.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz still {} ({}); stderr:\n{}",
            r.status,
            r.text(),
            hub.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `/healthz` answers 503; its reason.
fn wait_unhealthy(hub: &HubServer) -> String {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let r = hub.get("/healthz");
        if r.status == 503 {
            return r.text();
        }
        assert!(Instant::now() < deadline, "/healthz stays 200 with Redis gone");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn subscribe(d: &mut Driver, conn: &str, channel: &str, since: Option<&str>) -> Json {
    let since = since.map(|s| format!(r#","since":"{s}""#)).unwrap_or_default();
    d.send(
        conn,
        &format!(r#"{{"type":"subscribe","channel":"{channel}","id":"sub"{since}}}"#),
    );
    let (ack, _) = d.recv_type(conn, "ack");
    assert_eq!(ack["channel"].as_str(), Some(channel), "{ack:?}");
    ack
}

/// The sequence number of an offset `EPOCH-SEQ`.
fn seq(offset: &str) -> u64 {
    offset.rsplit_once('-').unwrap().1.parse().unwrap()
}

fn epoch(offset: &str) -> &str {
    offset.rsplit_once('-').unwrap().0
}

/// The next `n` messages on `conn` (skipping presence events).
fn messages(d: &mut Driver, conn: &str, n: usize) -> Vec<Json> {
    let mut got = Vec::new();
    while got.len() < n {
        let e = d.recv(conn);
        match e["type"].as_str() {
            Some("message") | Some("direct") => got.push(e),
            Some("presence") => {}
            _ => panic!("{conn}: unexpected {e:?} after {} messages", got.len()),
        }
    }
    got
}

#[test]
fn a_publish_on_any_node_reaches_every_node_once_and_in_order() {
    let redis = RedisServer::start();
    let hubs = nodes(&redis, 3, &[]);
    let mut d = Driver::python();
    let mut start = None;
    for (i, hub) in hubs.iter().enumerate() {
        let conn = format!("s{i}");
        d.open(&conn, &hub.ws_url(&format!("user=sub{i}")));
        let ack = subscribe(&mut d, &conn, "feed", None);
        let at = ack["offset"].as_str().unwrap().to_owned();
        // The offset is the channel's, the same whichever node is asked.
        assert_eq!(start.get_or_insert(at.clone()), &at);
    }
    // Node 1 publishes from a client (its own subscriber gets it from the reply, the
    // others from Redis) while node 0 publishes through the API, interleaved.
    d.open("p", &hubs[1].ws_url("user=pub"));
    d.repeat(
        "p",
        100,
        r#"{"type":"publish","channel":"feed","data":{"from":"ws","i":{i}}}"#,
    );
    let addr = hubs[0].addr();
    let api = std::thread::spawn(move || {
        for i in 0..100 {
            publish(addr, "feed", &format!(r#"{{"from":"api","i":{i}}}"#));
        }
    });
    api.join().unwrap();
    for i in 0..3 {
        let got = messages(&mut d, &format!("s{i}"), 200);
        let seqs: Vec<u64> = got.iter().map(|m| seq(m["offset"].as_str().unwrap())).collect();
        assert_eq!(
            seqs,
            (1..=200).collect::<Vec<_>>(),
            "node {i}: every offset once, in order"
        );
        let from_ws = got
            .iter()
            .filter(|m| m["data"]["from"].as_str() == Some("ws"))
            .count();
        assert_eq!(from_ws, 100, "node {i}");
    }
    // Nothing more: a duplicate would be next.
    hubs[2].publish("feed", r#""end""#);
    for i in 0..3 {
        let last = messages(&mut d, &format!("s{i}"), 1);
        assert_eq!(last[0]["data"].as_str(), Some("end"), "node {i}");
    }
}

#[test]
fn send_reaches_a_user_on_every_node_and_nobody_else_and_disconnect_closes_them_all() {
    let redis = RedisServer::start();
    let hubs = nodes(&redis, 3, &[]);
    let mut d = Driver::python();
    d.open("ann0", &hubs[0].ws_url("user=ann"));
    d.open("ann1", &hubs[1].ws_url("user=ann"));
    d.open("bob", &hubs[1].ws_url("user=bob"));
    let r = hubs[2].post("/api/send", r#"{"to":["ann"],"data":"for ann"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    for conn in ["ann0", "ann1"] {
        let m = messages(&mut d, conn, 1);
        assert_eq!(m[0]["type"].as_str(), Some("direct"));
        assert_eq!(m[0]["data"].as_str(), Some("for ann"));
    }
    // bob's first direct message is his own: he did not get ann's.
    hubs[0].post("/api/send", r#"{"to":["bob"],"data":"for bob"}"#);
    assert_eq!(messages(&mut d, "bob", 1)[0]["data"].as_str(), Some("for bob"));

    let r = hubs[2].post("/api/disconnect", r#"{"user":"ann"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    for conn in ["ann0", "ann1"] {
        let (code, _, _) = d.closed(conn, STEP_TIMEOUT);
        assert_eq!(code, 4002, "{conn}");
    }
    // bob is still there.
    hubs[2].post("/api/send", r#"{"to":["bob"],"data":"still here"}"#);
    assert_eq!(messages(&mut d, "bob", 1)[0]["data"].as_str(), Some("still here"));
}

/// Sums a metric over the nodes.
fn total(hubs: &[HubServer], series: &str) -> f64 {
    hubs.iter().map(|h| h.metric(series).unwrap_or(0.0)).sum()
}

#[test]
fn a_long_poll_session_behind_nginx_round_robin_needs_no_sticky_sessions() {
    let redis = RedisServer::start();
    let hubs = nodes(&redis, 2, &["--poll-timeout", "2"]);
    let lb = Balancer::nginx(&[hubs[0].addr(), hubs[1].addr()]);
    let (mut poll, first) = PollSession::start(lb.addr(), "user=carl").expect("a poll session");
    assert_eq!(first[0]["type"].as_str(), Some("welcome"));
    // Every request may land on either node; each works.
    let r = poll.emulate(r#"{"type":"subscribe","channel":"news","id":1}"#);
    assert_eq!(r.status, 202, "{}", r.text());
    let seen = poll.poll_until(|e| e["type"].as_str() == Some("ack"));
    assert_eq!(seen.last().unwrap()["channel"].as_str(), Some("news"));
    for n in 0..6 {
        publish(lb.addr(), "news", &format!(r#"{{"n":{n}}}"#));
    }
    // (`poll_until` stops inside a response: here every event of each one counts.)
    let mut got = Vec::new();
    let deadline = Instant::now() + STEP_TIMEOUT;
    while got.len() < 6 {
        assert!(Instant::now() < deadline, "only {got:?} arrived");
        for e in poll.poll() {
            if e["type"].as_str() == Some("message") {
                got.push(e["data"]["n"].as_u64().unwrap());
            }
        }
    }
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    let r = poll.emulate(r#"{"type":"publish","channel":"news","data":"mine","id":2}"#);
    assert_eq!(r.status, 202, "{}", r.text());
    poll.poll_until(|e| e["data"].as_str() == Some("mine"));
    assert!(
        total(&hubs, "wsx_forwarded_total") >= 2.0,
        "round robin sent requests to the node without the session, which forwarded them"
    );
    // A session id no node holds: 404 from whichever node is asked.
    let r = request(lb.addr(), "GET", "/poll?session=nobody.xyz", &[], b"");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn an_sse_session_behind_haproxy_takes_commands_through_the_other_node() {
    let redis = RedisServer::start();
    let hubs = nodes(&redis, 2, &[]);
    let lb = Balancer::haproxy(&[hubs[0].addr(), hubs[1].addr()]);
    let mut sse = Sse::open(lb.addr(), "/sse?user=dan", &[]).expect("an SSE stream");
    let welcome = sse.next_json();
    let sid = welcome["session"].as_str().unwrap().to_owned();
    for (i, body) in [
        r#"{"type":"subscribe","channel":"room","id":1}"#,
        r#"{"type":"publish","channel":"room","data":"hello","id":2}"#,
        r#"{"type":"presence","channel":"room","id":3}"#,
    ]
    .iter()
    .enumerate()
    {
        let r = emulate(lb.addr(), &sid, body);
        assert_eq!(r.status, 202, "command {i}: {}", r.text());
        // In order: each command is acknowledged before the next is sent.
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let e = sse.next_json();
            if e["type"].as_str() == Some("ack") && e["id"].as_u64() == Some(i as u64 + 1) {
                break;
            }
            assert!(Instant::now() < deadline, "no ack for command {i}");
        }
    }
    assert!(total(&hubs, "wsx_forwarded_total") >= 1.0);
}

#[test]
fn a_client_recovers_on_another_node_than_the_one_it_left() {
    let redis = RedisServer::start();
    let hubs = nodes(&redis, 2, &[]);
    let mut d = Driver::python();
    d.open("a", &hubs[0].ws_url("user=eve"));
    subscribe(&mut d, "a", "feed", None);
    for n in 0..5 {
        hubs[1].publish("feed", &format!("{n}"));
    }
    let got = messages(&mut d, "a", 5);
    let last = got[4]["offset"].as_str().unwrap().to_owned();
    d.close("a", 1000);
    d.closed("a", STEP_TIMEOUT);
    for n in 5..25 {
        hubs[0].publish("feed", &format!("{n}"));
    }
    d.open("b", &hubs[1].ws_url("user=eve"));
    let ack = subscribe(&mut d, "b", "feed", Some(&last));
    assert_eq!(ack["recovering"].as_bool(), Some(true));
    let replayed = messages(&mut d, "b", 20);
    let data: Vec<u64> = replayed.iter().map(|m| m["data"].as_u64().unwrap()).collect();
    assert_eq!(
        data,
        (5..25).collect::<Vec<_>>(),
        "exactly what was missed, in order, no gap"
    );
    hubs[0].publish("feed", "25");
    assert_eq!(messages(&mut d, "b", 1)[0]["data"].as_u64(), Some(25));
}

#[test]
fn a_killed_nodes_users_leave_presence_within_the_ttl() {
    let redis = RedisServer::start();
    let flags = ["--cluster-presence-ttl", "3", "--presence-grace", "1"];
    let mut hubs = nodes(&redis, 2, &flags);
    let mut d = Driver::python();
    d.open("bob", &hubs[1].ws_url("user=bob"));
    subscribe(&mut d, "bob", "chat:room", None);
    d.open("ann", &hubs[0].ws_url("user=ann"));
    subscribe(&mut d, "ann", "chat:room", None);
    loop {
        let (join, _) = d.recv_type("bob", "presence");
        assert_eq!(join["event"].as_str(), Some("join"), "{join:?}");
        if join["user"].as_str() == Some("ann") {
            break;
        }
    }
    let users = hubs[1].get("/api/presence/chat:room").json();
    assert_eq!(users["users"].as_array().len(), 2, "{users:?}");

    hubs[0].kill();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = d.recv("bob");
        if e["type"].as_str() == Some("presence") && e["event"].as_str() == Some("leave") {
            assert_eq!(e["user"].as_str(), Some("ann"));
            break;
        }
        assert!(Instant::now() < deadline, "no leave for ann: {e:?}");
    }
    let users = hubs[1].get("/api/presence/chat:room").json();
    let users: Vec<&str> = users["users"]
        .as_array()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert_eq!(users, ["bob"]);
}

#[test]
fn redis_killed_mid_stream_without_persistence_gives_an_epoch_gap_and_traffic_resumes() {
    let mut redis = RedisServer::start();
    let hubs = nodes(&redis, 2, &[]);
    let mut d = Driver::python();
    d.open("s", &hubs[1].ws_url("user=sam"));
    subscribe(&mut d, "s", "feed", None);
    for n in 0..3 {
        hubs[0].publish("feed", &format!("{n}"));
    }
    let got = messages(&mut d, "s", 3);
    let before = got[2]["offset"].as_str().unwrap().to_owned();

    redis.kill();
    for hub in &hubs {
        assert!(wait_unhealthy(hub).contains("redis"));
    }
    // Publishing fails loudly, and the session stays open.
    let r = hubs[0].post("/api/publish", r#"{"channel":"feed","data":"lost?"}"#);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(hubs[0].metric("wsx_broker_up"), Some(0.0));

    redis.restart();
    for hub in &hubs {
        wait_healthy(hub);
    }
    // The node resubscribed and resynced: history is gone, and the client is told.
    // One for the channel, one for the inbox (`channel: null`), in either order.
    let mut gaps = Vec::new();
    while gaps.len() < 2 {
        let (gap, skipped) = d.recv_type("s", "gap");
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(gap["reason"].as_str(), Some("epoch"), "{gap:?}");
        gaps.push(gap);
    }
    let gap = gaps
        .into_iter()
        .find(|g| g["channel"].as_str() == Some("feed"))
        .expect("a gap for feed");
    let resume = gap["offset"].as_str().unwrap().to_owned();
    assert_ne!(epoch(&resume), epoch(&before));
    hubs[0].publish("feed", r#""after""#);
    let m = messages(&mut d, "s", 1);
    assert_eq!(m[0]["data"].as_str(), Some("after"));
    assert_eq!(epoch(m[0]["offset"].as_str().unwrap()), epoch(&resume));
    assert!(total(&hubs, "wsx_broker_reconnects_total") >= 2.0);
}

#[test]
fn redis_killed_mid_stream_with_persistence_loses_nothing() {
    let mut redis = RedisServer::persistent();
    let hubs = nodes(&redis, 2, &[]);
    let mut d = Driver::python();
    d.open("s", &hubs[1].ws_url("user=sam"));
    subscribe(&mut d, "s", "feed", None);
    for n in 0..3 {
        hubs[0].publish("feed", &format!("{n}"));
    }
    messages(&mut d, "s", 3);
    redis.kill();
    wait_unhealthy(&hubs[1]);
    redis.restart();
    for hub in &hubs {
        wait_healthy(hub);
    }
    for n in 3..6 {
        hubs[0].publish("feed", &format!("{n}"));
    }
    // No gap: history survived, and the offsets go on from where they were.
    let got = messages(&mut d, "s", 3);
    let data: Vec<u64> = got.iter().map(|m| m["data"].as_u64().unwrap()).collect();
    assert_eq!(data, [3, 4, 5]);
    assert_eq!(seq(got[0]["offset"].as_str().unwrap()), 4);
}

#[test]
fn a_frozen_redis_fails_within_the_timeout_and_junk_from_redis_is_ignored() {
    let mut redis = RedisServer::start();
    let hubs = nodes(&redis, 2, &["--redis-timeout-ms", "300"]);
    let mut d = Driver::python();
    d.open("s", &hubs[1].ws_url("user=sam"));
    subscribe(&mut d, "s", "feed", None);

    // Junk where the nodes read: a topic's channel, a node channel.
    redis.cli(["PUBLISH", "wsx:{c:feed}", "not a message"]);
    redis.cli(["PUBLISH", "wsx:cluster", "{\"t\":\"nonsense\"}"]);
    hubs[0].publish("feed", r#""fine""#);
    assert_eq!(messages(&mut d, "s", 1)[0]["data"].as_str(), Some("fine"));
    assert!(
        hubs[1]
            .metric("wsx_broker_errors_total{reason=\"subscribe\"}")
            .unwrap_or(0.0)
            >= 1.0
    );

    redis.freeze();
    // The answer comes (no hang): an error, the node up, the session open.
    let r = hubs[0].post("/api/publish", r#"{"channel":"feed","data":"frozen"}"#);
    assert_eq!(r.status, 503, "{}", r.text());
    d.send("s", r#"{"type":"publish","channel":"feed","data":"x","id":9}"#);
    let (err, _) = d.recv_type("s", "error");
    assert_eq!(err["code"].as_str(), Some("unavailable"), "{err:?}");
    redis.thaw();
    for hub in &hubs {
        wait_healthy(hub);
    }
    hubs[0].publish("feed", r#""thawed""#);
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let e = d.recv("s");
        if e["data"].as_str() == Some("thawed") {
            break;
        }
        assert!(Instant::now() < deadline, "no message after the thaw: {e:?}");
    }
}

#[test]
fn presence_comes_back_after_redis_lost_it() {
    let mut redis = RedisServer::start();
    let hubs = nodes(&redis, 2, &["--cluster-presence-ttl", "3"]);
    let mut d = Driver::python();
    d.open("ann", &hubs[0].ws_url("user=ann"));
    subscribe(&mut d, "ann", "chat:room", None);
    let listed = |hub: &HubServer| -> Vec<String> {
        let r = hub.get("/api/presence/chat:room");
        if r.status != 200 {
            return Vec::new();
        }
        r.json()["users"]
            .as_array()
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(listed(&hubs[1]), ["ann"]);
    redis.kill();
    redis.restart();
    // Redis came back empty; ann's node notices with its next heartbeat (every second
    // here) and adds her again, without her doing anything.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while listed(&hubs[1]) != ["ann"] {
        assert!(Instant::now() < deadline, "ann is not listed again");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn connections_cut_mid_stream_lose_nothing_and_duplicate_nothing() {
    let redis = RedisServer::start();
    let hubs = nodes(&redis, 2, &[]);
    let mut d = Driver::python();
    d.open("s", &hubs[1].ws_url("user=sam"));
    subscribe(&mut d, "s", "feed", None);
    let addr = hubs[0].addr();
    // Publishes go on while Redis drops the nodes' connections under them, subscription
    // and command connections alike. Each publish either answers with its offset or
    // fails with 503 (a 503 whose command had reached Redis still published: the reply
    // was what got lost). The subscriber must end with every message published, each
    // once, in order, the answered ones among them: what pub/sub lost in between comes
    // back from history.
    let publisher = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for n in 0..400u64 {
            let body = format!(r#"{{"channel":"feed","data":{n}}}"#);
            let r = request(
                addr,
                "POST",
                "/api/publish",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            );
            match r.status {
                200 => acked.push((seq(r.json()["offset"].as_str().unwrap()), n)),
                503 => {}
                other => panic!("publish: {other} {}", r.text()),
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        acked
    });
    for kind in ["pubsub", "normal", "pubsub"] {
        std::thread::sleep(Duration::from_millis(150));
        redis.cli(["CLIENT", "KILL", "TYPE", kind]);
    }
    let acked = publisher.join().unwrap();
    assert!(acked.len() > 300, "most publishes got through: {}", acked.len());
    let last = acked.last().unwrap().0;
    let mut got = Vec::new();
    let deadline = Instant::now() + STEP_TIMEOUT;
    while got.last().is_none_or(|(s, _)| *s < last) {
        assert!(
            Instant::now() < deadline,
            "{} arrived, up to {:?}",
            got.len(),
            got.last()
        );
        let e = d.recv("s");
        match e["type"].as_str() {
            Some("message") => got.push((seq(e["offset"].as_str().unwrap()), e["data"].as_u64().unwrap())),
            Some("gap") => panic!("history held everything, yet: {e:?}"),
            _ => {}
        }
    }
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "every offset once, in order"
    );
    for a in &acked {
        assert!(got.contains(a), "answered {a:?} not delivered");
    }
    assert!(hubs[1].metric("wsx_broker_resyncs_total").unwrap_or(0.0) >= 1.0);
}

#[test]
fn unexpected_data_in_redis_is_refused_clearly_and_counted() {
    let redis = RedisServer::start();
    let hubs = nodes(&redis, 1, &[]);
    // A topic whose meta hash someone else wrote.
    redis.cli(["HSET", "wsx:{c:odd}:m", "epoch", "not-a-number", "seq", "0"]);
    let r = hubs[0].post("/api/publish", r#"{"channel":"odd","data":1}"#);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("unexpected"), "{}", r.text());
    let r = hubs[0].get("/api/history/odd");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        hubs[0]
            .metric("wsx_broker_errors_total{reason=\"publish\"}")
            .unwrap_or(0.0)
            >= 1.0
    );
    // Nothing else is affected.
    hubs[0].publish("even", "1");
    assert_eq!(hubs[0].get("/healthz").status, 200);
}

#[test]
fn a_node_stopped_with_sigterm_lets_its_users_leave_without_waiting_out_the_ttl() {
    let redis = RedisServer::start();
    // A TTL far beyond the test's patience: only the stopping node's hand-over can
    // make ann leave in time.
    let flags = ["--cluster-presence-ttl", "120", "--presence-grace", "1"];
    let mut hubs = nodes(&redis, 2, &flags);
    let mut d = Driver::python();
    d.open("bob", &hubs[1].ws_url("user=bob"));
    subscribe(&mut d, "bob", "chat:room", None);
    d.open("ann", &hubs[0].ws_url("user=ann"));
    subscribe(&mut d, "ann", "chat:room", None);
    hubs[0].terminate();
    let (code, _, _) = d.closed("ann", STEP_TIMEOUT);
    assert_eq!(code, 1001);
    assert!(hubs[0].wait(STEP_TIMEOUT).success());
    loop {
        let (e, _) = d.recv_type("bob", "presence");
        if e["event"].as_str() == Some("leave") {
            assert_eq!(e["user"].as_str(), Some("ann"));
            break;
        }
    }
}

#[test]
fn nodes_reach_redis_over_tls_with_a_password() {
    let dir = support::TempDir::new("redis-tls");
    let certs = support::TestCerts::generate(dir.path());
    let tls_port = support::unused_port();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let redis = RedisServer::start_with(support::RedisOptions {
        password: Some("s3cret".into()),
        extra: vec![
            format!("tls-port {tls_port}"),
            format!("tls-cert-file {}", path(&certs.chain)),
            format!("tls-key-file {}", path(&certs.key)),
            format!("tls-ca-cert-file {}", path(&certs.ca)),
            "tls-auth-clients no".into(),
        ],
        ..Default::default()
    });
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let ca = path(&certs.ca);
    let flags = ["--broker", url.as_str(), "--redis-ca-cert", ca.as_str()];
    let env = [("WSX_REDIS_PASSWORD", "s3cret")];
    let hubs: Vec<HubServer> = (0..2)
        .map(|_| {
            let hub = HubServer::start_with_env(env!("CARGO_BIN_EXE_wsx"), &flags, &env);
            wait_healthy(&hub);
            hub
        })
        .collect();
    let mut d = Driver::python();
    d.open("s", &hubs[1].ws_url("user=tim"));
    subscribe(&mut d, "s", "secure", None);
    hubs[0].publish("secure", r#""over tls""#);
    assert_eq!(messages(&mut d, "s", 1)[0]["data"].as_str(), Some("over tls"));
    // The same Redis without the CA: the certificate is refused, and the node says so.
    let untrusting = HubServer::start_with_env(env!("CARGO_BIN_EXE_wsx"), &["--broker", url.as_str()], &env);
    let deadline = Instant::now() + STEP_TIMEOUT;
    let why = loop {
        let r = untrusting.get("/healthz");
        assert_eq!(r.status, 503, "a node that cannot trust Redis says it is healthy");
        if !r.text().contains("connecting") {
            break r.text().to_lowercase();
        }
        assert!(Instant::now() < deadline, "still only connecting");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(why.contains("certificate"), "{why}");
    drop(redis);
}
