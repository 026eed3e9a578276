//! How `wsx serve` takes its settings: each one a flag, a key of the TOML `--config FILE`
//! and an environment variable `WSX_<NAME>`, flags winning over the environment over the
//! file; a bad setting stops it with a clear message and a non-zero exit.

use wsx_test_support as support;

use std::process::Command;
use support::hub::{Driver, HubServer};
use support::{Peer, STEP_TIMEOUT, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_wsx");

/// The status of `GET /api/presence/x` with `Authorization: Bearer KEY`.
fn api_status(hub: &HubServer, key: &str) -> u16 {
    let auth = format!("Bearer {key}");
    hub.request("GET", "/api/presence/x", &[("Authorization", &auth)], b"")
        .status
}

#[test]
fn flags_win_over_the_environment_which_wins_over_the_file() {
    let dir = TempDir::new("hub-config");
    let file = dir.path().join("wsx.toml");
    std::fs::write(
        &file,
        "api_key = \"from-file\"\nhistory_size = 3\nrate_burst = 7\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();

    // The file alone.
    let hub = HubServer::start(BIN, &["--config", file]);
    assert_eq!(api_status(&hub, "from-file"), 200);
    // history_size = 3: a since from the start now has a trimmed gap after 5 messages.
    let key = [("Authorization", "Bearer from-file")];
    let start = hub.request("GET", "/api/history/h", &key, b"").json()["offset"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..5 {
        let r = hub.request(
            "POST",
            "/api/publish",
            &[("Authorization", "Bearer from-file")],
            format!(r#"{{"channel":"h","data":{n}}}"#).as_bytes(),
        );
        assert_eq!(r.status, 200);
    }
    let h = hub
        .request(
            "GET",
            &format!("/api/history/h?since={start}"),
            &[("Authorization", "Bearer from-file")],
            b"",
        )
        .json();
    assert_eq!(h["gap"]["reason"].as_str(), Some("trimmed"), "{h:?}");
    assert_eq!(h["messages"].as_array().len(), 3, "{h:?}");
    drop(hub);

    // The environment over the file (WSX_CONFIG names the file too).
    let hub = HubServer::start_with_env(BIN, &[], &[("WSX_CONFIG", file), ("WSX_API_KEY", "from-env")]);
    assert_eq!(api_status(&hub, "from-env"), 200);
    assert_eq!(api_status(&hub, "from-file"), 401);
    drop(hub);

    // A flag over both.
    let hub = HubServer::start_with_env(
        BIN,
        &["--config", file, "--api-key", "from-flag"],
        &[("WSX_API_KEY", "from-env")],
    );
    assert_eq!(api_status(&hub, "from-flag"), 200);
    assert_eq!(api_status(&hub, "from-env"), 401);
    // What the file set and nobody overrode still holds: a burst of 7.
    let mut py = Driver::python();
    py.open("c", &hub.ws_url("user=u"));
    py.repeat("c", 8, r#"{"type":"publish","channel":"b","data":{i},"id":{i}}"#);
    for _ in 0..7 {
        assert_eq!(py.recv("c")["type"].as_str(), Some("ack"));
    }
    assert_eq!(py.recv("c")["code"].as_str(), Some("rate_limited"));
}

/// Runs `wsx serve ARGS` expecting it to refuse to start: its stderr.
fn refuses(args: &[&str]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").args(args).env_remove("RUST_LOG");
    let mut peer = Peer::spawn("wsx serve", cmd);
    let (status, stdout) = peer.finish(STEP_TIMEOUT);
    assert!(!status.success(), "wsx serve {args:?} started: {stdout:?}");
    assert!(
        !stdout.iter().any(|l| l.starts_with("listening on")),
        "{args:?}: {stdout:?}"
    );
    peer.stderr()
}

#[test]
fn a_bad_setting_stops_it_with_a_clear_message() {
    let dir = TempDir::new("hub-config");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "histroy_size = 3\n").unwrap();
    let err = refuses(&["--listen", "127.0.0.1:0", "--config", file.to_str().unwrap()]);
    assert!(err.contains("histroy_size"), "names the unknown key: {err}");
    let err = refuses(&["--listen", "127.0.0.1:0", "--jwt-leeway", "120"]);
    assert!(err.contains("jwt_leeway"), "names the setting: {err}");
    let err = refuses(&["--listen", "127.0.0.1:0", "--config", "/nonexistent/wsx.toml"]);
    assert!(err.contains("/nonexistent/wsx.toml"), "names the file: {err}");
    let err = refuses(&["--listen", "not an address"]);
    assert!(err.contains("not an address"), "names the address: {err}");
}

#[test]
fn serve_help_lists_the_flags() {
    let out = Command::new(BIN).args(["serve", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--config",
        "--broker",
        "--jwt-secret",
        "--api-key",
        "--allowed-origins",
        "--history-size",
        "--history-ttl",
        "--tls-cert",
        "--tls-key",
        "--rate-limit",
        "--max-connections-per-user",
        "--outgoing-queue",
        "--slow-consumer-timeout",
        "--presence-grace",
        "--poll-timeout",
    ] {
        assert!(help.contains(flag), "wsx serve --help lists {flag}:\n{help}");
    }
}
