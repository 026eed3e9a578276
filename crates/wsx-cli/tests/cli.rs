//! The `wsx` command line's contract, tested on the real binary:
//!
//! - `wsx echo --listen 127.0.0.1:0` prints exactly one `listening on 127.0.0.1:PORT`
//!   line on stdout, then serves;
//! - `wsx connect URL` sends stdin lines as text messages, prints what comes back one
//!   per line, and exits 0 after stdin's EOF with a normal close;
//! - it exits non-zero with a clear message on stderr when the server is unreachable or
//!   refuses the handshake, or when a `wss://` certificate is not trusted;
//! - `--header`, `--protocol` and `--no-compress` reach the server (checked by a Python
//!   `websockets` server that reports the request it saw);
//! - `wsx echo --tls-cert/--tls-key` serves `wss://`, and `wsx connect --ca-cert` trusts it;
//! - every subcommand has `--help`.

use wsx_test_support as support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, ExitStatus};
use support::certs::TestCerts;
use support::json::Json;
use support::{Peer, STEP_TIMEOUT, TempDir, peer_script, require_python_websockets, unused_port};

/// The `wsx` binary, with no proxy variables and default logging.
fn wsx(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsx"));
    cmd.args(args).env_remove("RUST_LOG");
    support::without_proxy_env(&mut cmd);
    cmd
}

/// A running `wsx echo`, and the port from its one line of output.
struct Echo {
    peer: Peer,
    port: u16,
}

fn start_echo(extra: &[&str]) -> Echo {
    let mut args = vec!["echo", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let peer = Peer::spawn("wsx echo", wsx(&args));
    let line = peer.line(STEP_TIMEOUT);
    let port: u16 = line
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("wsx echo's first line is {line:?}, not `listening on 127.0.0.1:PORT`"));
    assert_ne!(port, 0, "wsx echo printed the unresolved port 0");
    Echo { peer, port }
}

/// What a finished `wsx connect` did.
struct Run {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
}

/// Runs `wsx connect ARGS...` with `input` on stdin (then EOF), within the step timeout.
fn connect(args: &[&str], input: &str) -> Run {
    let mut all = vec!["connect"];
    all.extend_from_slice(args);
    let mut peer = Peer::spawn("wsx connect", wsx(&all));
    {
        let mut stdin = peer.take_stdin();
        // The client may fail before reading its input: a broken pipe is fine.
        let _ = stdin.write_all(input.as_bytes());
    }
    let (status, stdout) = peer.finish(STEP_TIMEOUT);
    Run {
        status,
        stdout,
        stderr: peer.stderr(),
    }
}

/// Runs `wsx connect ARGS...` interactively: writes each line and waits for its echo
/// before the next, then closes stdin. Unlike piping everything at once, this does not
/// race the close against echoes a server has not sent yet (a Python `websockets` server
/// answers a close at once and drops what its handler had still to send).
fn connect_interactive(args: &[&str], lines: &[&str]) -> Run {
    let mut all = vec!["connect"];
    all.extend_from_slice(args);
    let mut peer = Peer::spawn("wsx connect", wsx(&all));
    let mut stdin = peer.take_stdin();
    let mut echoes = Vec::new();
    for line in lines {
        writeln!(stdin, "{line}").expect("write to wsx connect");
        stdin.flush().unwrap();
        echoes.push(peer.line(STEP_TIMEOUT));
    }
    drop(stdin);
    let (status, rest) = peer.finish(STEP_TIMEOUT);
    echoes.extend(rest);
    Run {
        status,
        stdout: echoes,
        stderr: peer.stderr(),
    }
}

#[test]
fn echo_prints_exactly_one_listening_line_and_serves() {
    let mut echo = start_echo(&[]);
    let url = format!("ws://127.0.0.1:{}/", echo.port);
    let run = connect(&[&url], "ping\n");
    assert!(run.status.success(), "wsx connect failed: {}", run.stderr);
    assert_eq!(run.stdout, ["ping"]);
    let rest = echo.peer.kill();
    assert!(rest.is_empty(), "wsx echo printed more than one line: {rest:?}");
}

#[test]
fn connect_sends_stdin_lines_and_prints_echoes_then_closes_normally() {
    let echo = start_echo(&[]);
    let url = format!("ws://127.0.0.1:{}/chat", echo.port);
    let lines = ["first", "héllo wörld — 你好 🦀", "", "last line"];
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let run = connect(&[&url], &input);
    assert!(
        run.status.success(),
        "wsx connect exited {} after EOF; stderr:\n{}",
        run.status,
        run.stderr
    );
    assert_eq!(run.stdout, lines, "the echoes, one per line");
    assert!(run.stderr.is_empty(), "unexpected stderr:\n{}", run.stderr);
}

#[test]
fn connect_fails_clearly_when_the_server_is_unreachable() {
    let url = format!("ws://127.0.0.1:{}/", unused_port());
    let run = connect(&[&url], "never sent\n");
    assert!(!run.status.success(), "wsx connect succeeded against nothing");
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains(&format!("cannot connect to {url}")) && run.stderr.contains("refused"),
        "stderr does not say what failed:\n{}",
        run.stderr
    );
}

#[test]
fn connect_fails_clearly_when_the_handshake_is_rejected() {
    // A plain HTTP server that refuses every upgrade.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).unwrap();
            assert!(n > 0, "client hung up mid-request");
            head.extend_from_slice(&buf[..n]);
        }
        let body = "no websockets for you";
        write!(
            tcp,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        String::from_utf8_lossy(&head).into_owned()
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let run = connect(&[&url], "hello\n");
    let request = server.join().expect("rejecting server");
    assert!(request.starts_with("GET / HTTP/1.1\r\n"), "request: {request}");
    assert!(!run.status.success(), "wsx connect succeeded against a 403");
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains(&format!("cannot connect to {url}"))
            && run.stderr.contains("403")
            && run.stderr.contains("no websockets for you"),
        "stderr does not say the handshake was refused:\n{}",
        run.stderr
    );
}

/// The header values a Python server's report lists under `name` (case-insensitive).
fn request_header<'a>(report: &'a Json, name: &str) -> Vec<&'a str> {
    report["request_headers"]
        .as_array()
        .iter()
        .filter(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .filter_map(|h| h[1].as_str())
        .collect()
}

#[test]
fn connect_honours_header_protocol_and_no_compress() {
    require_python_websockets();
    let mut cmd = Command::new("python3");
    cmd.arg(peer_script("py_echo_server.py"))
        .args(["--subprotocol", "chat.v1"]);
    let server = Peer::spawn("py_echo_server.py", cmd);
    let port = server.line_with_prefix("PORT ", STEP_TIMEOUT);
    let url = format!("ws://127.0.0.1:{port}/room?id=7");

    // With every option.
    let run = connect_interactive(
        &[
            "--header",
            "X-Token: s3cret value",
            "-H",
            "X-Trace:1",
            "--protocol",
            "chat.v2",
            "--protocol",
            "chat.v1",
            "--no-compress",
            &url,
        ],
        &["hello"],
    );
    assert!(run.status.success(), "wsx connect failed: {}", run.stderr);
    assert_eq!(run.stdout, ["hello"]);
    let report = Json::parse(&server.line(STEP_TIMEOUT));
    assert_eq!(report["path"].as_str(), Some("/room?id=7"));
    assert_eq!(request_header(&report, "X-Token"), ["s3cret value"]);
    assert_eq!(request_header(&report, "X-Trace"), ["1"]);
    assert_eq!(
        request_header(&report, "Sec-WebSocket-Protocol").join(", "),
        "chat.v2, chat.v1",
        "the subprotocols, most preferred first"
    );
    assert_eq!(report["subprotocol"].as_str(), Some("chat.v1"));
    assert!(
        report["request_extensions"].is_null(),
        "--no-compress still offered {:?}",
        report["request_extensions"]
    );
    assert!(report["response_extensions"].is_null());
    assert_eq!(
        report["close_received"]["code"].as_u64(),
        Some(1000),
        "stdin EOF closes with 1000"
    );

    // Without --no-compress, permessage-deflate is offered and agreed.
    let run = connect_interactive(&["--protocol", "chat.v1", &url], &["hello again"]);
    assert!(run.status.success(), "wsx connect failed: {}", run.stderr);
    assert_eq!(run.stdout, ["hello again"]);
    let report = Json::parse(&server.line(STEP_TIMEOUT));
    let offered = report["request_extensions"].as_str().unwrap_or_default();
    assert!(
        offered.starts_with("permessage-deflate"),
        "wsx connect offered {offered:?}"
    );
    let agreed = report["response_extensions"].as_str().unwrap_or_default();
    assert!(
        agreed.starts_with("permessage-deflate"),
        "python answered {agreed:?}"
    );
    assert_eq!(request_header(&report, "X-Token"), Vec::<&str>::new());
}

#[test]
fn echo_serves_wss_and_connect_trusts_its_ca() {
    let dir = TempDir::new("cli-tls");
    let certs = TestCerts::generate(dir.path());
    let echo = start_echo(&[
        "--tls-cert",
        certs.chain.to_str().unwrap(),
        "--tls-key",
        certs.key.to_str().unwrap(),
    ]);
    let url = format!("wss://127.0.0.1:{}/secure", echo.port);
    let run = connect(&["--ca-cert", certs.ca.to_str().unwrap(), &url], "over tls ✓\n");
    assert!(
        run.status.success(),
        "wsx connect over wss failed: {}",
        run.stderr
    );
    assert_eq!(run.stdout, ["over tls ✓"]);

    // Without --ca-cert the built-in roots do not know the test CA.
    let run = connect(&[&url], "rejected\n");
    assert!(!run.status.success(), "an untrusted certificate was accepted");
    assert!(
        run.stderr.contains(&format!("cannot connect to {url}")) && run.stderr.contains("certificate"),
        "stderr does not blame the certificate:\n{}",
        run.stderr
    );

    // Plain ws:// against the TLS port fails too, rather than hanging.
    let plain = format!("ws://127.0.0.1:{}/", echo.port);
    let run = connect(&[&plain], "x\n");
    assert!(!run.status.success(), "ws:// to a wss:// server succeeded");
}

/// The subcommand names listed in `wsx --help`, except `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_subcommand_has_help() {
    let out = wsx(&["--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Usage: wsx"), "{help}");
    let names = subcommands(&help);
    for expected in ["echo", "connect"] {
        assert!(
            names.iter().any(|n| n == expected),
            "`wsx --help` lists {names:?}"
        );
    }
    for name in &names {
        let out = wsx(&[name, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "wsx {name} --help failed");
        assert!(
            text.contains(&format!("Usage: wsx {name}")) && text.contains("-h, --help"),
            "wsx {name} --help:\n{text}"
        );
    }
    let flags = |name: &str| String::from_utf8(wsx(&[name, "--help"]).output().unwrap().stdout).unwrap();
    let echo = flags("echo");
    for flag in ["--listen", "--tls-cert", "--tls-key", "--no-compress"] {
        assert!(echo.contains(flag), "wsx echo --help lacks {flag}");
    }
    let connect = flags("connect");
    for flag in ["--header", "--protocol", "--no-compress", "--ca-cert", "<URL>"] {
        assert!(connect.contains(flag), "wsx connect --help lacks {flag}");
    }
}
