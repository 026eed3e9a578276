//! The hub (`wsx serve`) from outside, for the end-to-end tests in `crates/wsx-cli/tests/hub_*.rs`:
//!
//! - [`HubServer`]: `wsx serve --listen 127.0.0.1:0 [flags]` as a child process, its
//!   address read from its `listening on ADDR` line, killed on drop (or stopped with
//!   SIGTERM by the test).
//! - [`Driver`]: WebSocket clients we did not write — Python `websockets`
//!   (`tests/peers/hub_driver.py`) or Node `ws` (`tests/peers/hub_driver.js`) — holding
//!   any number of named connections, driven one instruction a line, their events read
//!   per connection.
//! - [`request`], [`Sse`], [`RawWs`]: HTTP/1.1 by hand over a blocking socket (the API,
//!   `/poll`, `/emulation`, an SSE stream read event by event, chunked bodies decoded
//!   here), and a WebSocket client whose reads the test decides (one that never reads).
//!
//! Everything is std (plus `httparse` and [`Json`]), and every wait is
//! bounded: a hang fails the test with what was seen so far.

use crate::json::Json;
use crate::peer::{Peer, STEP_TIMEOUT, peer_script, peers_dir, without_proxy_env};
use crate::peer::{require_node_module, require_python_websockets};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{ChildStdin, Command, ExitStatus};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

// ---- the server ---------------------------------------------------------------------------

/// A running `wsx serve`, killed (with its process group) when dropped.
#[derive(Debug)]
pub struct HubServer {
    peer: Peer,
    addr: SocketAddr,
}

impl HubServer {
    /// Starts `BIN serve --listen 127.0.0.1:0 FLAGS…` (`BIN` is the test's
    /// `env!("CARGO_BIN_EXE_wsx")`) and waits for its `listening on ADDR` line.
    pub fn start(bin: &str, flags: &[&str]) -> HubServer {
        HubServer::start_with_env(bin, flags, &[])
    }

    /// [`start`](Self::start) with these environment variables (`WSX_<NAME>` settings);
    /// none of the machine's `WSX_*` variables leak in.
    pub fn start_with_env(bin: &str, flags: &[&str], env: &[(&str, &str)]) -> HubServer {
        HubServer::spawn(bin, "127.0.0.1:0", flags, env)
    }

    /// [`start`](Self::start) on `addr`: the same hub again on its port after a stop (a
    /// new process, so a new epoch of history), once the port can be bound again.
    pub fn start_at(bin: &str, addr: SocketAddr, flags: &[&str]) -> HubServer {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while let Err(e) = std::net::TcpListener::bind(addr) {
            assert!(Instant::now() < deadline, "{addr} stays taken: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let hub = HubServer::spawn(bin, &addr.to_string(), flags, &[]);
        assert_eq!(hub.addr, addr, "the hub restarted on another address");
        hub
    }

    fn spawn(bin: &str, listen: &str, flags: &[&str], env: &[(&str, &str)]) -> HubServer {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", listen])
            .args(flags)
            .env("RUST_LOG", "warn");
        for (k, _) in std::env::vars() {
            if k.starts_with("WSX_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        without_proxy_env(&mut cmd);
        let peer = Peer::spawn("wsx serve", cmd);
        let line = peer.line(STEP_TIMEOUT);
        let addr: SocketAddr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "wsx serve's first line is {line:?}, not `listening on ADDR`; stderr:\n{}",
                    peer.stderr()
                )
            });
        assert_ne!(addr.port(), 0, "wsx serve printed the unresolved port 0");
        HubServer { peer, addr }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/ws?QUERY`.
    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws?{query}", self.addr)
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.peer.id()
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        self.peer.stderr()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `INT`, …) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        self.peer.wait(timeout)
    }

    /// Kills the process at once (a crash, for the tests of a restart).
    pub fn kill(&mut self) {
        self.peer.kill();
    }

    /// One request to this server (see [`request`]).
    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        request(self.addr, method, target, headers, body)
    }

    /// `GET TARGET`.
    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[], b"")
    }

    /// `POST TARGET` with a JSON body.
    pub fn post(&self, target: &str, json: &str) -> Response {
        self.request(
            "POST",
            target,
            &[("Content-Type", "application/json")],
            json.as_bytes(),
        )
    }

    /// `POST /api/publish` (see [`publish`]).
    pub fn publish(&self, channel: &str, data: &str) -> String {
        publish(self.addr, channel, data)
    }

    /// The value of the metric line starting with `series` (a name and, if any, its
    /// labels as printed: `wsx_disconnects_total{code="4008"}`), or `None`.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "GET /metrics");
        r.text().lines().find_map(|l| {
            let rest = l.strip_prefix(series)?;
            rest.strip_prefix(' ')?.split(' ').next()?.parse().ok()
        })
    }

    /// Polls `/metrics` until `series` reaches at least `value`.
    pub fn wait_metric(&self, series: &str, value: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.metric(series);
            if now.is_some_and(|v| v >= value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} is {now:?}, not {value} or more, after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

// ---- HTTP by hand ---------------------------------------------------------------------------

/// `POST /api/publish` of `data` (JSON text) to `channel` on the hub at `addr` (no API
/// key); fails the test unless it answers 200. The answer's `offset`.
pub fn publish(addr: SocketAddr, channel: &str, data: &str) -> String {
    let r = request(
        addr,
        "POST",
        "/api/publish",
        &[("Content-Type", "application/json")],
        format!(r#"{{"channel":"{channel}","data":{data}}}"#).as_bytes(),
    );
    assert_eq!(r.status, 200, "POST /api/publish: {}", r.text());
    r.json()["offset"]
        .as_str()
        .unwrap_or_else(|| panic!("POST /api/publish answered {}", r.text()))
        .to_owned()
}

/// An HTTP response, body complete (a chunked one decoded).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (the first; the name compared without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (fails the test if it is not).
    pub fn json(&self) -> Json {
        Json::parse(&self.text())
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn connect_tcp(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect_timeout(&addr, STEP_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    tcp.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(STEP_TIMEOUT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp
}

fn write_request(
    tcp: &mut TcpStream,
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // A server that refuses early (413) may stop reading: what it answers still counts.
    let _ = tcp.write_all(head.as_bytes()).and_then(|()| tcp.write_all(body));
}

/// Reads a response head; the status, the headers, and the reader positioned at the body.
fn read_head(reader: &mut BufReader<TcpStream>, what: &str) -> (u16, Vec<(String, String)>) {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => panic!(
                "{what}: the connection ended before a complete response head: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Ok(_) => {}
            Err(e) => panic!(
                "{what}: no complete response head ({e}); got {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
    }
    let mut parsed = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut parsed);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        other => panic!(
            "{what}: a malformed response head ({other:?}): {:?}",
            String::from_utf8_lossy(&head)
        ),
    }
    let headers = resp
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    (resp.code.expect("a status"), headers)
}

/// A body reader for `Transfer-Encoding: chunked`.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = usize::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size line {line:?}")))?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        if self.left == 0 {
            let mut crlf = String::new();
            self.inner.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}

fn body_reader(reader: BufReader<TcpStream>, headers: &[(String, String)]) -> Box<dyn Read + Send> {
    let chunked = header(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        return Box::new(Chunked {
            inner: reader,
            left: 0,
            done: false,
        });
    }
    match header(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) => Box::new(reader.take(n)),
        None => Box::new(reader),
    }
}

/// One HTTP/1.1 request to `addr` on a connection of its own (`Connection: close`), the
/// whole response read within [`STEP_TIMEOUT`] per read.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let what = format!("{method} {target}");
    let mut tcp = connect_tcp(addr);
    write_request(&mut tcp, addr, method, target, headers, body);
    let mut reader = BufReader::new(tcp);
    let (status, headers) = read_head(&mut reader, &what);
    let mut body = Vec::new();
    if method != "HEAD" && status != 204 && status != 304 {
        let mut r = body_reader(reader, &headers);
        let mut chunk = [0u8; 16 << 10];
        loop {
            match r.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
                // A reset after the response (a refused oversized body) ends it too.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{what}: reading the body: {e} (got {} bytes)", body.len()),
            }
        }
    }
    Response {
        status,
        headers,
        body,
    }
}

// ---- SSE ------------------------------------------------------------------------------------

/// One event of an SSE stream: its field lines as they came (`id: …`, `data: …`), comments
/// left out.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub lines: Vec<String>,
}

impl SseEvent {
    /// The values of the field `name` (one per line that has it).
    pub fn field(&self, name: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| {
                let (k, v) = l.split_once(':').unwrap_or((l, ""));
                (k == name).then(|| v.strip_prefix(' ').unwrap_or(v))
            })
            .collect()
    }

    /// The `id:` (fails unless there is exactly one).
    pub fn id(&self) -> &str {
        let ids = self.field("id");
        assert_eq!(ids.len(), 1, "an SSE event with one id: line: {:?}", self.lines);
        ids[0]
    }

    /// The `data:` as JSON (fails unless there is exactly one `data:` line).
    pub fn json(&self) -> Json {
        let data = self.field("data");
        assert_eq!(
            data.len(),
            1,
            "an SSE event with one data: line: {:?}",
            self.lines
        );
        Json::parse(data[0])
    }
}

/// What the reader thread of an [`Sse`] saw.
#[derive(Debug)]
enum SseItem {
    Event(SseEvent),
    End(String),
}

/// A `GET /sse…` stream, read event by event on a thread of its own; dropping it closes
/// the connection.
#[derive(Debug)]
pub struct Sse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    events: Receiver<SseItem>,
    tcp: TcpStream,
    ended: Option<String>,
}

impl Sse {
    /// Opens `target` (e.g. `/sse?user=alice`) with extra `headers`. A status other than
    /// 200 comes back as the whole response.
    pub fn open(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Result<Sse, Response> {
        let what = format!("GET {target}");
        let mut tcp = connect_tcp(addr);
        // The stream may stay quiet longer than a step: the reader thread waits forever,
        // and the test's waits are bounded instead.
        tcp.set_read_timeout(None).unwrap();
        let mut all = vec![("Accept", "text/event-stream")];
        all.extend_from_slice(headers);
        write_request(&mut tcp, addr, "GET", target, &all, b"");
        let keep = tcp.try_clone().unwrap();
        let mut reader = BufReader::new(tcp);
        let (status, headers) = read_head(&mut reader, &what);
        if status != 200 {
            let mut body = Vec::new();
            let _ = body_reader(reader, &headers).read_to_end(&mut body);
            return Err(Response {
                status,
                headers,
                body,
            });
        }
        let (tx, events) = channel();
        let body = BufReader::new(body_reader(reader, &headers));
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut body = body;
            loop {
                let mut line = String::new();
                match body.read_line(&mut line) {
                    Ok(0) => {
                        let _ = tx.send(SseItem::End("end of stream".into()));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(SseItem::End(e.to_string()));
                        return;
                    }
                    Ok(_) => {}
                }
                let line = line.trim_end_matches(['\r', '\n']).to_owned();
                if line.is_empty() {
                    if !lines.is_empty() {
                        let event = SseEvent {
                            lines: std::mem::take(&mut lines),
                        };
                        if tx.send(SseItem::Event(event)).is_err() {
                            return;
                        }
                    }
                } else if !line.starts_with(':') {
                    lines.push(line);
                }
            }
        });
        Ok(Sse {
            status,
            headers,
            events,
            tcp: keep,
            ended: None,
        })
    }

    /// A response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The next event, `None` if the stream ended; fails after `timeout`.
    pub fn next_within(&mut self, timeout: Duration) -> Option<SseEvent> {
        if self.ended.is_some() {
            return None;
        }
        match self.events.recv_timeout(timeout) {
            Ok(SseItem::Event(e)) => Some(e),
            Ok(SseItem::End(why)) => {
                self.ended = Some(why);
                None
            }
            Err(RecvTimeoutError::Timeout) => panic!("SSE: no event within {timeout:?}"),
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// The next event; fails if the stream ends or after [`STEP_TIMEOUT`].
    pub fn event(&mut self) -> SseEvent {
        self.next_within(STEP_TIMEOUT)
            .unwrap_or_else(|| panic!("SSE: the stream ended ({:?})", self.ended))
    }

    /// The next event's JSON.
    pub fn next_json(&mut self) -> Json {
        self.event().json()
    }

    /// Waits for the stream to end, returning the events that came before.
    pub fn until_end(&mut self, timeout: Duration) -> Vec<SseEvent> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(SseItem::Event(e)) => seen.push(e),
                Ok(SseItem::End(why)) => {
                    self.ended = Some(why);
                    return seen;
                }
                Err(RecvTimeoutError::Disconnected) => return seen,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("SSE: the stream did not end within {timeout:?}; it sent {seen:?}")
                }
            }
        }
    }
}

impl Drop for Sse {
    fn drop(&mut self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

// ---- long-polling ------------------------------------------------------------------------------

/// A long-poll session: `GET /poll?user=…` started it; [`poll`](Self::poll) asks for the
/// next events, [`emulate`](Self::emulate) posts commands.
#[derive(Debug)]
pub struct PollSession {
    addr: SocketAddr,
    /// The session id (`X-Wsx-Session`, and the welcome's `session`).
    pub sid: String,
    /// The last `X-Wsx-Cursor` received.
    pub cursor: u64,
}

/// A long-poll response's events and its `X-Wsx-Cursor`.
fn poll_events(r: &Response, what: &str) -> (Vec<Json>, u64) {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    let cursor = r
        .header("x-wsx-cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no X-Wsx-Cursor in {:?}", r.headers));
    let body = r.json();
    assert!(
        matches!(body, Json::Array(_)),
        "{what}: the body is not a JSON array: {}",
        r.text()
    );
    (body.as_array().to_vec(), cursor)
}

impl PollSession {
    /// `GET /poll?QUERY` (e.g. `user=alice`): the session and its first events (the
    /// welcome first); the refusal if it is not 200.
    pub fn start(addr: SocketAddr, query: &str) -> Result<(PollSession, Vec<Json>), Response> {
        let r = request(addr, "GET", &format!("/poll?{query}"), &[], b"");
        if r.status != 200 {
            return Err(r);
        }
        let (events, cursor) = poll_events(&r, "the first poll");
        let sid = r
            .header("x-wsx-session")
            .unwrap_or_else(|| panic!("no X-Wsx-Session in {:?}", r.headers))
            .to_owned();
        Ok((PollSession { addr, sid, cursor }, events))
    }

    /// `GET /poll?session=S`: the next events (an empty list when the hold timed out).
    pub fn poll(&mut self) -> Vec<Json> {
        let r = self.poll_raw(None);
        let (events, cursor) = poll_events(&r, "GET /poll?session=…");
        self.cursor = cursor;
        events
    }

    /// `GET /poll?session=S[&cursor=C]`, the response as it came (the session's cursor
    /// left alone).
    pub fn poll_raw(&self, cursor: Option<u64>) -> Response {
        let cursor = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        request(
            self.addr,
            "GET",
            &format!("/poll?session={}{cursor}", self.sid),
            &[],
            b"",
        )
    }

    /// `GET /poll?session=S&cursor=C`: the events after event `C`, and the new cursor.
    pub fn poll_after(&self, cursor: u64) -> (Vec<Json>, u64) {
        poll_events(&self.poll_raw(Some(cursor)), "GET /poll?session=…&cursor=…")
    }

    /// Polls until an event satisfies `done`: every event received on the way, that one
    /// last.
    pub fn poll_until(&mut self, mut done: impl FnMut(&Json) -> bool) -> Vec<Json> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            for e in self.poll() {
                let stop = done(&e);
                seen.push(e);
                if stop {
                    return seen;
                }
            }
            assert!(
                Instant::now() < deadline,
                "poll: nothing awaited within {STEP_TIMEOUT:?}; got {seen:?}"
            );
        }
    }

    /// `POST /emulation?session=S` with `body` (one command or an array of them).
    pub fn emulate(&self, body: &str) -> Response {
        emulate(self.addr, &self.sid, body)
    }
}

/// `POST /emulation?session=SID` with `body`.
pub fn emulate(addr: SocketAddr, sid: &str, body: &str) -> Response {
    request(
        addr,
        "POST",
        &format!("/emulation?session={sid}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

// ---- a WebSocket whose reads the test decides ---------------------------------------------------

/// A WebSocket client over a blocking socket, written by hand: it does the handshake and
/// sends masked text frames, and reads only when the test says so (a client that never
/// reads is one whose test never calls [`RawWs::until_close`] until the end).
#[derive(Debug)]
pub struct RawWs {
    tcp: TcpStream,
    reader: BufReader<TcpStream>,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawWs {
    /// Opens `target` (e.g. `/ws?user=slow`) without offering any extension; fails unless
    /// the server answers 101.
    pub fn connect(addr: SocketAddr, target: &str) -> RawWs {
        let mut tcp = connect_tcp(addr);
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).expect("write the handshake");
        let mut reader = BufReader::new(tcp.try_clone().unwrap());
        let (status, _) = read_head(&mut reader, &format!("upgrade {target}"));
        assert_eq!(status, 101, "the WebSocket handshake for {target}");
        RawWs { tcp, reader }
    }

    /// Sends one masked text frame.
    pub fn send_text(&mut self, text: &str) {
        self.send_frame(0x1, text.as_bytes());
    }

    /// Sends one masked frame (FIN set) with `opcode`; a closed connection is ignored.
    pub fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n @ 0..126 => frame.push(0x80 | n as u8),
            n @ 126..65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        let _ = self.tcp.write_all(&frame);
    }

    /// Reads one frame; `None` at the end of the connection (or a reset).
    pub fn read_frame(&mut self) -> Option<RawFrame> {
        let mut head = [0u8; 2];
        self.reader.read_exact(&mut head).ok()?;
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.reader.read_exact(&mut b).ok()?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.reader.read_exact(&mut b).ok()?;
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        assert_eq!(head[1] & 0x80, 0, "a masked frame from the server");
        let mut payload = vec![0u8; len];
        self.reader.read_exact(&mut payload).ok()?;
        Some(RawFrame {
            opcode: head[0] & 0x0f,
            payload,
        })
    }

    /// Reads everything until a close frame (its code and how many text frames came
    /// first), or `None` and the count if the connection ended without one. A close is
    /// answered with the same code, as a client does.
    pub fn until_close(&mut self, timeout: Duration) -> (Option<u16>, usize) {
        let deadline = Instant::now() + timeout;
        let mut texts = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no close frame within {timeout:?}");
            self.tcp.set_read_timeout(Some(left)).unwrap();
            match self.read_frame() {
                None => return (None, texts),
                Some(RawFrame { opcode: 8, payload }) => {
                    let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    self.send_frame(0x8, &payload[..payload.len().min(2)]);
                    return (code, texts);
                }
                Some(RawFrame { opcode: 1, .. }) => texts += 1,
                Some(_) => {}
            }
        }
    }
}

// ---- Python and Node clients ------------------------------------------------------------------

/// What happened on one of a [`Driver`]'s connections.
#[derive(Debug, Clone, PartialEq)]
pub enum WsEvent {
    /// The handshake succeeded.
    Open,
    /// The server answered the handshake with this HTTP status.
    Refused(u16),
    /// The connection could not be made (the driver's words).
    Failed(String),
    /// A text frame.
    Text(String),
    /// A binary frame of this many bytes.
    Binary(usize),
    /// The connection ended: the close code the server sent (1006 if none), its reason.
    Closed(u16, String),
}

/// A WebSocket client process we did not write, holding named connections.
#[derive(Debug)]
pub struct Driver {
    name: &'static str,
    peer: Peer,
    stdin: ChildStdin,
    queues: HashMap<String, VecDeque<WsEvent>>,
}

impl Driver {
    /// Python `websockets` (`tests/peers/hub_driver.py`); fails with [`INSTALL_HINT`](crate::peer::INSTALL_HINT) if
    /// it is missing.
    pub fn python() -> Driver {
        Driver::python_trusting(None)
    }

    /// Python `websockets`, verifying `wss://` servers against the CA certificate `ca`.
    pub fn python_trusting(ca: Option<&Path>) -> Driver {
        require_python_websockets();
        let mut cmd = Command::new("python3");
        cmd.arg(peer_script("hub_driver.py"));
        Driver::spawn("python websockets", cmd, ca)
    }

    /// Node `ws` (`tests/peers/hub_driver.js`); fails with [`INSTALL_HINT`](crate::peer::INSTALL_HINT) if it is
    /// missing.
    pub fn node() -> Driver {
        Driver::node_trusting(None)
    }

    /// Node `ws`, verifying `wss://` servers against the CA certificate `ca`.
    pub fn node_trusting(ca: Option<&Path>) -> Driver {
        require_node_module("ws");
        let mut cmd = Command::new("node");
        cmd.arg(peer_script("hub_driver.js")).current_dir(peers_dir());
        Driver::spawn("node ws", cmd, ca)
    }

    fn spawn(name: &'static str, mut cmd: Command, ca: Option<&Path>) -> Driver {
        without_proxy_env(&mut cmd);
        cmd.env_remove("HUB_DRIVER_CA");
        if let Some(ca) = ca {
            cmd.env("HUB_DRIVER_CA", ca);
        }
        let mut peer = Peer::spawn(name, cmd);
        let stdin = peer.take_stdin();
        Driver {
            name,
            peer,
            stdin,
            queues: HashMap::new(),
        }
    }

    /// Sends one instruction line.
    pub fn instruct(&mut self, line: &str) {
        assert!(!line.contains('\n'), "one instruction per line: {line:?}");
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| {
                panic!(
                    "{}: cannot write to the driver ({e}); stderr:\n{}",
                    self.name,
                    self.peer.stderr()
                )
            });
    }

    /// Opens `conn` to `url` (with an `Origin` header if given) and returns how the
    /// handshake went: [`WsEvent::Open`], [`WsEvent::Refused`] or [`WsEvent::Failed`].
    pub fn try_open(&mut self, conn: &str, url: &str, origin: Option<&str>) -> WsEvent {
        let origin = origin.map(|o| format!(" {o}")).unwrap_or_default();
        self.instruct(&format!("open {conn} {url}{origin}"));
        self.next(conn, STEP_TIMEOUT)
    }

    /// Opens `conn` to `url`; fails unless the handshake succeeds. Returns the `welcome`.
    pub fn open(&mut self, conn: &str, url: &str) -> Json {
        match self.try_open(conn, url, None) {
            WsEvent::Open => {}
            other => panic!("{}: opening {conn} to {url}: {other:?}", self.name),
        }
        let welcome = self.recv(conn);
        assert_eq!(welcome["type"].as_str(), Some("welcome"), "{conn}'s first event");
        welcome
    }

    /// Sends a text frame on `conn`.
    pub fn send(&mut self, conn: &str, text: &str) {
        self.instruct(&format!("send {conn} {text}"));
    }

    /// Sends `template` `n` times back to back on `conn`, `{i}` replaced by 0..n-1.
    pub fn repeat(&mut self, conn: &str, n: usize, template: &str) {
        self.instruct(&format!("repeat {conn} {n} {template}"));
    }

    /// Sends a publish to `channel` whose `data` is a string of `bytes` characters.
    pub fn publish_big(&mut self, conn: &str, channel: &str, bytes: usize) {
        self.instruct(&format!("big {conn} {channel} {bytes}"));
    }

    /// Closes `conn` with `code`.
    pub fn close(&mut self, conn: &str, code: u16) {
        self.instruct(&format!("close {conn} {code}"));
    }

    fn parse(line: &str) -> (String, WsEvent) {
        let mut parts = line.splitn(3, ' ');
        let conn = parts.next().unwrap_or_default().to_owned();
        let kind = parts.next().unwrap_or_default();
        let rest = parts.next().unwrap_or_default();
        let event = match kind {
            "open" => WsEvent::Open,
            "refused" => WsEvent::Refused(rest.parse().expect("a status")),
            "failed" => WsEvent::Failed(rest.to_owned()),
            "recv" => WsEvent::Text(rest.to_owned()),
            "binary" => WsEvent::Binary(rest.parse().expect("a length")),
            "closed" => {
                let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                WsEvent::Closed(code.parse().expect("a close code"), reason.to_owned())
            }
            _ => panic!("the driver printed {line:?}"),
        };
        (conn, event)
    }

    /// The next event on `conn`, within `timeout`.
    pub fn next(&mut self, conn: &str, timeout: Duration) -> WsEvent {
        if let Some(e) = self.queues.get_mut(conn).and_then(VecDeque::pop_front) {
            return e;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{}: nothing on {conn} within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.peer.stderr()
                );
            }
            let line = self.peer.line(left);
            assert!(
                !line.starts_with("driver "),
                "{}: {line}; stderr:\n{}",
                self.name,
                self.peer.stderr()
            );
            let (c, event) = Self::parse(&line);
            if c == conn {
                return event;
            }
            self.queues.entry(c).or_default().push_back(event);
        }
    }

    /// The next text frame on `conn` as JSON; fails if `conn` closes first.
    pub fn recv(&mut self, conn: &str) -> Json {
        match self.next(conn, STEP_TIMEOUT) {
            WsEvent::Text(t) => Json::parse(&t),
            other => panic!("{}: expected an event on {conn}, got {other:?}", self.name),
        }
    }

    /// Events on `conn` until one of type `kind`: that one, and those skipped on the way.
    pub fn recv_type(&mut self, conn: &str, kind: &str) -> (Json, Vec<Json>) {
        let mut skipped = Vec::new();
        loop {
            let e = self.recv(conn);
            if e["type"].as_str() == Some(kind) {
                return (e, skipped);
            }
            skipped.push(e);
        }
    }

    /// Waits for `conn` to close; its code and reason, and the text frames that came first.
    pub fn closed(&mut self, conn: &str, timeout: Duration) -> (u16, String, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut texts = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(conn, left) {
                WsEvent::Closed(code, reason) => return (code, reason, texts),
                WsEvent::Text(t) => texts.push(t),
                other => panic!("{}: {conn}: {other:?} while waiting for a close", self.name),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "exit");
    }
}
