//! Who may connect to `wsx serve`, and to what, end to end:
//!
//! - `--jwt-secret`: a valid HS256 token is the identity (`sub`); a bad signature, a token
//!   expired beyond the leeway, no token, and `?user=` alone are refused with HTTP 401 on
//!   `/ws`, `/sse` and `/poll`; the `channels` claim allows `chat:*` and forbids the rest
//!   (error `forbidden`, the connection going on); a token that expires while connected
//!   closes the WebSocket with 4001.
//! - `--api-key`: `/api/*` without the key or with a wrong one is 401, with it 2xx.
//! - `--allowed-origins`: a handshake from another `Origin` is 403, one without `Origin` is
//!   allowed.
//!
//! Tokens are made here with the `jsonwebtoken` crate; the clients are Python `websockets`
//! and Node `ws`.

use wsx_test_support as support;

use jsonwebtoken::{EncodingKey, Header, encode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::STEP_TIMEOUT;
use support::hub::{Driver, HubServer, PollSession, Sse, WsEvent};

const SECRET: &str = "a test secret, long enough for HS256";

fn serve(flags: &[&str]) -> HubServer {
    HubServer::start(env!("CARGO_BIN_EXE_wsx"), flags)
}

fn jwt_hub(extra: &[&str]) -> HubServer {
    let mut flags = vec!["--jwt-secret", SECRET];
    flags.extend_from_slice(extra);
    serve(&flags)
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An HS256 token signed with `secret` for `claims`.
fn token_with(secret: &str, claims: serde_json::Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("a token")
}

/// A valid token for `sub`, an hour long.
fn token(sub: &str) -> String {
    token_with(SECRET, serde_json::json!({ "sub": sub, "exp": now() + 3600 }))
}

/// Every way in refuses `query` with 401: the WebSocket handshake (Python and Node), SSE
/// and long-polling.
fn assert_refused_everywhere(hub: &HubServer, query: &str, status: u16, why: &str) {
    let mut py = Driver::python();
    assert_eq!(
        py.try_open("c", &hub.ws_url(query), None),
        WsEvent::Refused(status),
        "python websockets, {why}"
    );
    let mut node = Driver::node();
    assert_eq!(
        node.try_open("c", &hub.ws_url(query), None),
        WsEvent::Refused(status),
        "node ws, {why}"
    );
    let sse = Sse::open(hub.addr(), &format!("/sse?{query}"), &[]).expect_err("SSE refused");
    assert_eq!(sse.status, status, "SSE, {why}: {}", sse.text());
    let poll = PollSession::start(hub.addr(), query).expect_err("poll refused");
    assert_eq!(poll.status, status, "poll, {why}: {}", poll.text());
}

#[test]
fn a_valid_token_is_the_identity_on_every_transport() {
    let hub = jwt_hub(&[]);
    let t = token("alice");
    let mut py = Driver::python();
    let welcome = py.open("c", &hub.ws_url(&format!("token={t}")));
    assert_eq!(welcome["user"].as_str(), Some("alice"));
    // `?user=` next to a token is not an identity: the token's `sub` is.
    let mut node = Driver::node();
    let welcome = node.open("c", &hub.ws_url(&format!("user=mallory&token={}", token("bob"))));
    assert_eq!(welcome["user"].as_str(), Some("bob"));
    let mut sse = Sse::open(hub.addr(), &format!("/sse?token={t}"), &[]).expect("SSE with a token");
    assert_eq!(sse.next_json()["user"].as_str(), Some("alice"));
    let (_, events) = PollSession::start(hub.addr(), &format!("token={t}")).expect("poll with a token");
    assert_eq!(events[0]["user"].as_str(), Some("alice"));
    // Within the default leeway (30 s), a just-expired token is still accepted.
    let late = token_with(SECRET, serde_json::json!({ "sub": "carol", "exp": now() - 5 }));
    let welcome = py.open("late", &hub.ws_url(&format!("token={late}")));
    assert_eq!(welcome["user"].as_str(), Some("carol"));
}

#[test]
fn a_bad_signature_is_refused_with_401() {
    let hub = jwt_hub(&[]);
    let forged = token_with(
        "another secret entirely",
        serde_json::json!({ "sub": "alice", "exp": now() + 3600 }),
    );
    assert_refused_everywhere(&hub, &format!("token={forged}"), 401, "a bad signature");
    // A token that is not a JWT at all.
    assert_refused_everywhere(&hub, "token=not.a.jwt", 401, "garbage");
    // The right secret with another algorithm, or none at all: only HS256 is accepted.
    let hs384 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS384),
        &serde_json::json!({ "sub": "alice", "exp": now() + 3600 }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_refused_everywhere(&hub, &format!("token={hs384}"), 401, "HS384");
    // {"alg":"none","typ":"JWT"} . {"sub":"alice"} . (no signature)
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSJ9.";
    assert_refused_everywhere(&hub, &format!("token={unsigned}"), 401, "alg none");
}

#[test]
fn a_token_expired_beyond_the_leeway_is_refused_with_401() {
    let hub = jwt_hub(&[]);
    let expired = token_with(SECRET, serde_json::json!({ "sub": "alice", "exp": now() - 600 }));
    assert_refused_everywhere(&hub, &format!("token={expired}"), 401, "an expired token");
}

#[test]
fn no_token_and_user_alone_are_refused_with_401_in_jwt_mode() {
    let hub = jwt_hub(&[]);
    assert_refused_everywhere(&hub, "user=alice", 401, "?user= in JWT mode");
    assert_refused_everywhere(&hub, "", 401, "no identity");
    // A token without `sub` names nobody.
    let nobody = token_with(SECRET, serde_json::json!({ "exp": now() + 3600 }));
    assert_refused_everywhere(&hub, &format!("token={nobody}"), 401, "no sub");
}

#[test]
fn without_jwt_a_connection_needs_a_user() {
    let hub = serve(&[]);
    assert_refused_everywhere(&hub, "", 401, "no ?user=");
    assert_refused_everywhere(&hub, "user=has%20space", 401, "an invalid user id");
}

/// The next event on `c` that is not a presence event (a subscription to `chat:x` also
/// brings the user's own `join`).
fn next_not_presence(py: &mut Driver) -> support::json::Json {
    loop {
        let e = py.recv("c");
        if e["type"].as_str() != Some("presence") {
            return e;
        }
    }
}

#[test]
fn the_channels_claim_allows_matching_channels_and_forbids_the_rest() {
    let hub = jwt_hub(&[]);
    let t = token_with(
        SECRET,
        serde_json::json!({ "sub": "alice", "exp": now() + 3600, "channels": ["chat:*", "news"] }),
    );
    let mut py = Driver::python();
    py.open("c", &hub.ws_url(&format!("token={t}")));
    let answer = |py: &mut Driver, command: &str| {
        py.send("c", command);
        next_not_presence(py)
    };
    let ok = answer(&mut py, r#"{"type":"subscribe","channel":"chat:x","id":1}"#);
    assert_eq!(
        (ok["type"].as_str(), ok["id"].as_u64()),
        (Some("ack"), Some(1)),
        "{ok:?}"
    );
    let ok = answer(&mut py, r#"{"type":"subscribe","channel":"news","id":2}"#);
    assert_eq!(
        ok["type"].as_str(),
        Some("ack"),
        "an exact name in the claim: {ok:?}"
    );
    for (id, command) in [
        (3, r#"{"type":"subscribe","channel":"secret","id":3}"#),
        (4, r#"{"type":"subscribe","channel":"newsroom","id":4}"#),
        (5, r#"{"type":"publish","channel":"secret","data":1,"id":5}"#),
        (6, r#"{"type":"presence","channel":"secret","id":6}"#),
    ] {
        let e = answer(&mut py, command);
        assert_eq!(e["type"].as_str(), Some("error"), "{command}: {e:?}");
        assert_eq!(e["code"].as_str(), Some("forbidden"), "{command}: {e:?}");
        assert_eq!(e["id"].as_u64(), Some(id), "{command}: {e:?}");
    }
    // The connection goes on: a publish to an allowed channel arrives.
    py.send(
        "c",
        r#"{"type":"publish","channel":"chat:x","data":"still here","id":7}"#,
    );
    let mut types: Vec<String> = (0..2)
        .map(|_| next_not_presence(&mut py)["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["ack", "message"]);
    // Nothing was published to the forbidden channel.
    let h = hub.get("/api/history/secret").json();
    assert!(h["messages"].as_array().is_empty(), "{h:?}");
}

#[test]
fn a_token_that_expires_while_connected_closes_with_4001() {
    let hub = jwt_hub(&["--jwt-leeway", "0"]);
    // Both drivers first: a slow start (a loaded machine) must not use up the token.
    let mut py = Driver::python();
    let mut node = Driver::node();
    let short = token_with(SECRET, serde_json::json!({ "sub": "alice", "exp": now() + 3 }));
    py.open("c", &hub.ws_url(&format!("token={short}")));
    node.open("c", &hub.ws_url(&format!("token={short}")));
    let (code, _, _) = py.closed("c", STEP_TIMEOUT);
    assert_eq!(code, 4001, "python: the close code for an expired token");
    let (code, _, _) = node.closed("c", STEP_TIMEOUT);
    assert_eq!(code, 4001, "node: the close code for an expired token");
    // And it cannot come back with it.
    assert_eq!(
        py.try_open("again", &hub.ws_url(&format!("token={short}")), None),
        WsEvent::Refused(401)
    );
}

#[test]
fn the_api_key_guards_every_api_endpoint() {
    let hub = serve(&["--api-key", "k3y"]);
    let publish = br#"{"channel":"room","data":1}"#;
    let send = br#"{"to":["alice"],"data":1}"#;
    let cases: [(&str, &str, &[u8]); 5] = [
        ("POST", "/api/publish", publish),
        ("POST", "/api/send", send),
        ("GET", "/api/presence/room", b""),
        ("GET", "/api/history/room", b""),
        ("POST", "/api/disconnect", br#"{"user":"alice"}"#),
    ];
    for (method, path, body) in cases {
        let json = ("Content-Type", "application/json");
        let none = hub.request(method, path, &[json], body);
        assert_eq!(none.status, 401, "{method} {path} without a key: {}", none.text());
        let wrong = hub.request(method, path, &[json, ("Authorization", "Bearer nope")], body);
        assert_eq!(wrong.status, 401, "{method} {path} with a wrong key");
        let basic = hub.request(method, path, &[json, ("Authorization", "k3y")], body);
        assert_eq!(
            basic.status, 401,
            "{method} {path} with the key but not as Bearer"
        );
        let right = hub.request(method, path, &[json, ("Authorization", "Bearer k3y")], body);
        assert!(
            (200..300).contains(&right.status),
            "{method} {path} with the key: {} {}",
            right.status,
            right.text()
        );
    }
    assert!(
        hub.get("/api/history/room").header("www-authenticate").is_some(),
        "a 401 says how to authenticate"
    );
    // The key is for the API only: clients and health checks do not need it.
    assert_eq!(hub.get("/healthz").status, 200);
    let mut py = Driver::python();
    py.open("c", &hub.ws_url("user=alice"));
}

#[test]
fn a_handshake_from_an_origin_not_allowed_gets_403() {
    let hub = serve(&["--allowed-origins", "https://a.example,https://b.example"]);
    let url = hub.ws_url("user=alice");
    let mut py = Driver::python();
    let mut node = Driver::node();
    assert_eq!(
        py.try_open("evil", &url, Some("https://evil.example")),
        WsEvent::Refused(403),
        "python, another origin"
    );
    assert_eq!(
        node.try_open("evil", &url, Some("https://evil.example")),
        WsEvent::Refused(403),
        "node, another origin"
    );
    assert_eq!(py.try_open("a", &url, Some("https://a.example")), WsEvent::Open);
    assert_eq!(node.try_open("b", &url, Some("https://b.example")), WsEvent::Open);
    // No Origin: a non-browser client, allowed.
    assert_eq!(py.try_open("none", &url, None), WsEvent::Open);
    assert_eq!(py.recv("none")["type"].as_str(), Some("welcome"));
    let evil = [("Origin", "https://evil.example")];
    let sse = Sse::open(hub.addr(), "/sse?user=alice", &evil).expect_err("SSE from evil");
    assert_eq!(sse.status, 403);
    let poll = hub.request("GET", "/poll?user=alice", &evil, b"");
    assert_eq!(poll.status, 403);
    // An allowed origin gets CORS headers on the fallbacks.
    let ok = hub.request("GET", "/poll?user=alice", &[("Origin", "https://a.example")], b"");
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://a.example")
    );
}

#[test]
fn an_expired_token_does_not_outlive_itself_on_sse() {
    // The same expiry on the fallback: the stream ends.
    let hub = jwt_hub(&["--jwt-leeway", "0"]);
    let short = token_with(SECRET, serde_json::json!({ "sub": "alice", "exp": now() + 3 }));
    let mut sse = Sse::open(hub.addr(), &format!("/sse?token={short}"), &[]).expect("SSE");
    assert_eq!(sse.next_json()["type"].as_str(), Some("welcome"));
    sse.until_end(Duration::from_secs(20));
}

#[test]
fn a_token_in_the_second_of_its_exp_is_refused_not_opened_and_closed() {
    // With no leeway, `exp` is the end: a token whose `exp` is the current second has no
    // time left, and the handshake must say so (401) rather than open a session that the
    // expiry closes at once with 4001.
    let hub = jwt_hub(&["--jwt-leeway", "0"]);
    let ending = token_with(SECRET, serde_json::json!({ "sub": "alice", "exp": now() }));
    let mut py = Driver::python();
    assert_eq!(
        py.try_open("c", &hub.ws_url(&format!("token={ending}")), None),
        WsEvent::Refused(401)
    );
    let sse = Sse::open(hub.addr(), &format!("/sse?token={ending}"), &[]).expect_err("SSE refused");
    assert_eq!(sse.status, 401);
}
