//! `wsx connect` against a hostile server: the review's reproduction of unbounded
//! buffering after the close handshake. The server sends its close frame and then
//! 256 MiB of garbage; the client must discard it (its peak RSS stays far below the
//! flood) and end on its own within the close timeout. One test per binary, so the
//! measurement is the only thing running in the child.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The peak resident set of a running process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn a_flood_after_the_close_frame_costs_the_client_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsx"));
    cmd.args(["connect", &format!("ws://{addr}/"), "--no-compress"])
        .env_remove("RUST_LOG")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("all_proxy")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start wsx connect");
    let pid = child.id();

    let (mut tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut key = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("sec-websocket-key")
        {
            key = Some(value.trim().to_owned());
        }
    }
    let accept = wsx_proto::handshake::accept_key(key.expect("a key").as_bytes());
    write!(
        tcp,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .unwrap();
    // The close frame (1000), then garbage the client must not keep.
    tcp.write_all(&[0x88, 0x02, 0x03, 0xe8]).unwrap();
    let before = peak_rss_kib(pid).expect("the client is running");
    let junk = vec![0xffu8; 1 << 20];
    let mut sent = 0usize;
    while sent < 256 << 20 {
        match tcp.write(&junk) {
            Ok(n) => sent += n,
            Err(_) => break, // the client closed first: also fine
        }
    }
    let peak = peak_rss_kib(pid);
    // The client answers the close and, the server not closing TCP, gives up after its
    // close timeout (5 s): it exits on its own.
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            assert!(status.success(), "wsx connect failed: {status}: {stderr}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "wsx connect did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    let echoed_close = {
        let mut first = [0u8; 2];
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.read_exact(&mut first).is_ok() && first[0] == 0x88
    };
    assert!(echoed_close, "the client answered the close frame");
    if let Some(peak) = peak {
        eprintln!(
            "flood {} MiB; client peak RSS {before} KiB before, {peak} KiB after",
            sent >> 20
        );
        assert!(
            peak < before + 32 * 1024,
            "peak RSS grew from {before} to {peak} KiB during a {} MiB flood",
            sent >> 20
        );
    }
}
