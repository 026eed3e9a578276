//! Browser interop: headless Chromium (Debian's, driven by playwright-core) uses its own
//! `WebSocket` against the real `wsx echo` binary, over `ws://` and over `wss://` with a
//! certificate generated at test time.
//!
//! Chromium trusts the test certificate through `--ignore-certificate-errors-spki-list`
//! with the SHA-256 of the leaf's public key (computed by the driver): it accepts that
//! one key only, where `--ignore-certificate-errors` would accept any certificate and
//! so could not tell a served-the-wrong-certificate bug from success.
//!
//! The driver (`tests/peers/browser_driver.js`) prints a JSON report that this test
//! parses: per URL, the echo checks, `ws.extensions`, the close event, and the handshake
//! headers seen through the DevTools protocol.

use wsx_test_support as support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::certs::TestCerts;
use support::json::Json;
use support::{INSTALL_HINT, Peer, STEP_TIMEOUT, TempDir, peer_script, peers_dir, require_node_module};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Starts `wsx echo` on a free port; returns the process and its port.
fn wsx_echo(extra: &[&str]) -> (Peer, u16) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsx"));
    cmd.args(["echo", "--listen", "127.0.0.1:0"]).args(extra);
    let peer = Peer::spawn("wsx echo", cmd);
    let line = peer.line(STEP_TIMEOUT);
    let port = line
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from wsx echo: {line:?}"));
    (peer, port)
}

/// A header from a DevTools header object, by case-insensitive name.
fn header<'a>(headers: &'a Json, name: &str) -> Option<&'a str> {
    match headers {
        Json::Object(fields) => fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str()),
        _ => None,
    }
}

#[test]
fn chromium_websocket_against_wsx_echo_over_ws_and_wss() {
    require_node_module("playwright-core");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing\n{INSTALL_HINT}"
    );
    let dir = TempDir::new("browser");
    let certs = TestCerts::generate(dir.path());
    let (_plain, plain_port) = wsx_echo(&[]);
    let (_tls, tls_port) = wsx_echo(&[
        "--tls-cert",
        certs.chain.to_str().unwrap(),
        "--tls-key",
        certs.key.to_str().unwrap(),
    ]);
    let urls = [
        format!("ws://127.0.0.1:{plain_port}/browser"),
        format!("wss://127.0.0.1:{tls_port}/browser"),
    ];

    let mut cmd = Command::new("node");
    cmd.arg(peer_script("browser_driver.js"))
        .arg("--cert")
        .arg(&certs.chain)
        .args(&urls)
        .current_dir(peers_dir())
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("WSX_CHROMIUM", CHROMIUM);
    support::without_proxy_env(&mut cmd);
    let mut driver = Peer::spawn("browser_driver.js", cmd);
    let (status, lines) = driver.finish(Duration::from_secs(50));
    let report = lines.last().map(|l| Json::parse(l)).unwrap_or_else(|| {
        panic!(
            "the browser driver printed no report (exit {status}); stderr:\n{}",
            driver.stderr()
        )
    });
    assert!(
        report["error"].is_null(),
        "browser driver failed: {:?}\nstderr:\n{}",
        report["error"],
        driver.stderr()
    );
    eprintln!(
        "Chromium {}; trust: {:?}",
        report["browser"].as_str().unwrap_or("?"),
        report["trust"]["flag"].as_str()
    );
    assert_eq!(
        report["trust"]["flag"].as_str(),
        Some("--ignore-certificate-errors-spki-list")
    );

    let results = report["results"].as_array();
    assert_eq!(results.len(), urls.len(), "one result per URL: {report:?}");
    for (url, r) in urls.iter().zip(results) {
        assert_eq!(r["url"].as_str(), Some(url.as_str()));
        assert!(r["error"].is_null(), "{url}: {:?}", r["error"]);
        for check in ["text", "binary", "large", "compressible_text"] {
            assert_eq!(
                r["checks"][check].as_bool(),
                Some(true),
                "{url}: the {check} echo"
            );
        }
        let extensions = r["extensions"].as_str().unwrap_or_default();
        assert!(
            extensions.contains("permessage-deflate"),
            "{url}: ws.extensions is {extensions:?}"
        );
        assert_eq!(r["close"]["code"].as_u64(), Some(1000), "{url}: close code");
        assert_eq!(r["close"]["wasClean"].as_bool(), Some(true), "{url}: clean close");

        let hs = &r["handshake"];
        let offered = header(&hs["request_headers"], "Sec-WebSocket-Extensions").unwrap_or_default();
        let agreed = header(&hs["response_headers"], "Sec-WebSocket-Extensions").unwrap_or_default();
        assert_eq!(hs["status"].as_u64(), Some(101), "{url}: handshake {hs:?}");
        assert!(
            offered.contains("permessage-deflate"),
            "{url}: Chromium offered {offered:?}"
        );
        assert!(
            agreed.starts_with("permessage-deflate"),
            "{url}: wsx answered {agreed:?}"
        );
        eprintln!(
            "{url}: page origin {:?}, Origin header {:?}; Chromium offered {offered:?}, wsx answered \
             {agreed:?}; ws.extensions {extensions:?}; close {} {:?} clean={}",
            r["origin"].as_str(),
            header(&hs["request_headers"], "Origin"),
            r["close"]["code"].as_f64().unwrap_or(-1.0),
            r["close"]["reason"].as_str(),
            r["close"]["wasClean"].as_bool().unwrap_or(false),
        );
    }
}
