//! The demo chat page that `wsx serve` serves at `/` (`crates/wsx-hub/assets/`, on the
//! browser client `/wsx.js`), used in headless Chromium (Debian's, driven by
//! playwright-core) against the real binary, through its UI only: typing and Enter,
//! clicking people and rooms, reading what the page shows.
//!
//! The driver (`tests/peers/browser_demo.js`) runs the scenario and prints a JSON report
//! that this test checks: alice and bob (WebSocket) see each other in the people list and
//! chat; bob sends alice a direct message picked from that list; both join chat:random from
//! its field and bob leaves it again (alice sees him go); carol (`?transports=poll`)
//! and dave (a page without `window.WebSocket`, so SSE) chat too; erin signs in through
//! the form (after a refused name) and leaves by closing her page; this test publishes and
//! sends through the HTTP API and alice sees both from "server". Then the driver asks for a
//! restart: this test kills the server and starts a new one on the same port (a new epoch
//! of history), and every page must reconnect by itself, show an `epoch` gap note in the
//! room, and chat again. Then accessibility basics measured in the page (labels, live
//! regions, WCAG AA text contrast in both colour schemes, keyboard focus), the layout at
//! phone width (the side panels become drawers), and the screenshots. Last, a `trimmed`
//! gap: dave's fallback requests are made to fail, this test ends his session
//! (`POST /api/disconnect`) and publishes more to chat:news than history keeps, and once
//! let through he reconnects and his page notes the gap before the replay.
//!
//! Screenshots (desktop 1280×800, phone 375×740) go to `docs/demo-desktop.png` and
//! `docs/demo-phone.png` with `WSX_SCREENSHOTS=1`, else to a temporary directory (so a CI
//! run does not rewrite the repository).

use wsx_test_support as support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::hub::{HubServer, request};
use support::json::Json;
use support::{
    INSTALL_HINT, Peer, STEP_TIMEOUT, TempDir, peer_script, peers_dir, repo_root, require_node_module,
};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Messages a channel's history keeps here (`--history-size`), and how many the test
/// publishes to chat:news while dave is away: more, so he gets a `trimmed` gap.
const HISTORY: usize = 50;
const FLOOD: usize = 60;
/// The whole browser scenario (the driver's own deadline is 150 s).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(170);

fn check<'a>(report: &'a Json, name: &str) -> &'a Json {
    let v = &report["checks"][name];
    assert!(!v.is_null(), "the driver did not report {name:?}: {report:?}");
    v
}

/// A message as a page showed it: its sender and text.
fn assert_shown(report: &Json, name: &str, from: &str, text: &str) {
    let m = check(report, name);
    assert_eq!(m["from"].as_str(), Some(from), "{name}: the sender shown: {m:?}");
    assert!(
        m["text"].as_str().is_some_and(|t| t.contains(text)),
        "{name}: the text shown: {m:?}"
    );
    assert!(
        m["time"].as_str().is_some_and(|t| t.len() >= 16),
        "{name}: a time: {m:?}"
    );
}

fn assert_conn(report: &Json, name: &str, transport: &str) {
    let c = check(report, name);
    assert_eq!(c["state"].as_str(), Some("open"), "{name}: {c:?}");
    assert_eq!(c["transport"].as_str(), Some(transport), "{name}: {c:?}");
    let text = c["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Connected") && text.contains(transport),
        "{name}: the indicator reads {text:?}"
    );
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        "{} is not a screenshot ({} bytes)",
        path.display(),
        bytes.len()
    );
}

#[test]
fn the_demo_page_chats_over_every_transport_and_notes_gaps_in_plain_words() {
    require_node_module("playwright-core");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing\n{INSTALL_HINT}"
    );
    // A leave is announced 1 s (not 5) after the last unsubscribe, so the test waits
    // less; a short history, for a trimmed gap.
    let history = HISTORY.to_string();
    let flags = ["--presence-grace", "1", "--history-size", &history];
    let mut server = HubServer::start(env!("CARGO_BIN_EXE_wsx"), &flags);
    let addr = server.addr();

    // The page served is the one in the repository.
    let index = request(addr, "GET", "/", &[], b"");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    let on_disk = std::fs::read_to_string(repo_root().join("crates/wsx-hub/assets/index.html")).unwrap();
    assert_eq!(
        index.text(),
        on_disk,
        "GET / is not crates/wsx-hub/assets/index.html"
    );
    for asset in ["/demo.js", "/demo.css", "/wsx.js"] {
        assert_eq!(request(addr, "GET", asset, &[], b"").status, 200, "GET {asset}");
    }

    let temp = TempDir::new("browser-demo");
    let shots: PathBuf = if std::env::var("WSX_SCREENSHOTS").as_deref() == Ok("1") {
        repo_root().join("docs")
    } else {
        temp.path().to_owned()
    };
    let mut cmd = Command::new("node");
    cmd.arg(peer_script("browser_demo.js"))
        .arg("--url")
        .arg(format!("http://{addr}"))
        .arg("--shots")
        .arg(&shots)
        .current_dir(peers_dir())
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("WSX_CHROMIUM", CHROMIUM);
    support::without_proxy_env(&mut cmd);
    let mut driver = Peer::spawn("browser_demo.js", cmd);
    let mut stdin = driver.take_stdin();

    let deadline = Instant::now() + DRIVER_TIMEOUT;
    let mut history = None;
    let report = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = driver.line(left);
        if line == "api" {
            // Server-side code's messages: no `from`, shown as from "server".
            let r = request(
                addr,
                "POST",
                "/api/publish",
                &[("Content-Type", "application/json")],
                br#"{"channel":"chat:lobby","data":{"text":"Hello from the HTTP API."}}"#,
            );
            assert_eq!(r.status, 200, "POST /api/publish: {}", r.text());
            let r = request(
                addr,
                "POST",
                "/api/send",
                &[("Content-Type", "application/json")],
                br#"{"to":["alice"],"data":{"text":"A direct message through the HTTP API."}}"#,
            );
            assert_eq!(r.status, 200, "POST /api/send: {}", r.text());
            writeln!(stdin, "published")
                .and_then(|()| stdin.flush())
                .expect("tell the driver");
        } else if line == "cut" {
            let r = request(
                addr,
                "POST",
                "/api/disconnect",
                &[("Content-Type", "application/json")],
                br#"{"user":"dave"}"#,
            );
            assert_eq!(r.status, 200, "POST /api/disconnect: {}", r.text());
            assert!(
                r.json()["disconnected"].as_u64().is_some_and(|n| n >= 1),
                "dave had no session to end: {}",
                r.text()
            );
            writeln!(stdin, "cut")
                .and_then(|()| stdin.flush())
                .expect("tell the driver");
        } else if line == "flood" {
            for i in 1..=FLOOD {
                request(
                    addr,
                    "POST",
                    "/api/publish",
                    &[("Content-Type", "application/json")],
                    format!(r#"{{"channel":"chat:news","data":{{"text":"News item {i}."}}}}"#).as_bytes(),
                );
            }
            writeln!(stdin, "flooded")
                .and_then(|()| stdin.flush())
                .expect("tell the driver");
        } else if line == "restart" {
            // What the pages published, as the server holds it: `{text}` objects, with
            // their senders.
            history = Some(request(addr, "GET", "/api/history/chat:lobby", &[], b"").json());
            server.kill();
            server = HubServer::start_at(env!("CARGO_BIN_EXE_wsx"), addr, &flags);
            writeln!(stdin, "restarted")
                .and_then(|()| stdin.flush())
                .expect("tell the driver the server restarted");
        } else if line.starts_with('{') {
            break Json::parse(&line);
        } else {
            eprintln!("driver: {line}");
        }
    };
    let status = driver.wait(STEP_TIMEOUT);
    for l in report["log"].as_array() {
        eprintln!("  {}", l.as_str().unwrap_or("?"));
    }
    assert!(
        report["error"].is_null(),
        "the demo driver failed ({status}): {}\nstderr:\n{}\nserver stderr:\n{}",
        report["error"].as_str().unwrap_or("?"),
        driver.stderr(),
        server.stderr()
    );
    assert!(status.success(), "the driver exited with {status}");
    assert_eq!(
        report["page_errors"].strings(),
        Vec::<&str>::new(),
        "uncaught exceptions in the pages"
    );
    eprintln!("Chromium {}", report["browser"].as_str().unwrap_or("?"));

    // alice and bob, over WebSocket, in chat:lobby, each in the other's people list.
    assert_conn(&report, "alice_conn", "websocket");
    assert_conn(&report, "bob_conn", "websocket");
    assert_eq!(check(&report, "room_title").as_str(), Some("chat:lobby"));
    assert_eq!(check(&report, "alice_sees_bob").as_bool(), Some(true));
    assert_eq!(check(&report, "bob_sees_alice").as_bool(), Some(true));
    assert_shown(&report, "bob_got_alice", "alice", "Hi bob! Welcome to wsx chat.");
    assert_shown(&report, "alice_got_own", "alice", "Hi bob! Welcome to wsx chat.");
    assert_shown(
        &report,
        "alice_got_bob",
        "bob",
        "Hey alice, this is going over a WebSocket.",
    );

    // bob's direct message to alice, picked from his people list: marked direct on both
    // sides, in a thread of its own (not in the room), unread until alice opens it.
    assert!(
        check(&report, "bob_dm_title")
            .as_str()
            .is_some_and(|t| t.contains("alice")),
        "{:?}",
        report["checks"]["bob_dm_title"]
    );
    assert_shown(&report, "bob_sees_own_dm", "bob", "just for you");
    assert_eq!(
        report["checks"]["bob_sees_own_dm"]["tag"].as_str(),
        Some("Direct to alice")
    );
    assert_eq!(check(&report, "alice_dm_unread").as_str(), Some("1"));
    assert_eq!(check(&report, "alice_lobby_has_no_dm").as_u64(), Some(0));
    assert_shown(
        &report,
        "alice_got_dm",
        "bob",
        "Psst, alice: this one is just for you.",
    );
    assert_eq!(report["checks"]["alice_got_dm"]["tag"].as_str(), Some("Direct"));

    // chat:random, joined from the field: its own people, an unread count while alice is
    // in the lobby, messages kept to it; bob leaves, and alice sees him go.
    assert_eq!(check(&report, "alice_random_title").as_str(), Some("chat:random"));
    assert_eq!(check(&report, "alice_random_people_alone").strings(), ["alice"]);
    assert_eq!(check(&report, "alice_random_people").strings(), ["alice", "bob"]);
    assert_eq!(check(&report, "alice_lobby_people").strings(), ["alice", "bob"]);
    assert_eq!(check(&report, "alice_random_unread").as_str(), Some("1"));
    assert_eq!(check(&report, "alice_lobby_has_no_random").as_u64(), Some(0));
    assert_shown(&report, "alice_got_random", "bob", "Anyone in random?");
    assert_eq!(
        check(&report, "bob_after_leave_title").as_str(),
        Some("chat:lobby")
    );
    assert_eq!(
        check(&report, "alice_random_people_after_leave").strings(),
        ["alice"]
    );

    // carol on long-polling only, dave without WebSocket (so SSE): they chat with the others.
    assert_conn(&report, "carol_conn", "poll");
    assert_eq!(check(&report, "alice_sees_carol").as_bool(), Some(true));
    assert_eq!(check(&report, "carol_sees_bob").as_bool(), Some(true));
    assert_shown(&report, "alice_got_carol", "carol", "Hello from long-polling");
    assert_shown(&report, "bob_got_carol", "carol", "Hello from long-polling");
    assert_conn(&report, "dave_conn", "sse");
    assert_shown(
        &report,
        "carol_got_dave",
        "dave",
        "And this one came over Server-Sent Events.",
    );
    assert_shown(&report, "carol_got_alice", "alice", "Everyone is here. Nice!");
    assert_shown(&report, "dave_got_alice", "alice", "Everyone is here. Nice!");

    // erin, on a page with no ?user: the sign-in form refuses a name the server would
    // not accept, then signs her in (and into the URL); closing her page is a leave.
    let refused = check(&report, "erin_refused");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("characters")),
        "{refused:?}"
    );
    assert_eq!(refused["invalid"].as_str(), Some("true"), "{refused:?}");
    assert_eq!(
        refused["conn"].as_str(),
        Some("idle"),
        "not connected yet: {refused:?}"
    );
    assert_conn(&report, "erin_conn", "websocket");
    let signed_in = check(&report, "erin_signed_in");
    assert_eq!(signed_in["name"].as_str(), Some("erin"), "{signed_in:?}");
    assert_eq!(signed_in["url_user"].as_str(), Some("erin"), "{signed_in:?}");
    assert_eq!(
        signed_in["signin_visible"].as_bool(),
        Some(false),
        "{signed_in:?}"
    );
    assert_eq!(check(&report, "alice_sees_erin").as_bool(), Some(true));
    assert_eq!(check(&report, "alice_saw_erin_leave").as_bool(), Some(true));

    // The HTTP API's publish and send, from no one: shown as from "server", the send in a
    // thread of its own with nothing to reply to.
    assert_shown(&report, "alice_got_api", "server", "Hello from the HTTP API.");
    assert_shown(
        &report,
        "alice_got_api_dm",
        "server",
        "A direct message through the HTTP API.",
    );
    assert_eq!(
        report["checks"]["alice_got_api_dm"]["tag"].as_str(),
        Some("Direct")
    );
    assert_eq!(check(&report, "api_thread_composer_hidden").as_bool(), Some(true));

    // What the server held before the restart: the pages' messages as `{text}` data.
    let history = history.expect("the driver asked for a restart");
    let held: Vec<(Option<&str>, Option<&str>)> = history["messages"]
        .as_array()
        .iter()
        .map(|m| (m["from"].as_str(), m["data"]["text"].as_str()))
        .collect();
    for (from, text) in [
        ("alice", "Hi bob! Welcome to wsx chat."),
        ("bob", "Hey alice, this is going over a WebSocket."),
        ("carol", "Hello from long-polling: no WebSocket needed."),
        ("dave", "And this one came over Server-Sent Events."),
    ] {
        assert!(
            held.contains(&(Some(from), Some(text))),
            "chat:lobby's history lacks {from}'s {text:?}: {held:?}"
        );
    }

    // After the restart: every page reconnected on its own transport and noted the gap.
    for (who, transport) in [
        ("alice", "websocket"),
        ("bob", "websocket"),
        ("carol", "poll"),
        ("dave", "sse"),
    ] {
        let gap = check(&report, &format!("{who}_gap"));
        assert_eq!(gap["reason"].as_str(), Some("epoch"), "{who}: {gap:?}");
        let text = gap["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("Some messages may be missing") && text.contains("the server restarted"),
            "{who}'s gap note reads {text:?}"
        );
        assert_conn(&report, &format!("{who}_conn_after_restart"), transport);
    }
    assert_shown(
        &report,
        "bob_got_after_restart",
        "alice",
        "The server restarted. Still here?",
    );
    assert_shown(
        &report,
        "carol_got_after_restart",
        "alice",
        "The server restarted. Still here?",
    );
    assert_shown(
        &report,
        "alice_got_after_restart",
        "bob",
        "Yes: reconnected on my own.",
    );
    assert_eq!(
        check(&report, "alice_people").strings(),
        ["alice", "bob", "carol", "dave"],
        "alice's people list after the restart (herself first)"
    );

    // The trimmed gap: dave, cut off while 60 messages went to chat:news (history keeps
    // 50), reconnects by himself; the note says why in plain words, before the replay of
    // the last 50.
    let gap = check(&report, "dave_news_gap");
    assert_eq!(gap["reason"].as_str(), Some("trimmed"), "{gap:?}");
    let text = gap["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Some messages may be missing")
            && text.contains("more messages were sent while you were away than the server keeps"),
        "dave's trimmed gap note reads {text:?}"
    );
    let replay = check(&report, "dave_news_replayed");
    assert_eq!(replay["count"].as_u64(), Some(HISTORY as u64), "{replay:?}");
    let first = format!("News item {}.", FLOOD - HISTORY + 1);
    let last = format!("News item {FLOOD}.");
    assert_eq!(replay["first"].as_str(), Some(first.as_str()), "{replay:?}");
    assert_eq!(replay["last"].as_str(), Some(last.as_str()), "{replay:?}");
    assert_eq!(replay["gap_before_replay"].as_bool(), Some(true), "{replay:?}");
    assert_conn(&report, "dave_conn_after_gap", "sse");

    // The layout: side panels beside the conversation on a laptop, drawers on a phone.
    let desktop = check(&report, "desktop_panels_visible");
    assert_eq!(desktop["rooms"].as_bool(), Some(true));
    assert_eq!(desktop["people"].as_bool(), Some(true));
    let phone = check(&report, "phone_layout");
    assert_eq!(phone["people_panel_visible"].as_bool(), Some(false), "{phone:?}");
    assert_eq!(phone["rooms_panel_visible"].as_bool(), Some(false), "{phone:?}");
    assert_eq!(phone["people_toggle_visible"].as_bool(), Some(true), "{phone:?}");
    assert_eq!(
        phone["page_width"].as_u64(),
        Some(375),
        "no sideways scrolling: {phone:?}"
    );
    let drawer = check(&report, "phone_drawer");
    assert_eq!(drawer["expanded"].as_str(), Some("true"), "{drawer:?}");
    assert_eq!(drawer["visible"].as_bool(), Some(true), "{drawer:?}");
    assert_eq!(
        drawer["people"].strings(),
        ["bob", "alice", "carol", "dave"],
        "{drawer:?}"
    );
    assert_eq!(check(&report, "phone_drawer_closed").as_str(), Some("false"));

    // Accessibility basics, measured in the page: labels on every field, live logs, text
    // contrast at WCAG AA (light and dark schemes, and at phone width), keyboard focus.
    for name in ["audit_desktop_light", "audit_desktop_dark", "audit_phone_light"] {
        let audit = check(&report, name);
        assert!(
            audit["contrast_checked"].as_u64().unwrap_or(0) >= 20,
            "{name}: too few texts checked: {audit:?}"
        );
        assert_eq!(
            audit["contrast_failures"].strings(),
            Vec::<&str>::new(),
            "{name}: text under AA contrast"
        );
        assert_eq!(
            audit["unlabelled"].strings(),
            Vec::<&str>::new(),
            "{name}: fields without a label"
        );
        assert_eq!(
            audit["non_button_clickables"].as_array().len(),
            0,
            "{name}: {audit:?}"
        );
        let logs = audit["logs"].strings();
        assert!(
            !logs.is_empty() && logs.iter().all(|l| *l == "log/polite"),
            "{name}: the conversation logs are not polite live regions: {logs:?}"
        );
    }
    let tab = check(&report, "tab_after_composer");
    assert_eq!(
        tab["id"].as_str(),
        Some("send-btn"),
        "Tab from the message box: {tab:?}"
    );
    assert_eq!(tab["tag"].as_str(), Some("BUTTON"), "{tab:?}");
    assert_eq!(
        tab["outline"].as_bool(),
        Some(true),
        "a visible focus ring: {tab:?}"
    );

    for name in ["demo-desktop.png", "demo-phone.png"] {
        assert_png(&shots.join(name));
    }
    eprintln!("screenshots in {}", shots.display());
}
