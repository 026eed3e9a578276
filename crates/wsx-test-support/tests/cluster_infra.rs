//! The cluster helpers against the real programs: [`RedisServer`] starts, answers,
//! restarts with or without its data, freezes; [`Balancer`] (nginx and HAProxy, with the
//! `deploy/` configurations) alternates between two backends request by request, passes a
//! WebSocket upgrade through both ways, streams SSE events as they come and adds
//! `X-Forwarded-For`; and `docs/deployment.md` shows those configurations as they are.
//!
//! The backends are a stub of this file's own: a blocking HTTP/1.1 server that answers any
//! request with its name, and a WebSocket or an SSE stream when asked for one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use wsx_test_support as support;
use wsx_test_support::balancer::{HAPROXY_TEMPLATE, Kind, NGINX_TEMPLATE, render};
use wsx_test_support::hub::{RawWs, Sse, request};
use wsx_test_support::{Balancer, RedisOptions, RedisServer};

// ---- Redis ----------------------------------------------------------------------------------

#[test]
fn redis_starts_answers_and_restarts_on_its_port_without_its_data() {
    let mut redis = RedisServer::start();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
    assert_ne!(redis.port(), 6379, "the machine's Redis port");
    assert_eq!(redis.cli(["PING"]), "PONG");
    assert_eq!(redis.cli(["SET", "wsx:test", "kept?"]), "OK");
    assert_eq!(redis.cli(["CONFIG", "GET", "appendonly"]), "appendonly\nno");
    let port = redis.port();

    redis.restart();
    assert_eq!(redis.port(), port);
    assert_eq!(
        redis.cli(["EXISTS", "wsx:test"]),
        "0",
        "no persistence: a restart starts empty"
    );

    redis.kill();
    assert!(redis.pid().is_none());
    assert!(
        TcpStream::connect(redis.addr()).is_err(),
        "a killed Redis still accepts"
    );
    redis.restart();
    assert_eq!(redis.cli(["PING"]), "PONG");
}

#[test]
fn persistent_redis_keeps_its_data_across_a_kill_and_a_stop() {
    let mut redis = RedisServer::persistent();
    assert_eq!(redis.cli(["CONFIG", "GET", "appendfsync"]), "appendfsync\nalways");
    redis.cli(["XADD", "wsx:stream", "*", "data", "one"]);
    redis.cli(["XADD", "wsx:stream", "*", "data", "two"]);

    // A crash: with appendfsync always, what Redis acknowledged is on disk.
    redis.kill();
    redis.restart();
    assert_eq!(redis.cli(["XLEN", "wsx:stream"]), "2");

    redis.cli(["SET", "wsx:after", "1"]);
    redis.stop();
    redis.restart();
    assert_eq!(redis.cli(["XLEN", "wsx:stream"]), "2");
    assert_eq!(redis.cli(["GET", "wsx:after"]), "1");
    assert!(
        redis.log().contains("Ready to accept connections"),
        "{}",
        redis.log()
    );
}

#[test]
fn redis_with_a_password_and_extra_configuration() {
    let redis = RedisServer::start_with(RedisOptions {
        password: Some("s3cret".into()),
        extra: vec!["maxmemory 16mb".into()],
        ..RedisOptions::default()
    });
    assert_eq!(redis.cli(["PING"]), "PONG");
    assert_eq!(redis.cli(["CONFIG", "GET", "maxmemory"]), "maxmemory\n16777216");
    // Without AUTH: refused.
    let mut tcp = TcpStream::connect(redis.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut line = String::new();
    BufReader::new(tcp).read_line(&mut line).unwrap();
    assert!(line.starts_with("-NOAUTH"), "{line:?}");
}

/// `PING` on a connection of its own: how long Redis took to answer, or `None` if it did
/// not within `limit`.
fn ping_time(redis: &RedisServer, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut tcp = TcpStream::connect(redis.addr()).unwrap();
    tcp.set_read_timeout(Some(limit)).unwrap();
    tcp.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut line = String::new();
    match BufReader::new(tcp).read_line(&mut line) {
        Ok(_) => {
            assert_eq!(line, "+PONG\r\n");
            Some(start.elapsed())
        }
        Err(_) => None,
    }
}

#[test]
fn frozen_redis_answers_nothing_until_thawed_and_a_pause_ends_by_itself() {
    let mut redis = RedisServer::start();
    redis.freeze();
    // The kernel still accepts the connection; nothing answers.
    assert_eq!(ping_time(&redis, Duration::from_millis(500)), None);
    redis.thaw();
    assert!(ping_time(&redis, Duration::from_secs(5)).is_some());

    redis.pause_for(Duration::from_millis(800));
    let took = ping_time(&redis, Duration::from_secs(10)).expect("an answer after the pause");
    assert!(
        took >= Duration::from_millis(500),
        "answered in {took:?} during a pause"
    );

    // A freeze after a pause is not undone by the pause's thaw.
    redis.pause_for(Duration::from_millis(200));
    redis.freeze();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(ping_time(&redis, Duration::from_millis(500)), None);
    redis.thaw();
    assert_eq!(redis.cli(["PING"]), "PONG");
}

// ---- a stub backend -----------------------------------------------------------------------

/// A backend that answers `GET /anything` with its `name` as the body (and the
/// `X-Forwarded-For` it got as `X-Seen-Forwarded-For`), `GET /sse` with an event, another 0.3 s later,
/// and then nothing for 30 s, and a WebSocket handshake with a text frame of its name and then an
/// echo of every (short, unfragmented) frame. It lives as long as the test process.
fn stub(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            std::thread::spawn(move || {
                let _ = serve(name, tcp);
            });
        }
    });
    addr
}

fn serve(name: &str, tcp: TcpStream) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(tcp.try_clone()?);
    let mut out = tcp;
    loop {
        // One request head.
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            head.extend_from_slice(&line);
            if line == b"\r\n" {
                break;
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(&head).map_err(std::io::Error::other)?;
        let get = |n: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(n))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let path = req.path.unwrap_or("/").to_owned();
        if let Some(n) = get("content-length").and_then(|v| v.parse::<u64>().ok()) {
            std::io::copy(&mut (&mut reader).take(n), &mut std::io::sink())?;
        }
        if get("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
            let key = get("sec-websocket-key").unwrap_or_default();
            let accept = wsx_proto::handshake::accept_key(key.as_bytes());
            write!(
                out,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n\r\n"
            )?;
            out.write_all(&text_frame(name.as_bytes()))?;
            loop {
                let mut h = [0u8; 2];
                reader.read_exact(&mut h)?;
                let len = (h[1] & 0x7f) as usize;
                let mut mask = [0u8; 4];
                reader.read_exact(&mut mask)?;
                let mut payload = vec![0u8; len];
                reader.read_exact(&mut payload)?;
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
                if h[0] & 0x0f == 0x8 {
                    return Ok(());
                }
                out.write_all(&text_frame(&payload))?;
            }
        }
        if path == "/sse" {
            // Chunked, and no X-Accel-Buffering (which the hub sends): only the proxy's
            // configuration decides.
            let event = format!("data: {name}\n\n");
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
                event.len()
            )?;
            out.flush()?;
            // A second event later, in a read of its own for the proxy.
            std::thread::sleep(Duration::from_millis(300));
            let event = format!("data: {name} again\n\n");
            write!(out, "{:x}\r\n{event}\r\n", event.len())?;
            out.flush()?;
            std::thread::sleep(Duration::from_secs(30));
            return Ok(());
        }
        let xff = get("x-forwarded-for").unwrap_or_default();
        let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             X-Seen-Forwarded-For: {xff}\r\n{}\r\n{name}",
            name.len(),
            if close { "Connection: close\r\n" } else { "" },
        )?;
        if close {
            return Ok(());
        }
    }
}

fn text_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126, "the stub sends short frames only");
    let mut f = vec![0x81, payload.len() as u8];
    f.extend_from_slice(payload);
    f
}

// ---- balancers ------------------------------------------------------------------------------

#[test]
fn render_repeats_backend_lines_and_leaves_comments() {
    let backends: Vec<SocketAddr> = vec!["10.0.0.1:8080".parse().unwrap(), "10.0.0.2:8081".parse().unwrap()];
    let nginx = render(NGINX_TEMPLATE, "80", &backends);
    assert!(
        nginx.contains("    server 10.0.0.1:8080;\n    server 10.0.0.2:8081;\n"),
        "{nginx}"
    );
    assert!(nginx.contains("    listen 80;\n"), "{nginx}");
    let haproxy = render(HAPROXY_TEMPLATE, ":80", &backends);
    assert!(
        haproxy.contains("server node1 10.0.0.1:8080 check")
            && haproxy.contains("server node2 10.0.0.2:8081 check"),
        "{haproxy}"
    );
    assert!(haproxy.contains("    bind :80\n"), "{haproxy}");
    // The explanations in the comments keep their placeholders.
    assert!(nginx.contains("# {{listen}} (what nginx listens on"), "{nginx}");
}

/// The bodies of `n` requests through `lb`, each on a connection of its own.
fn names(lb: &Balancer, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let r = request(lb.addr(), "GET", &format!("/api/presence/x{i}"), &[], b"");
            assert_eq!(
                r.status,
                200,
                "{}: {}; log:\n{}",
                lb.kind().name(),
                r.text(),
                lb.log()
            );
            r.text()
        })
        .collect()
}

fn assert_round_robin(start: fn(&[SocketAddr]) -> Balancer) {
    let backends = [stub("a"), stub("b")];
    let lb = start(&backends);
    let kind = lb.kind();
    let template = match kind {
        Kind::Nginx => NGINX_TEMPLATE,
        Kind::Haproxy => HAPROXY_TEMPLATE,
    };
    assert_eq!(lb.config(), render(template, &lb.addr().to_string(), &backends));
    let got = names(&lb, 8);
    for pair in got.windows(2) {
        assert_ne!(pair[0], pair[1], "{}: not round robin: {got:?}", kind.name());
    }
    assert!(
        got.contains(&"a".to_owned()) && got.contains(&"b".to_owned()),
        "{got:?}"
    );

    // Several requests on one kept-alive client connection are balanced one by one too.
    let mut tcp = TcpStream::connect(lb.addr()).unwrap();
    tcp.set_read_timeout(Some(support::STEP_TIMEOUT)).unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut seen = Vec::new();
    for _ in 0..4 {
        write!(tcp, "GET /poll?session=s HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).unwrap();
        seen.push(String::from_utf8(body).unwrap());
    }
    for pair in seen.windows(2) {
        assert_ne!(
            pair[0],
            pair[1],
            "{}: one connection stuck to a node: {seen:?}",
            kind.name()
        );
    }

    // X-Forwarded-For reaches the node.
    let r = request(lb.addr(), "GET", "/healthz", &[], b"");
    assert_eq!(
        r.header("x-seen-forwarded-for"),
        Some("127.0.0.1"),
        "{:?}",
        r.headers
    );
}

fn assert_websocket_passes(kind: Kind) {
    let backends = [stub("a"), stub("b")];
    let lb = Balancer::start(kind, &backends);
    let mut nodes = Vec::new();
    for i in 0..2 {
        let mut ws = RawWs::connect(lb.addr(), "/ws?user=alice");
        let first = ws.read_frame().expect("the node's first frame");
        nodes.push(String::from_utf8(first.payload).unwrap());
        let text = format!("hello {i}");
        ws.send_text(&text);
        let echo = ws.read_frame().expect("the echo");
        assert_eq!(
            (echo.opcode, echo.payload),
            (1, text.into_bytes()),
            "{}",
            kind.name()
        );
    }
    assert_ne!(
        nodes[0],
        nodes[1],
        "{}: both upgrades went to one node",
        kind.name()
    );
}

/// Events reach the client while the stream stays open. (nginx 1.22 passes these two on at
/// once even with `proxy_buffering on`: what the directive changes is how far nginx reads
/// ahead of a slow client, which this does not measure.)
fn assert_sse_streams(kind: Kind) {
    let backends = [stub("a")];
    let lb = Balancer::start(kind, &backends);
    let mut sse = Sse::open(lb.addr(), "/sse", &[]).unwrap_or_else(|r| panic!("{r:?}"));
    // The node wrote two events and holds the stream open: they must come through now.
    let event = sse.next_within(Duration::from_secs(5)).expect("the first event");
    assert_eq!(event.field("data"), ["a"], "{}", kind.name());
    let event = sse.next_within(Duration::from_secs(5)).expect("the second event");
    assert_eq!(event.field("data"), ["a again"], "{}", kind.name());
}

#[test]
fn nginx_balances_round_robin() {
    assert_round_robin(Balancer::nginx);
}

#[test]
fn haproxy_balances_round_robin() {
    assert_round_robin(Balancer::haproxy);
}

#[test]
fn nginx_passes_websocket_upgrades() {
    assert_websocket_passes(Kind::Nginx);
}

#[test]
fn haproxy_passes_websocket_upgrades() {
    assert_websocket_passes(Kind::Haproxy);
}

#[test]
fn nginx_streams_sse() {
    assert_sse_streams(Kind::Nginx);
}

#[test]
fn haproxy_streams_sse() {
    assert_sse_streams(Kind::Haproxy);
}

#[test]
fn deployment_doc_shows_the_deploy_files_as_they_are() {
    let doc = std::fs::read_to_string(support::repo_root().join("docs/deployment.md")).unwrap();
    for (name, template, lang) in [
        ("deploy/nginx.conf", NGINX_TEMPLATE, "nginx"),
        ("deploy/haproxy.cfg", HAPROXY_TEMPLATE, "haproxy"),
    ] {
        assert!(
            doc.contains(&format!("```{lang}\n{template}```\n")),
            "docs/deployment.md does not show {name} as it is: copy it into its ```{lang} block"
        );
    }
}
