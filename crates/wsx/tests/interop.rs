//! Interop: wsx against WebSocket implementations we did not write, started for real on
//! loopback with free ports. Each peer plays the client against a wsx server and the
//! server against a wsx client:
//!
//! - Python `websockets` (`tests/peers/py_client.py`, `py_echo_server.py`),
//! - Node `ws` (`tests/peers/node_client.js`, `node_echo_server.js`),
//! - tokio-tungstenite, in process (it has no permessage-deflate: wsx must fall back).
//!
//! Every session exchanges multi-byte text, binary, a 1 MiB message, fragmented messages
//! (the peer's fragments split UTF-8 characters; wsx fragments with `fragment_size`),
//! pings and pongs both ways, and a normal close. Assertions come from three places: the
//! peer's own report (a JSON line), what wsx's API returned, and a tap on wsx's socket
//! whose independent frame parser shows what crossed the wire (RSV1 on compressed
//! messages, continuation frames, ping/pong payloads, close codes).
//!
//! A missing peer fails the test with a pointer to `scripts/install-test-deps.sh`.
//! Child processes die with their guard, and every wait has a timeout.

use wsx_test_support as support;

use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::process::Command;
use support::json::Json;
use support::wire::{OP_PING, OP_PONG, Tap, Wire};
use support::{
    Peer, STEP_TIMEOUT, TEST_TIMEOUT, large_pattern, peer_script, peers_dir, require_node_module,
    require_python_websockets,
};
use tokio::net::{TcpListener, TcpStream};
use wsx::{AcceptOptions, CloseCode, CloseFrame, Config, Message};

const TEXT: &str = "héllo wörld — καλημέρα — 你好 — 🦀🚀";
const LARGE: usize = 1 << 20;
/// What the peers' fragmented text message reassembles to.
const FRAGMENTED_TEXT: &str = "fragménted ✓";
/// wsx splits its outgoing messages into frames of this size in these tests.
const FRAGMENT_SIZE: usize = 4 << 10;

/// Runs a test body with the overall timeout.
async fn within<T>(body: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {TEST_TIMEOUT:?}"))
}

/// Blocking work (waiting on a peer process) without stalling the runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// wsx's configuration here: defaults (permessage-deflate on), plus fragmentation so
/// the large message goes out as continuation frames.
fn fragmenting_config() -> Config {
    let mut config = Config::default();
    config.protocol.fragment_size = Some(FRAGMENT_SIZE);
    config
}

/// The messages every peer client sends, in order, as the wsx server must receive them.
fn messages_from_peer_client() -> Vec<Message> {
    vec![
        Message::text(TEXT),
        Message::binary((0..=255u8).collect::<Vec<u8>>()),
        Message::binary(large_pattern(LARGE)),
        Message::text(FRAGMENTED_TEXT),
        Message::binary(vec![0u8, 1, 2, 3, 4]),
    ]
}

fn describe(m: &Message) -> String {
    match m {
        Message::Text(t) if t.len() <= 80 => format!("Text({:?})", t.as_str()),
        Message::Text(t) => format!("Text(<{} bytes>)", t.len()),
        Message::Binary(b) => format!("Binary(<{} bytes>)", b.len()),
    }
}

fn assert_messages(what: &str, got: &[Message], want: &[Message]) {
    assert!(
        got == want,
        "{what}: got {:?}, want {:?}",
        got.iter().map(describe).collect::<Vec<_>>(),
        want.iter().map(describe).collect::<Vec<_>>()
    );
}

/// With `WSX_INTEROP_WIRE=1`, prints the frames of a session (for debugging and for
/// seeing what a peer does).
fn dump_wire(peer: &str, wire: &Wire) {
    if std::env::var_os("WSX_INTEROP_WIRE").is_some() {
        let (received, sent) = (wire.received(), wire.sent());
        eprintln!(
            "--- {peer} -> wsx\n{}{}--- wsx -> {peer}\n{}{}",
            received.head,
            received.describe(),
            sent.head,
            sent.describe()
        );
    }
}

/// wsx's frames respect `fragment_size`, and some message took several.
fn assert_fragmented_by_wsx(sent: &support::wire::Frames) {
    assert!(
        sent.data().all(|f| f.payload.len() <= FRAGMENT_SIZE),
        "wsx sent a data frame larger than fragment_size"
    );
    assert!(
        sent.continuations() > 0,
        "wsx did not fragment:\n{}",
        sent.describe()
    );
}

// ---- a wsx echo server for peer clients -------------------------------------------------

/// What the wsx server saw of one connection.
struct ServerOutcome {
    offered_extensions: Option<String>,
    compressed: bool,
    received: Vec<Message>,
    close: Option<CloseFrame>,
    error: Option<String>,
    wire: Wire,
}

/// Accepts one connection with `wsx::accept_with` over a tapped socket, pings the
/// client, echoes every message, and reports once the connection ends.
async fn wsx_echo_once(listener: TcpListener) -> ServerOutcome {
    let (tcp, _) = listener.accept().await.expect("accept");
    let (tap, wire) = Tap::new(tcp);
    let mut offered_extensions = None;
    let mut ws = wsx::accept_with(tap, &fragmenting_config(), |req| {
        offered_extensions = req.headers().joined("Sec-WebSocket-Extensions");
        Ok(AcceptOptions::new())
    })
    .await
    .expect("wsx server handshake");
    ws.ping(b"wsx-server-ping").await.expect("ping");
    let mut received = Vec::new();
    let mut error = None;
    while let Some(msg) = ws.recv().await {
        match msg {
            Ok(m) => {
                received.push(m.clone());
                if let Err(e) = ws.send(m).await {
                    error = Some(format!("send: {e}"));
                    break;
                }
            }
            Err(e) => error = Some(e.to_string()),
        }
    }
    ServerOutcome {
        offered_extensions,
        compressed: ws.is_compressed(),
        received,
        close: ws.close_frame().cloned(),
        error,
        wire,
    }
}

/// Runs a peer client script against a fresh wsx echo server; returns the peer's JSON
/// report and what the server saw.
async fn peer_client_session(name: &str, program: &str, script: &str) -> (Json, ServerOutcome) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(wsx_echo_once(listener));
    let mut cmd = Command::new(program);
    cmd.arg(peer_script(script))
        .arg(format!("ws://127.0.0.1:{port}/{name}"))
        .current_dir(peers_dir());
    let mut peer = Peer::spawn(script, cmd);
    let (status, lines) = blocking(|| peer.finish(STEP_TIMEOUT));
    let report = lines.last().map(|l| Json::parse(l)).unwrap_or_else(|| {
        panic!(
            "{script} printed no report (exit {status}); stderr:\n{}",
            peer.stderr()
        )
    });
    assert!(
        status.success() && report["error"].is_null(),
        "{script} failed (exit {status}): {:?}\nstderr:\n{}",
        report["error"],
        peer.stderr()
    );
    let outcome = tokio::time::timeout(STEP_TIMEOUT, server)
        .await
        .expect("wsx server did not finish after the peer exited")
        .expect("wsx server task panicked");
    (report, outcome)
}

/// The assertions common to every peer client that speaks permessage-deflate.
fn check_compressed_peer_client(peer: &str, report: &Json, outcome: &ServerOutcome, close_reason: &str) {
    // The peer: every echo came back intact, in order.
    assert_eq!(
        report["echo_ok"].strings(),
        ["text", "binary", "large", "fragmented_text", "fragmented_binary"],
        "{peer}: echo checks"
    );
    // wsx: received exactly what the peer sent, reassembled.
    assert_eq!(outcome.error, None, "{peer}: wsx server error");
    assert_messages(peer, &outcome.received, &messages_from_peer_client());

    // Compression, negotiated in both directions and used on the wire in both.
    let offer = outcome.offered_extensions.clone().unwrap_or_default();
    assert!(offer.contains("permessage-deflate"), "{peer} offered {offer:?}");
    assert!(outcome.compressed, "{peer}: wsx did not negotiate compression");
    let answer = report["response_extensions"].as_str().unwrap_or_default();
    assert!(
        answer.starts_with("permessage-deflate"),
        "{peer} saw Sec-WebSocket-Extensions {answer:?}"
    );
    dump_wire(peer, &outcome.wire);
    let received = outcome.wire.received();
    let sent = outcome.wire.sent();
    assert_eq!(sent.header("Sec-WebSocket-Extensions").as_deref(), Some(answer));
    assert!(
        received.compressed_messages() > 0,
        "{peer} sent no compressed frame:\n{}",
        received.describe()
    );
    assert!(
        sent.compressed_messages() > 0,
        "wsx sent no compressed frame to {peer}"
    );

    // Fragmentation on the wire, both ways: the peer's two fragmented messages, and
    // wsx's 1 MiB echo in FRAGMENT_SIZE frames.
    assert!(
        received.continuations() >= 3,
        "{peer} did not fragment:\n{}",
        received.describe()
    );
    assert_fragmented_by_wsx(&sent);
    assert!(
        received.frames.iter().all(|f| f.masked),
        "{peer} sent unmasked frames"
    );
    assert!(
        sent.frames.iter().all(|f| !f.masked),
        "wsx (server) masked frames"
    );

    // Ping/pong, both ways.
    assert!(
        received.payloads(OP_PONG).contains(&b"wsx-server-ping".to_vec()),
        "{peer} did not answer wsx's ping:\n{}",
        received.describe()
    );
    let ping = received.payloads(OP_PING);
    assert_eq!(ping.len(), 1, "{peer}'s pings");
    assert!(
        sent.payloads(OP_PONG).contains(&ping[0]),
        "wsx did not answer {peer}'s ping"
    );

    // A normal close, as each side saw it.
    assert_eq!(
        outcome.close,
        Some(CloseFrame::new(CloseCode::NORMAL, close_reason)),
        "the close frame wsx received from {peer}"
    );
    assert_eq!(
        report["close_received"]["code"].as_u64(),
        Some(1000),
        "the close code {peer} received"
    );
    assert_eq!(received.closes(), [(Some(1000), close_reason.to_owned())]);
    assert_eq!(sent.closes().len(), 1, "wsx sent one close frame");
    assert_eq!(sent.closes()[0].0, Some(1000), "wsx's close code");
}

// ---- a wsx client against peer servers ---------------------------------------------------

/// What the wsx client saw of its session with an echo server.
struct ClientOutcome {
    compressed: bool,
    close: Option<CloseFrame>,
    wire: Wire,
}

async fn recv_msg<S>(ws: &mut wsx::WebSocket<S>, what: &str) -> Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(STEP_TIMEOUT, ws.recv()).await {
        Ok(Some(Ok(m))) => m,
        Ok(other) => panic!("waiting for {what}: {other:?}"),
        Err(_) => panic!("waiting for {what}: timed out"),
    }
}

/// The wsx client's side of a session with an echo server that understands the
/// `cmd:fragment` and `cmd:ping` commands: echoes of text, binary, 1 MiB (sent in
/// fragments), a fragmented message from the server, pings both ways, a normal close.
async fn wsx_client_session(port: u16, path: &str) -> ClientOutcome {
    let url = format!("ws://127.0.0.1:{port}/{path}");
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let (tap, wire) = Tap::new(tcp);
    let mut ws = wsx::ClientBuilder::new(&url)
        .config(fragmenting_config())
        .connect_on(tap)
        .await
        .expect("wsx client handshake");

    for m in [
        Message::text(TEXT),
        Message::binary((0..=255u8).collect::<Vec<u8>>()),
        Message::binary(large_pattern(LARGE)),
    ] {
        ws.send(m.clone()).await.expect("send");
        let echo = recv_msg(&mut ws, &describe(&m)).await;
        assert_messages("echo", &[echo], &[m]);
    }
    ws.send("cmd:fragment").await.unwrap();
    let fragmented = recv_msg(&mut ws, "the fragmented message").await;
    assert_messages("fragmented", &[fragmented], &[Message::text(FRAGMENTED_TEXT)]);

    ws.ping(b"wsx-client-ping").await.unwrap();
    ws.send("after ping").await.unwrap();
    let echo = recv_msg(&mut ws, "the echo after the ping").await;
    assert_messages("echo", &[echo], &[Message::text("after ping")]);

    // The server pings us and waits for our (automatic) pong before it answers.
    ws.send("cmd:ping").await.unwrap();
    let answer = recv_msg(&mut ws, "pong-ok").await;
    assert_messages("server ping", &[answer], &[Message::text("pong-ok")]);

    ws.close(Some(CloseFrame::new(CloseCode::NORMAL, "wsx bye")))
        .await
        .unwrap();
    match tokio::time::timeout(STEP_TIMEOUT, ws.recv()).await {
        Ok(None) => {}
        other => panic!("expected the end of the stream after close, got {other:?}"),
    }
    ClientOutcome {
        compressed: ws.is_compressed(),
        close: ws.close_frame().cloned(),
        wire,
    }
}

/// The assertions on a peer echo server that speaks permessage-deflate: its report (a
/// JSON line) and wsx's view of the session.
fn check_compressed_peer_server(peer: &str, report: &Json, outcome: &ClientOutcome, server_ping: &[u8]) {
    assert!(report["error"].is_null(), "{peer}: {:?}", report["error"]);
    let received: Vec<(&str, u64)> = report["received"]
        .as_array()
        .iter()
        .map(|m| (m["type"].as_str().unwrap(), m["len"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        received,
        [
            ("text", TEXT.len() as u64),
            ("binary", 256),
            ("binary", LARGE as u64),
            ("text", "after ping".len() as u64)
        ],
        "what {peer} received"
    );
    assert_eq!(report["received"][0]["head"].as_str(), Some(TEXT));
    assert_eq!(report["pong_ok"].as_bool(), Some(true), "{peer} got wsx's pong");

    // Compression, negotiated and used both ways.
    let offer = report["request_extensions"].as_str().unwrap_or_default();
    assert!(offer.starts_with("permessage-deflate"), "wsx offered {offer:?}");
    let answer = report["response_extensions"].as_str().unwrap_or_default();
    assert!(
        answer.starts_with("permessage-deflate"),
        "{peer} answered {answer:?}"
    );
    assert!(outcome.compressed, "wsx did not agree to {peer}'s {answer:?}");
    dump_wire(peer, &outcome.wire);
    let received = outcome.wire.received();
    let sent = outcome.wire.sent();
    assert_eq!(
        received.header("Sec-WebSocket-Extensions").as_deref(),
        Some(answer)
    );
    assert!(received.compressed_messages() > 0, "{peer} compressed nothing");
    assert!(sent.compressed_messages() > 0, "wsx compressed nothing");

    // Fragmentation both ways.
    assert!(received.continuations() >= 3, "{peer} did not fragment");
    assert_fragmented_by_wsx(&sent);
    assert!(
        sent.frames.iter().all(|f| f.masked),
        "wsx (client) sent unmasked frames"
    );
    assert!(received.frames.iter().all(|f| !f.masked), "{peer} masked frames");

    // Pings both ways.
    assert_eq!(received.payloads(OP_PONG), [b"wsx-client-ping".to_vec()]);
    assert_eq!(received.payloads(OP_PING), [server_ping.to_vec()]);
    assert_eq!(sent.payloads(OP_PONG), [server_ping.to_vec()]);

    // The close, as each side saw it.
    assert_eq!(report["close_received"]["code"].as_u64(), Some(1000));
    assert_eq!(report["close_received"]["reason"].as_str(), Some("wsx bye"));
    assert_eq!(sent.closes(), [(Some(1000), "wsx bye".to_owned())]);
    let close = outcome.close.as_ref().expect("the server's close frame");
    assert_eq!(close.code, CloseCode::NORMAL, "the close code wsx received");
    assert_eq!(received.closes().len(), 1);
}

// ---- Python websockets -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_against_wsx_server() {
    let version = require_python_websockets();
    within(async {
        let (report, outcome) = peer_client_session("python", "python3", "py_client.py").await;
        eprintln!(
            "python websockets {version} client: offered {:?}; wsx answered {:?}; python received close {}",
            outcome.offered_extensions,
            report["response_extensions"],
            report["close_received"]["code"].as_f64().unwrap_or(-1.0)
        );
        check_compressed_peer_client("python websockets", &report, &outcome, "python bye");
        assert!(
            report["ping_latency_ms"].as_f64().is_some(),
            "python's ping was answered"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_client_against_python_server() {
    require_python_websockets();
    within(async {
        let mut cmd = Command::new("python3");
        cmd.arg(peer_script("py_echo_server.py"));
        let peer = Peer::spawn("py_echo_server.py", cmd);
        let port: u16 = blocking(|| peer.line_with_prefix("PORT ", STEP_TIMEOUT))
            .parse()
            .expect("port");
        let outcome = wsx_client_session(port, "python").await;
        let report = Json::parse(&blocking(|| peer.line(STEP_TIMEOUT)));
        eprintln!(
            "python websockets server: wsx offered {:?}; python answered {:?}; wsx received close {:?}",
            report["request_extensions"], report["response_extensions"], outcome.close
        );
        check_compressed_peer_server("python websockets", &report, &outcome, b"py-server-ping");
    })
    .await;
}

// ---- Node ws -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_against_wsx_server() {
    let version = require_node_module("ws");
    within(async {
        let (report, outcome) = peer_client_session("node", "node", "node_client.js").await;
        eprintln!(
            "node ws {version} client: offered {:?}; wsx answered {:?}; node received close {}",
            outcome.offered_extensions,
            report["response_extensions"],
            report["close_received"]["code"].as_f64().unwrap_or(-1.0)
        );
        check_compressed_peer_client("node ws", &report, &outcome, "node bye");
        assert_eq!(report["extensions"].as_str(), Some("permessage-deflate"));
        assert_eq!(report["pong_payload"].as_str(), Some("node-client-ping"));
        assert_eq!(report["pings_received"].strings(), ["wsx-server-ping"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_client_against_node_server() {
    require_node_module("ws");
    within(async {
        let mut cmd = Command::new("node");
        cmd.arg(peer_script("node_echo_server.js"))
            .current_dir(peers_dir());
        let peer = Peer::spawn("node_echo_server.js", cmd);
        let port: u16 = blocking(|| peer.line_with_prefix("PORT ", STEP_TIMEOUT))
            .parse()
            .expect("port");
        let outcome = wsx_client_session(port, "node").await;
        let report = Json::parse(&blocking(|| peer.line(STEP_TIMEOUT)));
        eprintln!(
            "node ws server: wsx offered {:?}; node answered {:?}; wsx received close {:?}",
            report["request_extensions"], report["response_extensions"], outcome.close
        );
        check_compressed_peer_server("node ws", &report, &outcome, b"node-server-ping");
        assert_eq!(report["extensions"].as_str(), Some("permessage-deflate"));
        assert_eq!(report["pings_received"].strings(), ["wsx-client-ping"]);
    })
    .await;
}

// ---- tokio-tungstenite (no compression) --------------------------------------------------

mod tt {
    pub use tokio_tungstenite::tungstenite::Message;
    pub use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
    pub use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};
}

/// Fragments a tungstenite client or server sends: "fragménted ✓" split inside "é" and "✓".
fn tungstenite_fragments() -> Vec<tt::Message> {
    let parts: [&[u8]; 4] = [b"frag", b"m\xc3", b"\xa9nted \xe2\x9c", b"\x93"];
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let opcode = if i == 0 {
                tt::OpCode::Data(tt::Data::Text)
            } else {
                tt::OpCode::Data(tt::Data::Continue)
            };
            tt::Message::Frame(tt::Frame::message(p.to_vec(), opcode, i == parts.len() - 1))
        })
        .collect()
}

/// The assertions on a session with tungstenite: the server's 101 agreed no extension,
/// wsx reports no compression, and no frame in either direction has RSV1.
fn check_uncompressed(wire: &Wire, compressed: bool) {
    dump_wire("tokio-tungstenite", wire);
    assert!(!compressed, "wsx claims compression with tungstenite");
    let (received, sent) = (wire.received(), wire.sent());
    let response = [&received, &sent]
        .into_iter()
        .find(|f| f.head.starts_with("HTTP/1.1 101"))
        .expect("a 101 response on the wire");
    assert_eq!(
        response.header("Sec-WebSocket-Extensions"),
        None,
        "no extension may be agreed with tungstenite:\n{}",
        response.head
    );
    assert_eq!(received.compressed_messages(), 0, "RSV1 received");
    assert_eq!(sent.compressed_messages(), 0, "wsx set RSV1 without compression");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tungstenite_client_against_wsx_server() {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(wsx_echo_once(listener));
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (mut ws, response) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/tt"), tcp)
            .await
            .expect("tungstenite handshake");
        assert_eq!(response.headers().get("sec-websocket-extensions"), None);

        let mut pings_seen: Vec<Vec<u8>> = Vec::new();
        macro_rules! recv {
            () => {
                loop {
                    let m = tokio::time::timeout(STEP_TIMEOUT, ws.next())
                        .await
                        .expect("tungstenite recv timed out")
                        .expect("stream ended")
                        .expect("tungstenite recv");
                    match m {
                        tt::Message::Ping(p) => pings_seen.push(p.to_vec()),
                        other => break other,
                    }
                }
            };
        }
        let binary: Vec<u8> = (0..=255u8).collect();
        let large = large_pattern(LARGE);
        ws.send(tt::Message::text(TEXT)).await.unwrap();
        assert_eq!(recv!(), tt::Message::text(TEXT));
        ws.send(tt::Message::binary(binary.clone())).await.unwrap();
        assert_eq!(recv!(), tt::Message::binary(binary));
        ws.send(tt::Message::binary(large.clone())).await.unwrap();
        assert!(recv!() == tt::Message::binary(large), "large echo differs");
        for f in tungstenite_fragments() {
            ws.feed(f).await.unwrap();
        }
        ws.flush().await.unwrap();
        assert_eq!(recv!(), tt::Message::text(FRAGMENTED_TEXT));
        ws.send(tt::Message::binary(vec![0u8, 1])).await.unwrap();
        let frag_binary = [
            tt::Message::Frame(tt::Frame::message(
                vec![2u8],
                tt::OpCode::Data(tt::Data::Binary),
                false,
            )),
            tt::Message::Frame(tt::Frame::message(
                vec![3u8, 4],
                tt::OpCode::Data(tt::Data::Continue),
                true,
            )),
        ];
        assert_eq!(recv!(), tt::Message::binary(vec![0u8, 1]));
        for f in frag_binary {
            ws.feed(f).await.unwrap();
        }
        ws.flush().await.unwrap();
        assert_eq!(recv!(), tt::Message::binary(vec![2u8, 3, 4]));
        ws.send(tt::Message::Ping(b"tt-client-ping".to_vec().into()))
            .await
            .unwrap();
        assert_eq!(recv!(), tt::Message::Pong(b"tt-client-ping".to_vec().into()));
        ws.close(Some(tt::CloseFrame {
            code: tt::CloseCode::Normal,
            reason: "tungstenite bye".into(),
        }))
        .await
        .unwrap();
        let close = recv!();
        assert!(
            matches!(&close, tt::Message::Close(Some(f)) if f.code == tt::CloseCode::Normal),
            "tungstenite received {close:?}"
        );
        assert_eq!(pings_seen, [b"wsx-server-ping".to_vec()]);

        let outcome = tokio::time::timeout(STEP_TIMEOUT, server)
            .await
            .expect("wsx server did not finish")
            .unwrap();
        eprintln!(
            "tokio-tungstenite client: offered {:?}; compressed {}; tungstenite received {close:?}",
            outcome.offered_extensions, outcome.compressed
        );
        assert_eq!(outcome.error, None);
        assert_eq!(
            outcome.offered_extensions, None,
            "tungstenite offered an extension"
        );
        let mut want = messages_from_peer_client();
        want.truncate(4);
        want.push(Message::binary(vec![0u8, 1]));
        want.push(Message::binary(vec![2u8, 3, 4]));
        assert_messages("tungstenite client", &outcome.received, &want);
        assert_eq!(
            outcome.close,
            Some(CloseFrame::new(CloseCode::NORMAL, "tungstenite bye"))
        );
        check_uncompressed(&outcome.wire, outcome.compressed);
        let (received, sent) = (outcome.wire.received(), outcome.wire.sent());
        assert!(received.continuations() >= 4, "tungstenite did not fragment");
        assert_fragmented_by_wsx(&sent);
        // Uncompressed, the 1 MiB message alone takes LARGE / FRAGMENT_SIZE frames.
        assert!(sent.continuations() >= LARGE / FRAGMENT_SIZE - 1);
        assert_eq!(received.payloads(OP_PONG), [b"wsx-server-ping".to_vec()]);
        assert_eq!(sent.payloads(OP_PONG), [b"tt-client-ping".to_vec()]);
    })
    .await;
}

/// What the tungstenite echo server saw.
struct TungsteniteReport {
    received: Vec<tt::Message>,
    close: Option<tt::CloseFrame>,
    pong_ok: bool,
}

/// A tokio-tungstenite echo server for one connection, with the `cmd:fragment` and
/// `cmd:ping` commands of the other peer servers.
async fn tungstenite_echo_once(listener: TcpListener) -> TungsteniteReport {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(tcp)
        .await
        .expect("tungstenite accept");
    let mut report = TungsteniteReport {
        received: Vec::new(),
        close: None,
        pong_ok: false,
    };
    let mut awaiting_pong = false;
    while let Some(msg) = ws.next().await {
        let msg = msg.expect("tungstenite server recv");
        match msg {
            tt::Message::Text(t) if t.as_str() == "cmd:fragment" => {
                for f in tungstenite_fragments() {
                    ws.feed(f).await.unwrap();
                }
                ws.flush().await.unwrap();
            }
            tt::Message::Text(t) if t.as_str() == "cmd:ping" => {
                ws.send(tt::Message::Ping(b"tt-server-ping".to_vec().into()))
                    .await
                    .unwrap();
                awaiting_pong = true;
            }
            tt::Message::Pong(p) if awaiting_pong => {
                report.pong_ok = &p[..] == b"tt-server-ping";
                awaiting_pong = false;
                ws.send(tt::Message::text("pong-ok")).await.unwrap();
            }
            m @ (tt::Message::Text(_) | tt::Message::Binary(_)) => {
                report.received.push(m.clone());
                ws.send(m).await.unwrap();
            }
            tt::Message::Close(frame) => report.close = frame,
            _ => {}
        }
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_client_against_tungstenite_server() {
    within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(tungstenite_echo_once(listener));
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (tap, wire) = Tap::new(tcp);
        // wsx offers permessage-deflate as usual; tungstenite ignores the offer.
        let mut ws = wsx::ClientBuilder::new(format!("ws://127.0.0.1:{port}/tt"))
            .config(fragmenting_config())
            .connect_on(tap)
            .await
            .expect("wsx client handshake");
        assert!(!ws.is_compressed());
        let messages = [
            Message::text(TEXT),
            Message::binary((0..=255u8).collect::<Vec<u8>>()),
            Message::binary(large_pattern(LARGE)),
        ];
        for m in &messages {
            ws.send(m.clone()).await.unwrap();
            let echo = recv_msg(&mut ws, &describe(m)).await;
            assert_messages("echo", &[echo], std::slice::from_ref(m));
        }
        ws.send("cmd:fragment").await.unwrap();
        let fragmented = recv_msg(&mut ws, "the fragmented message").await;
        assert_messages("fragmented", &[fragmented], &[Message::text(FRAGMENTED_TEXT)]);
        ws.ping(b"wsx-client-ping").await.unwrap();
        ws.send("cmd:ping").await.unwrap();
        let answer = recv_msg(&mut ws, "pong-ok").await;
        assert_messages("server ping", &[answer], &[Message::text("pong-ok")]);
        ws.close(Some(CloseFrame::new(CloseCode::NORMAL, "wsx bye")))
            .await
            .unwrap();
        match tokio::time::timeout(STEP_TIMEOUT, ws.recv()).await {
            Ok(None) => {}
            other => panic!("expected the end of the stream after close, got {other:?}"),
        }
        let close = ws.close_frame().cloned();
        let report = tokio::time::timeout(STEP_TIMEOUT, server)
            .await
            .expect("tungstenite server did not finish")
            .unwrap();
        eprintln!(
            "tokio-tungstenite server: wsx received close {close:?}; tungstenite received {:?}",
            report.close
        );

        assert_eq!(close.map(|c| c.code), Some(CloseCode::NORMAL));
        let tt_close = report.close.expect("tungstenite saw no close frame");
        assert_eq!(tt_close.code, tt::CloseCode::Normal);
        assert_eq!(tt_close.reason.as_str(), "wsx bye");
        assert!(report.pong_ok, "tungstenite got no pong from wsx");
        assert_eq!(report.received.len(), 3);
        assert_eq!(report.received[0], tt::Message::text(TEXT));
        assert!(report.received[2] == tt::Message::binary(large_pattern(LARGE)));

        check_uncompressed(&wire, false);
        let (received, sent) = (wire.received(), wire.sent());
        assert!(
            sent.header("Sec-WebSocket-Extensions")
                .is_some_and(|v| v.contains("permessage-deflate")),
            "wsx offers compression by default"
        );
        assert_eq!(received.header("Sec-WebSocket-Extensions"), None);
        assert!(received.continuations() >= 3, "tungstenite did not fragment");
        assert_fragmented_by_wsx(&sent);
        // Uncompressed, the 1 MiB message alone takes LARGE / FRAGMENT_SIZE frames.
        assert!(sent.continuations() >= LARGE / FRAGMENT_SIZE - 1);
        assert_eq!(received.payloads(OP_PONG), [b"wsx-client-ping".to_vec()]);
        assert_eq!(sent.payloads(OP_PONG), [b"tt-server-ping".to_vec()]);
        assert_eq!(sent.closes(), [(Some(1000), "wsx bye".to_owned())]);
    })
    .await;
}
