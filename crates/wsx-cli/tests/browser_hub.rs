//! The browser client `clients/js/wsx.js` in headless Chromium (Debian's, driven by
//! playwright-core) against the real `wsx serve`: pages load from the hub (or from a
//! proxy in front of it), so the client and its fallbacks are same-origin.
//!
//! Each test runs one scenario of `tests/peers/browser_hub.js`, which checks what the
//! pages receive and prints a JSON report; the test acts when the driver asks (restart
//! the hub, cut the proxy) and checks the report again on its side.
//!
//! The proxy is ours ([`Proxy`]): a loopback TCP relay that can cut every connection and
//! refuse new ones (a page offline), or eat the WebSocket upgrade (answer it with a 200,
//! or never answer), the way a broken middlebox does.

use wsx_test_support as support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::hub::HubServer;
use support::json::Json;
use support::{INSTALL_HINT, Peer, STEP_TIMEOUT, peer_script, peers_dir, require_node_module};

const CHROMIUM: &str = "/usr/bin/chromium";
const BIN: &str = env!("CARGO_BIN_EXE_wsx");
/// The driver's own deadline is 75 s; this one only catches a driver that hangs anyway.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(90);

// ---- a proxy we control -----------------------------------------------------------------------

/// What the proxy does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Relays everything to the hub.
    Relay,
    /// Closes every connection at once: the network is gone.
    Down,
    /// Answers a `GET /ws` upgrade with `200 OK` (relays the rest).
    Upgrade200,
    /// Never answers a `GET /ws` upgrade (relays the rest).
    UpgradeHangs,
}

struct ProxyShared {
    mode: Mutex<Mode>,
    /// Every socket of every open connection, to cut them.
    sockets: Mutex<Vec<TcpStream>>,
    /// `GET /ws` requests that were eaten.
    eaten: AtomicUsize,
    /// Connections refused while down.
    refused: AtomicUsize,
    /// While set, what clients send is dropped: requests in flight that never arrive.
    stalled: AtomicBool,
    stop: AtomicBool,
}

/// A TCP relay on a loopback port in front of `upstream`, stopped on drop.
struct Proxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
}

impl Proxy {
    fn start(upstream: SocketAddr, mode: Mode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(ProxyShared {
            mode: Mutex::new(mode),
            sockets: Mutex::new(Vec::new()),
            eaten: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            stalled: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if *s.mode.lock().unwrap() == Mode::Down {
                    s.refused.fetch_add(1, Ordering::SeqCst);
                    let _ = conn.shutdown(Shutdown::Both);
                    continue;
                }
                let s = s.clone();
                std::thread::spawn(move || relay(conn, upstream, s));
            }
        });
        Proxy { addr, shared }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every connection and refuses new ones until [`up`](Self::up).
    fn down(&self) {
        *self.shared.mode.lock().unwrap() = Mode::Down;
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn up(&self) {
        self.shared.stalled.store(false, Ordering::SeqCst);
        *self.shared.mode.lock().unwrap() = Mode::Relay;
    }

    /// Drops what the clients send from now on (until [`up`](Self::up)).
    fn stall(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
    }

    fn eaten(&self) -> usize {
        self.shared.eaten.load(Ordering::SeqCst)
    }

    fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn keep(shared: &ProxyShared, s: &TcpStream) {
    if let Ok(clone) = s.try_clone() {
        shared.sockets.lock().unwrap().push(clone);
    }
}

/// One client connection: its first request line decides whether it is eaten, then
/// bytes flow both ways until either side ends.
fn relay(mut client: TcpStream, upstream: SocketAddr, shared: Arc<ProxyShared>) {
    keep(&shared, &client);
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = client.set_read_timeout(None);
    let mode = *shared.mode.lock().unwrap();
    if mode == Mode::Down {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    if head.starts_with(b"GET /ws?") || head.starts_with(b"GET /ws ") {
        match mode {
            Mode::Upgrade200 => {
                shared.eaten.fetch_add(1, Ordering::SeqCst);
                let _ =
                    client.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno");
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            Mode::UpgradeHangs => {
                shared.eaten.fetch_add(1, Ordering::SeqCst);
                // Held open, never answered, until the client gives up (or the proxy goes).
                let _ = client.read(&mut buf);
                return;
            }
            _ => {}
        }
    }
    let Ok(mut server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    keep(&shared, &server);
    if server.write_all(&head).is_err() {
        return;
    }
    let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        while let Ok(n @ 1..) = client_r.read(&mut buf) {
            if shared.stalled.load(Ordering::SeqCst) {
                continue;
            }
            if server_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = server_w.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut server, &mut client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
}

// ---- the hub, restarted on its port -------------------------------------------------------------

// ---- the driver ---------------------------------------------------------------------------

/// Runs `browser_hub.js SCENARIO ARGS…`, answering each `ask WHAT` line with `act(WHAT)`
/// then `done`; its report, checked for an error.
fn scenario(name: &str, args: &[(&str, String)], mut act: impl FnMut(&str)) -> Json {
    require_node_module("playwright-core");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing\n{INSTALL_HINT}"
    );
    let mut cmd = Command::new("node");
    cmd.arg(peer_script("browser_hub.js"))
        .arg(name)
        .current_dir(peers_dir())
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("WSX_CHROMIUM", CHROMIUM);
    for (k, v) in args {
        cmd.arg(format!("--{k}")).arg(v);
    }
    support::without_proxy_env(&mut cmd);
    let mut driver = Peer::spawn("browser_hub.js", cmd);
    let mut stdin = driver.take_stdin();
    let deadline = Instant::now() + DRIVER_TIMEOUT;
    let report = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = driver.line(left);
        if let Some(what) = line.strip_prefix("ask ") {
            act(what);
            writeln!(stdin, "done").expect("answer the driver");
            stdin.flush().unwrap();
        } else if line.starts_with('{') {
            break Json::parse(&line);
        } else {
            eprintln!("driver: {line}");
        }
    };
    let _ = driver.wait(Duration::from_secs(15));
    assert!(
        report["error"].is_null(),
        "{name}: {}\nchecks passed: {:?}\ndriver stderr:\n{}",
        report["error"].as_str().unwrap_or("?"),
        report["checks"],
        driver.stderr()
    );
    eprintln!(
        "{name}: Chromium {}, {} checks passed",
        report["browser"].as_str().unwrap_or("?"),
        report["checks"].as_array().len()
    );
    report
}

fn hub_url(hub: &HubServer) -> String {
    format!("http://{}", hub.addr())
}

fn texts(events: &Json) -> Vec<String> {
    events
        .as_array()
        .iter()
        .map(|m| m["data"]["text"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn no_asks(what: &str) {
    panic!("the driver asked {what:?}, which this scenario does not do");
}

// ---- the tests ------------------------------------------------------------------------------------

#[test]
fn two_pages_chat_over_websocket() {
    let hub = HubServer::start(BIN, &[]);
    let report = scenario("chat", &[("hub", hub_url(&hub))], no_asks);
    let o = &report["observed"];
    let bob_got = &o["bob"]["message"].as_array()[0];
    assert_eq!(bob_got["from"].as_str(), Some("alice"), "{bob_got:?}");
    assert_eq!(bob_got["data"]["text"].as_str(), Some("hi bob"));
    let alice_got = o["alice"]["message"]
        .as_array()
        .iter()
        .find(|m| m["from"].as_str() == Some("bob"))
        .expect("alice got bob's message")
        .clone();
    assert_eq!(alice_got["data"]["text"].as_str(), Some("hi alice"));
    assert_eq!(o["presence"]["users"].strings(), ["alice", "bob"]);
    assert_eq!(
        o["bobServer"].as_str(),
        Some(hub_url(&hub).as_str()),
        "bob's client moved past the dead {:?}",
        o["dead"]
    );
    assert!(
        !texts(&o["bob"]["message"]).contains(&"bob is gone".to_owned()),
        "bob unsubscribed"
    );
}

#[test]
fn without_websocket_sse_and_without_eventsource_long_polling() {
    let hub = HubServer::start(BIN, &[]);
    let report = scenario("fallback", &[("hub", hub_url(&hub))], no_asks);
    let o = &report["observed"];
    assert_eq!(o["transports"]["wendy"].as_str(), Some("websocket"));
    assert_eq!(o["transports"]["sam"].as_str(), Some("sse"));
    assert_eq!(o["transports"]["pat"].as_str(), Some("poll"));
    for user in ["wendy", "sam", "pat"] {
        let mut got = texts(&o["logs"][user]["message"]);
        got.sort();
        assert_eq!(got, ["from pat", "from sam", "from wendy"], "{user}");
    }
    assert_eq!(
        texts(&o["logs"]["pat"]["direct"]),
        ["sse to poll"],
        "the poll page's inbox"
    );
    assert_eq!(
        texts(&o["logs"]["sam"]["direct"]),
        ["poll to sse"],
        "the SSE page's inbox"
    );
}

#[test]
fn a_fallback_client_that_goes_away_leaves_presence_without_waiting_for_the_session_timeout() {
    let hub = HubServer::start(BIN, &["--presence-grace", "1", "--session-timeout", "600"]);
    let report = scenario("leaving", &[("hub", hub_url(&hub))], no_asks);
    let o = &report["observed"];
    assert_eq!(o["users"].strings(), ["wendy"]);
    let leaves: Vec<_> = o["presence"]
        .as_array()
        .iter()
        .filter(|e| e["event"].as_str() == Some("leave"))
        .map(|e| e["user"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(leaves, ["sam", "pat"]);
}

#[test]
fn a_direct_message_reaches_every_tab_of_its_user_and_no_one_else() {
    let hub = HubServer::start(BIN, &[]);
    let report = scenario("direct", &[("hub", hub_url(&hub))], no_asks);
    let o = &report["observed"];
    for tab in ["dana-ws", "dana-sse", "dana-poll"] {
        assert_eq!(texts(&o[tab]), ["for dana"], "{tab}");
        assert_eq!(o[tab].as_array()[0]["from"].as_str(), Some("erin"), "{tab}");
    }
    assert_eq!(texts(&o["frank"]), ["marker"]);
    assert!(o["erin"].as_array().is_empty());
}

#[test]
fn the_pages_reconnect_and_resubscribe_when_the_hub_restarts_on_its_port() {
    let mut hub = HubServer::start(BIN, &[]);
    let addr = hub.addr();
    let mut restarted = None;
    let report = scenario("restart", &[("hub", hub_url(&hub))], |what| {
        assert_eq!(what, "restart");
        hub.terminate();
        let status = hub.wait(STEP_TIMEOUT);
        assert!(status.success(), "wsx serve exited with {status} on SIGTERM");
        restarted = Some(HubServer::start_at(BIN, addr, &[]));
    });
    assert!(restarted.is_some(), "the driver never asked for the restart");
    let o = &report["observed"];
    for user in ["alice", "bob", "carol", "dave"] {
        assert_eq!(
            texts(&o[user]["message"]),
            ["before", "after", "bob after"],
            "{user}"
        );
        let gaps = o[user]["gap"].as_array();
        let room = gaps
            .iter()
            .find(|g| g["channel"].as_str() == Some("room"))
            .unwrap_or_else(|| panic!("{user}: no gap on room: {gaps:?}"));
        assert_eq!(room["reason"].as_str(), Some("epoch"), "{user}: {room:?}");
        assert_eq!(o[user]["welcome"].as_array().len(), 2, "{user}: two sessions");
    }
    for (user, transport) in [
        ("alice", "websocket"),
        ("bob", "websocket"),
        ("carol", "sse"),
        ("dave", "poll"),
    ] {
        assert_eq!(o[user]["transport"].as_str(), Some(transport), "{user}");
    }
}

#[test]
fn pages_of_another_origin_use_every_transport_when_the_hub_allows_it() {
    // The pages' origin is another hub; only the hub they use lists it.
    let origin = HubServer::start(BIN, &[]);
    let origin_url = hub_url(&origin);
    let hub = HubServer::start(BIN, &["--allowed-origins", &origin_url]);
    let args = [("hub", hub_url(&hub)), ("origin", origin_url)];
    let report = scenario("cors", &args, no_asks);
    let o = &report["observed"];
    assert_eq!(o["transports"].strings(), ["websocket", "sse", "poll"]);
    for user in ["wes", "sue", "pol"] {
        let mut got = texts(&o[user]["message"]);
        got.sort();
        assert_eq!(got, ["from pol", "from sue", "from wes"], "{user}");
    }
}

#[test]
fn a_reconnect_replaying_what_a_page_has_shows_none_of_it_twice() {
    let hub = HubServer::start(BIN, &[]);
    let report = scenario("dedup", &[("hub", hub_url(&hub))], |what| {
        assert_eq!(what, "disconnect bob");
        let r = hub.post("/api/disconnect", r#"{"user":"bob"}"#);
        assert_eq!(r.status, 200, "POST /api/disconnect: {}", r.text());
        assert_eq!(r.json()["disconnected"].as_u64(), Some(1), "{}", r.text());
    });
    let bob = &report["observed"]["bob"];
    assert_eq!(texts(&bob["message"]), ["r1", "r2", "r3", "r4"]);
    assert_eq!(texts(&bob["direct"]), ["d1", "d2", "d3"]);
}

#[test]
fn a_new_page_resumes_from_the_offsets_an_old_one_stored() {
    let hub = HubServer::start(BIN, &[]);
    let report = scenario("resume", &[("hub", hub_url(&hub))], no_asks);
    let o = &report["observed"];
    assert_eq!(texts(&o["first"]["message"]), ["r1"]);
    assert_eq!(texts(&o["again"]["message"]), ["r2", "r3", "r4"]);
    assert_eq!(texts(&o["again"]["direct"]), ["d2"]);
    assert_eq!(
        o["first"]["state"].strings().last().copied(),
        Some("closed"),
        "the first page's client closed"
    );
}

#[test]
fn a_page_offline_for_a_while_gets_exactly_what_it_missed() {
    let hub = HubServer::start(BIN, &[]);
    let proxy = Proxy::start(hub.addr(), Mode::Relay);
    let args = [("hub", hub_url(&hub)), ("proxy", proxy.url())];
    let report = scenario("offline", &args, |what| match what {
        "proxy down" => proxy.down(),
        "proxy up" => proxy.up(),
        other => panic!("unexpected ask {other:?}"),
    });
    assert!(
        proxy.refused() > 0,
        "the pages never tried to reconnect while the proxy was down"
    );
    let o = &report["observed"];
    for user in ["bob", "carol", "dave"] {
        assert_eq!(
            texts(&o[user]["message"]),
            ["m0", "m1", "m2", "m3", "m4", "m5"],
            "{user}"
        );
        assert_eq!(texts(&o[user]["direct"]), ["d1", "d2"], "{user}");
        assert!(
            o[user]["gap"].as_array().is_empty(),
            "{user}: {:?}",
            o[user]["gap"]
        );
    }
}

#[test]
fn an_eaten_websocket_upgrade_falls_back_to_sse() {
    let hub = HubServer::start(BIN, &[]);
    let answers_200 = Proxy::start(hub.addr(), Mode::Upgrade200);
    let never_answers = Proxy::start(hub.addr(), Mode::UpgradeHangs);
    let args = [
        ("hub", hub_url(&hub)),
        ("proxy", answers_200.url()),
        ("proxy2", never_answers.url()),
    ];
    let report = scenario("eaten", &args, no_asks);
    assert!(answers_200.eaten() >= 1, "no upgrade reached the 200 proxy");
    assert!(never_answers.eaten() >= 1, "no upgrade reached the silent proxy");
    let t = &report["observed"]["transports"];
    assert_eq!(t["rita"].as_str(), Some("sse"));
    assert_eq!(t["hugo"].as_str(), Some("sse"));
    let mut got = texts(&report["observed"]["hugo"]["message"]);
    got.sort();
    assert_eq!(got, ["from alice", "from hugo", "from rita"]);
}

#[test]
fn server_refusals_reject_with_the_server_code() {
    let secret = "browser-hub-test-secret";
    let hub = HubServer::start(
        BIN,
        &[
            "--jwt-secret",
            secret,
            "--jwt-leeway",
            "0",
            "--max-recipients",
            "2",
            "--max-message-size",
            "65536",
        ],
    );
    let args = [("hub", hub_url(&hub)), ("secret", secret.to_owned())];
    let report = scenario("errors", &args, no_asks);
    let r = &report["observed"]["results"];
    for (key, code) in [
        ("forbiddenSubscribe", "forbidden"),
        ("forbiddenPublish", "forbidden"),
        ("tooManyRecipients", "too_large"),
        ("notSubscribed", "not_subscribed"),
        ("wsTooLarge", "too_large"),
        ("sseTooLarge", "too_large"),
    ] {
        assert_eq!(r[key]["err"]["code"].as_str(), Some(code), "{key}: {:?}", r[key]);
    }
    let tom = &report["observed"]["tom"];
    let codes: Vec<_> = tom["disconnect"]
        .as_array()
        .iter()
        .filter_map(|d| d["code"].as_u64())
        .collect();
    assert!(codes.contains(&4001), "tom's token expired: {codes:?}");
    assert!(texts(&tom["message"]).contains(&"for tom".to_owned()));
}

#[test]
fn requests_made_while_disconnected_wait_or_reject() {
    let hub = HubServer::start(BIN, &[]);
    let proxy = Proxy::start(hub.addr(), Mode::Relay);
    let args = [("hub", hub_url(&hub)), ("proxy", proxy.url())];
    let report = scenario("queue", &args, |what| match what {
        "stall" => proxy.stall(),
        "proxy down" => proxy.down(),
        "proxy up" => proxy.up(),
        other => panic!("unexpected ask {other:?}"),
    });
    let r = &report["observed"]["results"];
    assert!(r["p1"]["ok"]["offset"].as_str().is_some(), "{:?}", r["p1"]);
    assert_eq!(r["p2"]["ok"]["channel"].as_str(), Some("room2"));
    assert_eq!(r["overflow"]["err"]["code"].as_str(), Some("disconnected"));
    assert_eq!(r["timeout"]["err"]["code"].as_str(), Some("timeout"));
    assert_eq!(r["closed"]["err"]["code"].as_str(), Some("disconnected"));
    assert_eq!(r["i1"]["err"]["code"].as_str(), Some("disconnected"));
    assert_eq!(r["i3"]["ok"]["channel"].as_str(), Some("room3"));
    let bob = &report["observed"]["bob"];
    assert_eq!(texts(&bob["message"]), ["queued 1"]);
    assert_eq!(texts(&bob["direct"]), ["queued direct"]);
}

#[test]
fn the_pages_move_to_another_node_of_a_cluster_when_theirs_dies_and_miss_nothing() {
    let redis = support::redis::RedisServer::start();
    let url = redis.url();
    // The pages come from the first node and then talk to the second, another origin:
    // the fallback transports need it allowed (CORS), on both.
    let addrs: Vec<SocketAddr> = (0..2)
        .map(|_| SocketAddr::from(([127, 0, 0, 1], support::unused_port())))
        .collect();
    let origins = addrs
        .iter()
        .map(|a| format!("http://{a}"))
        .collect::<Vec<_>>()
        .join(",");
    let flags = ["--broker", url.as_str(), "--allowed-origins", origins.as_str()];
    let mut first = HubServer::start_at(BIN, addrs[0], &flags);
    let second = HubServer::start_at(BIN, addrs[1], &flags);
    for hub in [&first, &second] {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while hub.get("/healthz").status != 200 {
            assert!(Instant::now() < deadline, "a node never reached Redis");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let args = [("hub", hub_url(&first)), ("hub2", hub_url(&second))];
    let report = scenario("failover", &args, |what| {
        assert_eq!(what, "kill");
        first.kill();
        second.publish("room", r#"{"text":"while away"}"#);
    });
    for user in ["wes", "sue", "pia"] {
        let log = &report["observed"][user];
        assert_eq!(
            texts(&log["message"]),
            ["before", "while away", "after"],
            "{user}"
        );
        assert!(log["gap"].as_array().is_empty(), "{user}: {:?}", log["gap"]);
    }
}
