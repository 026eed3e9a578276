//! Issue #7, item 3, on the real binary: `wsx connect` with a CR/LF smuggled into the
//! URL's path, `--origin` or `--protocol` exits non-zero with a clear error, and a raw
//! listener that records everything it receives gets nothing at all.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many connections arrived, and every byte they sent.
type Seen = Arc<Mutex<(usize, Vec<u8>)>>;

/// A listener on 127.0.0.1:0 that records every connection and byte it gets.
fn recorder() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new((0, Vec::new())));
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            log.lock().unwrap().0 += 1;
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = tcp.read(&mut buf) {
                    log.lock().unwrap().1.extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (addr, seen)
}

/// Runs `wsx connect ARGS` with no input and no proxy; returns (success, stderr).
fn wsx_connect(args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsx"));
    cmd.arg("connect")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd.spawn().expect("start wsx");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wsx connect {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.success(), stderr)
}

fn check(what: &str, args: &[&str], expect: &str, seen: &Seen) {
    let (ok, stderr) = wsx_connect(args);
    assert!(!ok, "{what}: wsx connect succeeded");
    assert!(
        stderr.starts_with("wsx: error: cannot connect to ") && stderr.contains(expect),
        "{what}: stderr does not say what is wrong:\n{stderr}"
    );
    // One line: the smuggled CR/LF is escaped in the message, not printed.
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}:\n{stderr}");
    std::thread::sleep(Duration::from_millis(100));
    let (connections, bytes) = &*seen.lock().unwrap();
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !text.contains("X-Injected"),
        "{what}: injected on the wire:\n{text}"
    );
    assert!(bytes.is_empty(), "{what}: wrote {text:?}");
    assert_eq!(*connections, 0, "{what}: connected before checking");
}

#[test]
fn crlf_in_the_path_is_refused_before_connecting() {
    let (addr, seen) = recorder();
    let url = format!("ws://{addr}/a\r\nX-Injected: path");
    check(
        "path",
        &[&url],
        "invalid URL: it contains a control character",
        &seen,
    );
}

#[test]
fn crlf_in_the_origin_is_refused_before_connecting() {
    let (addr, seen) = recorder();
    let url = format!("ws://{addr}/");
    check(
        "origin",
        &[&url, "--origin", "http://o\r\nX-Injected: origin"],
        "caused by: the value of header Origin contains a control character",
        &seen,
    );
}

#[test]
fn crlf_in_a_subprotocol_is_refused_before_connecting() {
    let (addr, seen) = recorder();
    let url = format!("ws://{addr}/");
    check(
        "protocol",
        &[&url, "--protocol", "p\r\nX-Injected: protocol"],
        r#"caused by: subprotocol "p\r\nX-Injected: protocol" is not an HTTP token"#,
        &seen,
    );
}
