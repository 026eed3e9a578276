//! Recovery with `since`, end to end on `wsx serve` with Python `websockets` and Node `ws`
//! clients:
//!
//! - 500 missed messages replay in order, and the seam between the replay and live
//!   delivery has no duplicate and no hole while messages keep being published during
//!   the resubscribe;
//! - what cannot be replayed is declared by a `gap` — `trimmed` (`--history-size 10`),
//!   `expired` (`--history-ttl 1`), `epoch` (an offset from another run of the server) —
//!   then what history still holds is replayed (partial recovery), and the gap's
//!   `offset` is a `since` that loses nothing more;
//! - the inbox replays with `?since=` on the connect URL (WebSocket and SSE), and its gap
//!   has `channel: null`.

use wsx_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::STEP_TIMEOUT;
use support::hub::{Driver, HubServer, Sse, publish};
use support::json::Json;

fn serve(flags: &[&str]) -> HubServer {
    HubServer::start(env!("CARGO_BIN_EXE_wsx"), flags)
}

/// Subscribes `conn` to `channel` (with `since` if given); the ack.
fn subscribe(d: &mut Driver, conn: &str, channel: &str, since: Option<&str>) -> Json {
    let since = since.map(|s| format!(r#","since":"{s}""#)).unwrap_or_default();
    d.send(
        conn,
        &format!(r#"{{"type":"subscribe","channel":"{channel}","id":"sub"{since}}}"#),
    );
    let ack = d.recv(conn);
    assert_eq!(
        ack["type"].as_str(),
        Some("ack"),
        "the subscribe's answer: {ack:?}"
    );
    assert_eq!(ack["channel"].as_str(), Some(channel));
    ack
}

/// The `n` of a message published as `{"n":N}`.
fn n_of(e: &Json) -> u64 {
    assert_eq!(e["type"].as_str(), Some("message"), "{e:?}");
    e["data"]["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("no data.n in {e:?}"))
}

/// The channel's latest offset, as a first subscriber's ack reports it.
fn current_offset(hub: &HubServer, channel: &str) -> String {
    let r = hub.get(&format!("/api/history/{channel}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["offset"].as_str().unwrap().to_owned()
}

#[test]
fn five_hundred_missed_messages_replay_in_order_with_no_duplicate_or_hole_at_the_seam() {
    let hub = serve(&["--history-size", "5000"]);
    let addr = hub.addr();
    let mut py = Driver::python();
    let start = current_offset(&hub, "feed");
    for n in 0..500 {
        hub.publish("feed", &format!(r#"{{"n":{n}}}"#));
    }
    // Publishing goes on while the client resubscribes.
    let published = Arc::new(AtomicUsize::new(500));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (published, stop) = (published.clone(), stop.clone());
        std::thread::spawn(move || {
            for n in 500..1500 {
                if stop.load(Ordering::SeqCst) && n >= 700 {
                    break;
                }
                publish(addr, "feed", &format!(r#"{{"n":{n}}}"#));
                published.store(n + 1, Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + STEP_TIMEOUT;
    while published.load(Ordering::SeqCst) < 520 {
        assert!(Instant::now() < deadline, "the publisher is stuck");
        std::thread::sleep(Duration::from_millis(2));
    }
    py.open("c", &hub.ws_url("user=reader"));
    let ack = subscribe(&mut py, "c", "feed", Some(&start));
    assert_eq!(ack["recovering"].as_bool(), Some(true), "{ack:?}");
    stop.store(true, Ordering::SeqCst);
    publisher.join().expect("the publisher");
    let last = published.load(Ordering::SeqCst) as u64;
    assert!(last >= 700, "the publisher published during the resubscribe");
    let mut offsets = std::collections::HashSet::new();
    for want in 0..last {
        let e = py.recv("c");
        assert_ne!(e["type"].as_str(), Some("gap"), "nothing was lost: {e:?}");
        assert_eq!(n_of(&e), want, "message {want} next (no duplicate, no hole)");
        assert!(
            offsets.insert(e["offset"].as_str().unwrap().to_owned()),
            "a repeated offset: {e:?}"
        );
    }
    // And live after that.
    hub.publish("feed", r#"{"n":-1}"#);
    let live = py.recv("c");
    assert_eq!(
        live["data"]["n"].as_f64(),
        Some(-1.0),
        "the next live message: {live:?}"
    );
}

#[test]
fn a_node_client_recovers_a_short_absence_without_a_gap() {
    let hub = serve(&[]);
    let mut node = Driver::node();
    node.open("c", &hub.ws_url("user=bob"));
    subscribe(&mut node, "c", "room", None);
    hub.publish("room", r#"{"n":0}"#);
    let seen = node.recv("c");
    assert_eq!(n_of(&seen), 0);
    let last = seen["offset"].as_str().unwrap().to_owned();
    node.close("c", 1000);
    node.closed("c", STEP_TIMEOUT);
    for n in 1..=3 {
        hub.publish("room", &format!(r#"{{"n":{n}}}"#));
    }
    node.open("c2", &hub.ws_url("user=bob"));
    subscribe(&mut node, "c2", "room", Some(&last));
    for n in 1..=3 {
        assert_eq!(n_of(&node.recv("c2")), n);
    }
    // Nothing missed since the last one: nothing replayed.
    let latest = current_offset(&hub, "room");
    node.open("c3", &hub.ws_url("user=bob"));
    subscribe(&mut node, "c3", "room", Some(&latest));
    hub.publish("room", r#"{"n":4}"#);
    assert_eq!(n_of(&node.recv("c3")), 4, "no replay, then live");
}

#[test]
fn trimmed_history_answers_a_gap_then_what_it_still_holds() {
    let hub = serve(&["--history-size", "10"]);
    let mut py = Driver::python();
    let start = current_offset(&hub, "t");
    let offsets: Vec<String> = (0..25)
        .map(|n| hub.publish("t", &format!(r#"{{"n":{n}}}"#)))
        .collect();
    py.open("c", &hub.ws_url("user=u"));
    subscribe(&mut py, "c", "t", Some(&start));
    let gap = py.recv("c");
    assert_eq!(gap["type"].as_str(), Some("gap"), "{gap:?}");
    assert_eq!(gap["reason"].as_str(), Some("trimmed"), "{gap:?}");
    assert_eq!(gap["channel"].as_str(), Some("t"));
    assert_eq!(gap["since"].as_str(), Some(start.as_str()));
    // Delivery resumes after message 14: the ten still held are 15..24.
    assert_eq!(gap["offset"].as_str(), Some(offsets[14].as_str()), "{gap:?}");
    for n in 15..25 {
        let e = py.recv("c");
        assert_eq!(n_of(&e), n);
        assert_eq!(e["offset"].as_str(), Some(offsets[n as usize].as_str()));
    }
    hub.publish("t", r#"{"n":25}"#);
    assert_eq!(n_of(&py.recv("c")), 25, "live after the replay");
}

#[test]
fn a_gap_offset_as_since_loses_nothing_more() {
    let hub = serve(&["--history-size", "10"]);
    let mut node = Driver::node();
    let start = current_offset(&hub, "t");
    for n in 0..15 {
        hub.publish("t", &format!(r#"{{"n":{n}}}"#));
    }
    node.open("c", &hub.ws_url("user=u"));
    subscribe(&mut node, "c", "t", Some(&start));
    let gap = node.recv("c");
    assert_eq!(gap["reason"].as_str(), Some("trimmed"), "{gap:?}");
    let resume = gap["offset"].as_str().unwrap().to_owned();
    node.open("d", &hub.ws_url("user=u"));
    subscribe(&mut node, "d", "t", Some(&resume));
    for n in 5..15 {
        let e = node.recv("d");
        assert_eq!(n_of(&e), n, "no gap, the same ten messages: {e:?}");
    }
}

#[test]
fn expired_history_answers_a_gap_then_what_is_still_fresh() {
    let hub = serve(&["--history-ttl", "1"]);
    let mut py = Driver::python();
    let start = current_offset(&hub, "e");
    let old: Vec<String> = (0..3)
        .map(|n| hub.publish("e", &format!(r#"{{"n":{n}}}"#)))
        .collect();
    // Wait (bounded) until the history says they are gone.
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let h = hub.get(&format!("/api/history/e?since={start}")).json();
        if h["gap"]["reason"].as_str() == Some("expired") {
            assert!(h["messages"].as_array().is_empty(), "{h:?}");
            break;
        }
        assert!(Instant::now() < deadline, "history never expired: {h:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    py.open("c", &hub.ws_url("user=u"));
    let fresh: Vec<String> = (3..5)
        .map(|n| hub.publish("e", &format!(r#"{{"n":{n}}}"#)))
        .collect();
    subscribe(&mut py, "c", "e", Some(&start));
    let gap = py.recv("c");
    assert_eq!(gap["type"].as_str(), Some("gap"), "{gap:?}");
    assert_eq!(gap["reason"].as_str(), Some("expired"), "{gap:?}");
    assert_eq!(gap["since"].as_str(), Some(start.as_str()));
    // Partial recovery: delivery resumes after the expired ones, and the fresh ones are
    // still replayed. (On a machine so slow that a fresh one expired too before the
    // subscribe, the gap says so by resuming later; what follows must match it.)
    let resume = gap["offset"].as_str().unwrap();
    let held = if resume == old[2] {
        0
    } else {
        1 + fresh
            .iter()
            .position(|o| o == resume)
            .unwrap_or_else(|| panic!("the gap resumes at {resume}, after no message published: {gap:?}"))
    };
    for (i, n) in (3..5).enumerate().skip(held) {
        let e = py.recv("c");
        assert_eq!(n_of(&e), n, "{e:?}");
        assert_eq!(e["offset"].as_str(), Some(fresh[i].as_str()));
    }
    hub.publish("e", r#"{"n":5}"#);
    assert_eq!(n_of(&py.recv("c")), 5, "live after the replay");
}

#[test]
fn an_offset_from_another_run_of_the_server_answers_a_gap_epoch() {
    let mut first = serve(&[]);
    let old = first.publish("room", r#"{"n":0}"#);
    first.kill();
    let hub = serve(&[]);
    let held = [
        hub.publish("room", r#"{"n":1}"#),
        hub.publish("room", r#"{"n":2}"#),
    ];
    let mut py = Driver::python();
    py.open("c", &hub.ws_url("user=u"));
    subscribe(&mut py, "c", "room", Some(&old));
    let gap = py.recv("c");
    assert_eq!(gap["type"].as_str(), Some("gap"), "{gap:?}");
    assert_eq!(gap["reason"].as_str(), Some("epoch"), "{gap:?}");
    assert_eq!(gap["since"].as_str(), Some(old.as_str()));
    let resume = gap["offset"].as_str().unwrap().to_owned();
    assert_ne!(resume, old);
    // Then everything this history holds, then live.
    for (i, n) in [1, 2].into_iter().enumerate() {
        let e = py.recv("c");
        assert_eq!(n_of(&e), n);
        assert_eq!(e["offset"].as_str(), Some(held[i].as_str()));
    }
    hub.publish("room", r#"{"n":3}"#);
    assert_eq!(n_of(&py.recv("c")), 3);
    // The resume offset is of this epoch: as a since it replays the same, with no gap.
    py.open("d", &hub.ws_url("user=u"));
    subscribe(&mut py, "d", "room", Some(&resume));
    for n in 1..=3 {
        assert_eq!(n_of(&py.recv("d")), n);
    }
}

#[test]
fn a_garbage_since_answers_a_gap_epoch_and_replays_what_is_held() {
    let hub = serve(&[]);
    hub.publish("room", r#"{"n":0}"#);
    let mut node = Driver::node();
    node.open("c", &hub.ws_url("user=u"));
    subscribe(&mut node, "c", "room", Some("not-an-offset"));
    let gap = node.recv("c");
    assert_eq!(gap["reason"].as_str(), Some("epoch"), "{gap:?}");
    assert_eq!(n_of(&node.recv("c")), 0);
}

#[test]
fn the_inbox_replays_with_since_on_the_connect_url() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    let mut node = Driver::node();
    let welcome = py.open("a", &hub.ws_url("user=alice"));
    let since = welcome["offset"]
        .as_str()
        .expect("the welcome's inbox offset")
        .to_owned();
    py.close("a", 1000);
    py.closed("a", STEP_TIMEOUT);
    // While alice is away: two from the API, one from bob.
    for i in 0..2 {
        let r = hub.post("/api/send", &format!(r#"{{"to":["alice"],"data":{i}}}"#));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    node.open("bob", &hub.ws_url("user=bob"));
    node.send("bob", r#"{"type":"send","to":["alice"],"data":2,"id":1}"#);
    assert_eq!(node.recv("bob")["type"].as_str(), Some("ack"));

    let url = hub.ws_url(&format!("user=alice&since={since}"));
    let welcome = py.open("back", &url);
    assert_eq!(welcome["user"].as_str(), Some("alice"));
    let mut last = String::new();
    for i in 0..3 {
        let e = py.recv("back");
        assert_eq!(e["type"].as_str(), Some("direct"), "{e:?}");
        assert_eq!(e["data"].as_u64(), Some(i), "{e:?}");
        assert_eq!(e["from"].as_str(), (i == 2).then_some("bob"), "{e:?}");
        last = e["offset"].as_str().unwrap().to_owned();
    }
    assert_eq!(
        welcome["offset"].as_str(),
        Some(last.as_str()),
        "the welcome's offset is the latest"
    );
    // Live after the replay.
    hub.post("/api/send", r#"{"to":["alice"],"data":3}"#);
    assert_eq!(py.recv("back")["data"].as_u64(), Some(3));

    // The same over SSE, from the first offset: the four, in order.
    let mut sse = Sse::open(hub.addr(), &format!("/sse?user=alice&since={since}"), &[]).expect("SSE");
    assert_eq!(sse.next_json()["type"].as_str(), Some("welcome"));
    for i in 0..4 {
        let e = sse.next_json();
        assert_eq!(
            (e["type"].as_str(), e["data"].as_u64()),
            (Some("direct"), Some(i)),
            "{e:?}"
        );
    }
}

#[test]
fn an_inbox_gap_has_channel_null() {
    let hub = serve(&["--history-size", "10"]);
    let mut py = Driver::python();
    let welcome = py.open("a", &hub.ws_url("user=alice"));
    let since = welcome["offset"].as_str().unwrap().to_owned();
    py.close("a", 1000);
    py.closed("a", STEP_TIMEOUT);
    for i in 0..15 {
        let r = hub.post("/api/send", &format!(r#"{{"to":["alice"],"data":{i}}}"#));
        assert_eq!(r.status, 200);
    }
    py.open("b", &hub.ws_url(&format!("user=alice&since={since}")));
    let gap = py.recv("b");
    assert_eq!(gap["type"].as_str(), Some("gap"), "{gap:?}");
    assert!(gap["channel"].is_null(), "the inbox's gap: {gap:?}");
    let Json::Object(fields) = &gap else {
        unreachable!()
    };
    assert!(
        fields.iter().any(|(k, _)| k == "channel"),
        "`channel` is there, as null: {gap:?}"
    );
    assert_eq!(gap["reason"].as_str(), Some("trimmed"));
    assert_eq!(gap["since"].as_str(), Some(since.as_str()));
    for i in 5..15 {
        assert_eq!(py.recv("b")["data"].as_u64(), Some(i));
    }
    // An inbox offset from nowhere: a gap epoch, still with channel null.
    py.open("c", &hub.ws_url("user=alice&since=zzzz-3"));
    let gap = py.recv("c");
    assert_eq!(gap["type"].as_str(), Some("gap"), "{gap:?}");
    assert!(gap["channel"].is_null(), "{gap:?}");
    assert_eq!(gap["reason"].as_str(), Some("epoch"), "{gap:?}");
    for i in 5..15 {
        assert_eq!(py.recv("c")["data"].as_u64(), Some(i));
    }
}

#[test]
fn a_replay_larger_than_the_outgoing_queue_is_paced_and_meets_live_delivery_exactly() {
    // 1500 missed messages of 1 KiB through a 64 KiB queue, while publishing goes on:
    // the replay is paced by what the client takes, and live messages that pile up
    // meanwhile are recovered from history, with no gap (history holds them all).
    let hub = serve(&["--outgoing-queue", "65536", "--history-size", "10000"]);
    let addr = hub.addr();
    let start = current_offset(&hub, "big");
    let pad = "q".repeat(1024);
    for n in 0..1500 {
        hub.publish("big", &format!(r#"{{"n":{n},"pad":"{pad}"}}"#));
    }
    let published = Arc::new(AtomicUsize::new(1500));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (published, stop, pad) = (published.clone(), stop.clone(), pad.clone());
        std::thread::spawn(move || {
            for n in 1500..4000 {
                if stop.load(Ordering::SeqCst) && n >= 1700 {
                    break;
                }
                publish(addr, "big", &format!(r#"{{"n":{n},"pad":"{pad}"}}"#));
                published.store(n + 1, Ordering::SeqCst);
            }
        })
    };
    let mut node = Driver::node();
    node.open("c", &hub.ws_url("user=reader"));
    subscribe(&mut node, "c", "big", Some(&start));
    // Let publishing run into the replay before it stops.
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut want = 0;
    while published.load(Ordering::SeqCst) < 1700 {
        assert!(Instant::now() < deadline, "the publisher is stuck");
        let e = node.recv("c");
        assert_eq!(
            n_of(&e),
            want,
            "in order, no gap: {}",
            e["type"].as_str().unwrap_or("?")
        );
        want += 1;
    }
    stop.store(true, Ordering::SeqCst);
    publisher.join().unwrap();
    let last = published.load(Ordering::SeqCst) as u64;
    while want < last {
        let e = node.recv("c");
        assert_eq!(
            n_of(&e),
            want,
            "in order, no gap: {}",
            e["type"].as_str().unwrap_or("?")
        );
        want += 1;
    }
    hub.publish("big", r#"{"n":-1}"#);
    let e = node.recv("c");
    assert_eq!(e["data"]["n"].as_f64(), Some(-1.0), "{e:?}");
}

#[test]
fn a_subscribe_without_since_delivers_everything_after_its_acks_offset() {
    let hub = serve(&["--history-size", "100000"]);
    let addr = hub.addr();
    // Publishing runs before, during and (100 messages) after the subscribe.
    let stop_at = Arc::new(AtomicUsize::new(usize::MAX));
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (stop_at, published) = (stop_at.clone(), published.clone());
        std::thread::spawn(move || {
            // At most ~1,000/s for at most 90 s: history (100,000) keeps all of it however
            // long a loaded machine takes to subscribe, and the publisher is still going
            // when it does (a fixed count could run out first).
            let give_up = Instant::now() + Duration::from_secs(90);
            let mut n = 0;
            while n < stop_at.load(Ordering::SeqCst) && Instant::now() < give_up {
                publish(addr, "live", &format!(r#"{{"n":{n}}}"#));
                n += 1;
                published.store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let deadline = Instant::now() + STEP_TIMEOUT;
    while published.load(Ordering::SeqCst) < 50 {
        assert!(Instant::now() < deadline, "the publisher is stuck");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut py = Driver::python();
    py.open("c", &hub.ws_url("user=u"));
    let ack = subscribe(&mut py, "c", "live", None);
    stop_at.store(published.load(Ordering::SeqCst) + 100, Ordering::SeqCst);
    publisher.join().unwrap();
    let from = ack["offset"].as_str().unwrap();
    // Exactly what history has after the ack's offset, in order.
    let h = hub.get(&format!("/api/history/live?since={from}")).json();
    assert!(h["gap"].is_null(), "{h:?}");
    let want: Vec<u64> = h["messages"].as_array().iter().map(n_of).collect();
    assert!(want.len() >= 100, "messages were published after the subscribe");
    for n in want {
        assert_eq!(n_of(&py.recv("c")), n);
    }
}

#[test]
fn the_inbox_replays_on_a_long_poll_session_too() {
    let hub = serve(&[]);
    let (_, first) = support::hub::PollSession::start(hub.addr(), "user=alice").unwrap();
    let since = first[0]["offset"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let r = hub.post("/api/send", &format!(r#"{{"to":["alice"],"data":{i}}}"#));
        assert_eq!(r.status, 200);
    }
    let (mut poll, events) =
        support::hub::PollSession::start(hub.addr(), &format!("user=alice&since={since}")).unwrap();
    assert_eq!(events[0]["type"].as_str(), Some("welcome"));
    let mut got: Vec<u64> = events[1..].iter().filter_map(|e| e["data"].as_u64()).collect();
    while got.len() < 3 {
        got.extend(poll.poll().iter().filter_map(|e| e["data"].as_u64()));
    }
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn a_long_poll_client_recovers_a_large_replay_in_paced_batches() {
    let hub = serve(&[
        "--outgoing-queue",
        "65536",
        "--slow-consumer-timeout",
        "2",
        "--poll-timeout",
        "2",
    ]);
    let start = current_offset(&hub, "p");
    let pad = "r".repeat(1024);
    for n in 0..600 {
        hub.publish("p", &format!(r#"{{"n":{n},"pad":"{pad}"}}"#));
    }
    let (mut poll, _) = support::hub::PollSession::start(hub.addr(), "user=alice").unwrap();
    let r = poll.emulate(&format!(
        r#"{{"type":"subscribe","channel":"p","since":"{start}","id":1}}"#
    ));
    assert_eq!(r.status, 202);
    let mut want = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while want < 600 {
        assert!(Instant::now() < deadline, "the replay stalled at {want}");
        for e in poll.poll() {
            match e["type"].as_str() {
                Some("ack") => {}
                Some("message") => {
                    assert_eq!(n_of(&e), want);
                    want += 1;
                }
                _ => panic!("during the replay: {e:?}"),
            }
        }
    }
}

#[test]
fn subscribing_again_replays_nothing_twice() {
    let hub = serve(&[]);
    let mut py = Driver::python();
    py.open("c", &hub.ws_url("user=u"));
    let start = subscribe(&mut py, "c", "twice", None)["offset"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..3 {
        hub.publish("twice", &format!(r#"{{"n":{n}}}"#));
        assert_eq!(n_of(&py.recv("c")), n);
    }
    // Already live: the ack says where it stands, nothing is replayed again.
    let ack = subscribe(&mut py, "c", "twice", Some(&start));
    assert_eq!(
        ack["offset"].as_str(),
        Some(current_offset(&hub, "twice").as_str()),
        "{ack:?}"
    );
    hub.publish("twice", r#"{"n":3}"#);
    assert_eq!(n_of(&py.recv("c")), 3, "no duplicate of 0..2");
}

#[test]
fn a_since_from_the_future_of_this_epoch_is_a_gap_epoch() {
    let hub = serve(&[]);
    let latest = hub.publish("f", r#"{"n":0}"#);
    let (epoch, seq) = latest.rsplit_once('-').unwrap();
    let future = format!("{epoch}-{}", seq.parse::<u64>().unwrap() + 100);
    let mut node = Driver::node();
    node.open("c", &hub.ws_url("user=u"));
    subscribe(&mut node, "c", "f", Some(&future));
    let gap = node.recv("c");
    assert_eq!(gap["reason"].as_str(), Some("epoch"), "{gap:?}");
    assert_eq!(n_of(&node.recv("c")), 0, "then what is held");
}
