//! SIGTERM on `wsx serve`: every WebSocket client (Python `websockets`, Node `ws`) gets a
//! close with 1001, SSE streams end, a held long-poll is answered, and the process exits
//! 0 (within the default 10 s shutdown timeout, checked with a bound, not a clock).

use wsx_test_support as support;

use std::time::Duration;
use support::STEP_TIMEOUT;
use support::hub::{Driver, HubServer, PollSession, Sse, WsEvent};

#[test]
fn sigterm_closes_every_client_with_1001_and_exits_0() {
    let mut hub = HubServer::start(
        env!("CARGO_BIN_EXE_wsx"),
        &["--poll-timeout", "20", "--session-timeout", "60"],
    );
    let mut py = Driver::python();
    let mut node = Driver::node();
    py.open("a", &hub.ws_url("user=alice"));
    py.open("b", &hub.ws_url("user=bob"));
    node.open("c", &hub.ws_url("user=carol"));
    py.send("a", r#"{"type":"subscribe","channel":"room","id":1}"#);
    assert_eq!(py.recv("a")["type"].as_str(), Some("ack"));
    let mut sse = Sse::open(hub.addr(), "/sse?user=dave", &[]).unwrap();
    assert_eq!(sse.next_json()["type"].as_str(), Some("welcome"));
    let (poll, _) = PollSession::start(hub.addr(), "user=erin").unwrap();
    let held = std::thread::spawn(move || poll.poll_raw(None).status);
    // The poll is held (or about to be); the shutdown must answer it either way.
    std::thread::sleep(Duration::from_millis(200));

    hub.terminate();
    for conn in ["a", "b"] {
        let (code, _, _) = py.closed(conn, STEP_TIMEOUT);
        assert_eq!(code, 1001, "python {conn}: the close code on shutdown");
    }
    let (code, _, _) = node.closed("c", STEP_TIMEOUT);
    assert_eq!(code, 1001, "node: the close code on shutdown");
    sse.until_end(STEP_TIMEOUT);
    let status = held.join().expect("the held poll was answered");
    assert!(
        status == 200 || status == 404 || status == 503,
        "the held poll's answer on shutdown: {status}"
    );
    let exit = hub.wait(STEP_TIMEOUT);
    assert_eq!(
        exit.code(),
        Some(0),
        "wsx serve's exit on SIGTERM; stderr:\n{}",
        hub.stderr()
    );
    // Nothing listens any more.
    match py.try_open("late", &hub.ws_url("user=late"), None) {
        WsEvent::Failed(_) => {}
        other => panic!("a connection after the shutdown: {other:?}"),
    }
}

#[test]
fn sigterm_or_sigint_with_nobody_connected_exits_0() {
    for signal in ["TERM", "INT"] {
        let mut hub = HubServer::start(env!("CARGO_BIN_EXE_wsx"), &[]);
        assert_eq!(hub.get("/healthz").status, 200);
        let mut py = Driver::python();
        py.open("c", &hub.ws_url("user=alice"));
        hub.signal(signal);
        assert_eq!(py.closed("c", STEP_TIMEOUT).0, 1001, "SIG{signal}");
        let exit = hub.wait(STEP_TIMEOUT);
        assert_eq!(exit.code(), Some(0), "SIG{signal}; stderr:\n{}", hub.stderr());
    }
}

#[test]
fn sigterm_with_a_client_that_never_reads_still_exits_0_and_refuses_newcomers() {
    use support::hub::{RawWs, publish};
    let mut hub = HubServer::start(
        env!("CARGO_BIN_EXE_wsx"),
        &[
            "--outgoing-queue",
            "65536",
            "--slow-consumer-timeout",
            "30",
            "--shutdown-timeout",
            "3",
        ],
    );
    let mut stuck = RawWs::connect(hub.addr(), "/ws?user=stuck");
    stuck.send_text(r#"{"type":"subscribe","channel":"c"}"#);
    let deadline = std::time::Instant::now() + STEP_TIMEOUT;
    while !hub.get("/api/presence/c").text().contains("stuck") {
        assert!(std::time::Instant::now() < deadline, "never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Fill its socket and its queue: the close cannot reach it until it reads.
    let pad = "s".repeat(8192);
    for n in 0..1500 {
        publish(hub.addr(), "c", &format!(r#"{{"n":{n},"pad":"{pad}"}}"#));
    }
    let mut py = Driver::python();
    py.open("ok", &hub.ws_url("user=ok"));
    let addr = hub.addr();
    hub.terminate();
    let (code, _, _) = py.closed("ok", STEP_TIMEOUT);
    assert_eq!(code, 1001, "a reading client is told at once");
    // Newcomers are refused while the stuck one holds the shutdown up.
    let refused = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err();
    let exit = hub.wait(STEP_TIMEOUT);
    assert_eq!(exit.code(), Some(0), "stderr:\n{}", hub.stderr());
    assert!(refused, "a connection accepted during the shutdown");
    drop(stuck);
}
