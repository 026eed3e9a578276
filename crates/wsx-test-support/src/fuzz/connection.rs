//! A whole `Connection` fed arbitrary bytes in arbitrary chunks, interleaved with
//! application calls and timer ticks, with a loopback peer checking what it writes.
//!
//! Input layout: `[cfg0, cfg1, k, ctrl[0..k], wire..]`.
//! - cfg0 bit 0: client (else server); bit 1: permessage-deflate; bit 2: no context
//!   takeover both ways; bit 3: small windows (server 10, client 9, else 15);
//!   bit 4: auto_pong off; bit 5: `fragment_size = 7`;
//!   bits 6-7: `max_message_size` of 64 KiB, 1 KiB, 300 B or 125 B.
//! - cfg1 bits 0-1: `max_frame_size` of 16 MiB, 1 KiB, 125 B or 0; bit 2: idle timeout
//!   60 s; bit 3: `receive_eof` at the end; bit 4: compress everything (level 2,
//!   threshold 0); bit 5: `max_message_size = usize::MAX` (overrides cfg0 bits 6-7);
//!   bit 6: poll with `poll_event_ref` (borrowed events) instead of `poll_event`.
//! - each ctrl byte `c`: an action `c >> 5`, then the next `(c & 31) + 1` wire bytes are
//!   handed in and events polled until `None` or `Err`. Actions: 0 none; 1 drain the
//!   output with partial `io_slices`/`advance_output` writes; 2 `shrink_buffers` (and,
//!   with `poll_event_ref`, poll only one event before the next chunk); 3 hand
//!   the bytes in through `read_buffer`; 4 `send_text`; 5 `ping` (odd) or `send` of a
//!   shared binary (even); 6 `close` with a code from a table (some unsendable);
//!   7 `handle_timeout` at `(c & 31)` seconds later. At most 8 data messages are sent
//!   per input (compression dominates the run time otherwise). Wire left after the ctrl
//!   bytes is handed in as one chunk.
//!
//! Invariants: no panic; after an `Err` (from `poll_event` or `handle_timeout`) the state
//! is `Closed`, `should_close_transport()` is true and `poll_event` is `Ok(None)`;
//! `Message::Text` is valid UTF-8; no message exceeds `max_message_size`; control
//! payloads are at most 125 bytes; `pending_output()` is what `take_output()` returns;
//! application calls fail exactly when they should. Everything the connection writes is
//! fed to a peer connection of the other role (same deflate parameters, default limits):
//! the peer never fails, and receives exactly the messages that were sent, in order.

use bytes::Bytes;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};
use wsx_proto::{
    CloseCode, CloseFrame, Config, Connection, DeflateConfig, DeflateParams, Error, Event, EventRef, Message,
    Role, State,
};

/// ASCII, so any prefix is a valid `&str`; long enough for `31 * 24` bytes.
const TEXT: &str = "The quick brown fox jumps over the lazy dog; 0123456789 wsx permessage-deflate. \
    Pack my box with five dozen liquor jugs. Sphinx of black quartz, judge my vow! \
    How vexingly quick daft zebras jump; the five boxing wizards jump quickly. \
    The quick brown fox jumps over the lazy dog; 0123456789 wsx permessage-deflate. \
    Pack my box with five dozen liquor jugs. Sphinx of black quartz, judge my vow! \
    How vexingly quick daft zebras jump; the five boxing wizards jump quickly. \
    The quick brown fox jumps over the lazy dog; 0123456789 wsx permessage-deflate. \
    Pack my box with five dozen liquor jugs. Sphinx of black quartz, judge my vow! \
    How vexingly quick daft zebras jump; the five boxing wizards jump quickly. \
    The quick brown fox jumps over the lazy dog; 0123456789 wsx permessage-deflate. ";

struct Loopback {
    conn: Connection,
    expected: VecDeque<Message>,
    closed: bool,
}

impl Loopback {
    fn feed(&mut self, bytes: &[u8]) {
        self.conn.receive(bytes);
        loop {
            match self.conn.poll_event() {
                Ok(None) => break,
                Ok(Some(Event::Message(m))) => {
                    let want = self.expected.pop_front().expect("peer got a message nobody sent");
                    assert_eq!(m, want, "peer got a different message");
                }
                Ok(Some(Event::Close(_))) => self.closed = true,
                Ok(Some(_)) => {}
                Err(e) => panic!("the peer rejects what the connection wrote: {e:?}"),
            }
        }
        // The peer's answers (pongs, close echoes) are not fed back: the fuzz input
        // plays the peer's part on the way in.
        let _ = self.conn.take_output();
    }
}

/// What an event showed, from `poll_event` or `poll_event_ref` alike.
#[derive(Debug)]
enum Seen {
    /// `text_ok`: `None` for binary, else whether the text is valid UTF-8.
    Message {
        len: usize,
        text_ok: Option<bool>,
    },
    Control(usize),
    Close(Option<(CloseCode, usize)>),
}

impl Seen {
    fn text(t: &str) -> Seen {
        // Re-validate: the connection hands text out unchecked (`from_utf8_unchecked`).
        let ok = std::str::from_utf8(t.as_bytes()).is_ok();
        Seen::Message {
            len: t.len(),
            text_ok: Some(ok),
        }
    }

    fn from_owned(ev: &Event) -> Seen {
        match ev {
            Event::Message(Message::Text(t)) => Seen::text(t),
            Event::Message(Message::Binary(b)) => Seen::Message {
                len: b.len(),
                text_ok: None,
            },
            Event::Ping(p) | Event::Pong(p) => Seen::Control(p.len()),
            Event::Close(f) => Seen::Close(f.as_ref().map(|f| (f.code, f.reason.len()))),
        }
    }

    fn from_ref(ev: &EventRef<'_>) -> Seen {
        match ev {
            EventRef::Text(t) => Seen::text(t),
            EventRef::Binary(b) => Seen::Message {
                len: b.len(),
                text_ok: None,
            },
            EventRef::Ping(p) | EventRef::Pong(p) => Seen::Control(p.len()),
            EventRef::Close(f) => Seen::Close(f.map(|f| (f.code, f.reason.len()))),
        }
    }
}

struct Harness {
    conn: Connection,
    /// Poll with `poll_event_ref` instead of `poll_event`.
    use_ref: bool,
    peer: Loopback,
    max_message: usize,
    start: Instant,
    now: Duration,
    closed_by_error: bool,
    /// Data messages sent so far: capped at `MAX_SENDS`, since compressing is the most
    /// expensive thing here and the receive path is what is under test.
    sends: usize,
}

const MAX_SENDS: usize = 8;

impl Harness {
    /// Polls until `None` or `Err`, or until `max_events` events (leaving a borrowed
    /// event outstanding, in `poll_event_ref` mode).
    fn poll_all(&mut self, max_events: usize) {
        let mut n = 0;
        loop {
            n += 1;
            assert!(n < 1_000_000, "poll_event does not settle");
            let was_open = self.conn.state() != State::Closed;
            let polled = if self.use_ref {
                self.conn
                    .poll_event_ref()
                    .map(|ev| ev.map(|ev| Seen::from_ref(&ev)))
            } else {
                self.conn
                    .poll_event()
                    .map(|ev| ev.map(|ev| Seen::from_owned(&ev)))
            };
            match polled {
                Ok(None) => break,
                Ok(Some(seen)) => {
                    assert!(was_open, "event after close: {seen:?}");
                    match seen {
                        Seen::Message { len, text_ok } => {
                            assert!(len <= self.max_message, "message of {len} bytes");
                            assert_ne!(text_ok, Some(false), "text message is not UTF-8");
                        }
                        Seen::Control(len) => assert!(len <= 125),
                        Seen::Close(f) => {
                            assert_eq!(self.conn.state(), State::Closed);
                            if self.conn.role() == Role::Server {
                                assert!(self.conn.should_close_transport());
                            }
                            if let Some((code, reason_len)) = f {
                                assert!(code.is_sendable() && reason_len <= 123);
                            }
                        }
                    }
                    if n >= max_events {
                        break;
                    }
                }
                Err(e) => {
                    self.check_failed(&e);
                    break;
                }
            }
        }
    }

    fn check_failed(&mut self, e: &Error) {
        assert_eq!(self.conn.state(), State::Closed, "after {e:?}");
        assert!(self.conn.should_close_transport(), "after {e:?}");
        assert_eq!(self.conn.poll_event(), Ok(None), "after {e:?}");
        self.closed_by_error = true;
    }

    fn drain(&mut self, partial: bool) {
        let pending = self.conn.pending_output();
        let out: Vec<u8> = if partial {
            let mut got = Vec::with_capacity(pending);
            while self.conn.pending_output() > 0 {
                let mut slices = [IoSlice::new(&[]); 3];
                let n = self.conn.io_slices(&mut slices);
                assert!(n > 0, "pending output but no slices");
                // A short write: at most 100 bytes of what is offered.
                let mut budget = 100;
                for s in &slices[..n] {
                    let take = s.len().min(budget);
                    got.extend_from_slice(&s[..take]);
                    budget -= take;
                    if budget == 0 {
                        break;
                    }
                }
                let written = 100 - budget;
                self.conn.advance_output(written);
            }
            got
        } else {
            self.conn.take_output().to_vec()
        };
        assert_eq!(out.len(), pending);
        assert_eq!(self.conn.pending_output(), 0);
        if !out.is_empty() {
            self.peer.feed(&out);
        }
    }

    fn expect_send(&mut self, r: Result<(), Error>, was_open: bool, msg: Message) {
        if was_open {
            r.unwrap_or_else(|e| panic!("send on an open connection failed: {e:?}"));
            self.peer.expected.push_back(msg);
        } else {
            assert_eq!(r, Err(Error::Closed));
        }
    }

    fn action(&mut self, c: u8) {
        let arg = (c & 31) as usize;
        let was_open = self.conn.state() == State::Open;
        let is_send = c >> 5 == 4 || (c >> 5 == 5 && c & 1 == 0);
        if is_send {
            if self.sends == MAX_SENDS {
                return;
            }
            self.sends += 1;
        }
        match c >> 5 {
            4 => {
                let text = &TEXT[..arg * 24];
                let r = self.conn.send_text(text);
                self.expect_send(r, was_open, Message::text(text));
            }
            5 if c & 1 == 1 => {
                let payload = vec![c; arg * 5];
                let r = self.conn.ping(&payload);
                match (was_open, payload.len() <= 125) {
                    (true, true) => assert_eq!(r, Ok(())),
                    (true, false) => assert_eq!(r, Err(Error::ControlPayloadTooLong(payload.len()))),
                    (false, _) => assert_eq!(r, Err(Error::Closed)),
                }
            }
            5 => {
                let b = Bytes::from(vec![c; arg * 40]);
                let r = self.conn.send(Message::Binary(b.clone()));
                self.expect_send(r, was_open, Message::Binary(b));
            }
            6 => {
                const CODES: [Option<u16>; 8] = [
                    None,
                    Some(1000),
                    Some(1001),
                    Some(1005),
                    Some(1011),
                    Some(3000),
                    Some(4999),
                    Some(5000),
                ];
                let frame = CODES[arg % 8].map(|code| {
                    // Multi-byte UTF-8; over 123 bytes (unsendable) from arg 24 on.
                    const REASON: &str = "ünïcödé reason ünïcödé reason ünïcödé reason ünïcödé reason \
                        ünïcödé reason ünïcödé reason ünïcödé reason ünïcödé reason ünïcödé reason";
                    let end = (arg * 5).min(REASON.len());
                    let end = (0..=end).rev().find(|&i| REASON.is_char_boundary(i)).unwrap_or(0);
                    CloseFrame::new(CloseCode(code), &REASON[..end])
                });
                let ok = frame
                    .as_ref()
                    .is_none_or(|f| f.code.is_sendable() && f.reason.len() <= 123);
                let r = self.conn.close(frame);
                if was_open && ok {
                    assert_eq!(r, Ok(()));
                    assert_eq!(self.conn.state(), State::Closing);
                } else if was_open {
                    assert!(r.is_err());
                    assert_eq!(self.conn.state(), State::Open);
                } else {
                    assert_eq!(r, Ok(()));
                }
            }
            7 => {
                self.now += Duration::from_secs(arg as u64);
                if let Err(e) = self.conn.handle_timeout(self.start + self.now) {
                    assert!(matches!(e, Error::KeepaliveTimeout(_)), "{e:?}");
                    self.check_failed(&e);
                }
                if let Some(t) = self.conn.poll_timeout() {
                    assert!(t >= self.start);
                }
            }
            _ => {}
        }
    }
}

/// Runs one input; panics if an invariant above does not hold.
pub fn run(data: &[u8]) {
    let [cfg0, cfg1, k, rest @ ..] = data else {
        return;
    };
    let (ctrl, mut wire) = rest.split_at((*k as usize).min(rest.len()));

    let role = if cfg0 & 1 != 0 { Role::Client } else { Role::Server };
    let deflate = (cfg0 & 2 != 0).then(|| {
        let nct = cfg0 & 4 != 0;
        let small = cfg0 & 8 != 0;
        DeflateParams {
            server_no_context_takeover: nct,
            client_no_context_takeover: nct,
            server_max_window_bits: if small { 10 } else { 15 },
            client_max_window_bits: if small { 9 } else { 15 },
        }
    });
    let mut config = Config::default();
    config.auto_pong = cfg0 & 16 == 0;
    config.fragment_size = (cfg0 & 32 != 0).then_some(7);
    config.max_message_size = [64 << 10, 1 << 10, 300, 125][(cfg0 >> 6) as usize];
    config.max_frame_size = [16 << 20, 1 << 10, 125, 0][(cfg1 & 3) as usize];
    config.idle_timeout = (cfg1 & 4 != 0).then_some(Duration::from_secs(60));
    if cfg1 & 16 != 0 {
        let mut d = DeflateConfig::default();
        d.level = 2;
        d.threshold = 0;
        config.deflate = Some(d);
    }
    if cfg1 & 32 != 0 {
        config.max_message_size = usize::MAX;
    }
    let max_message = config.max_message_size;
    let mut mask_state = u32::from(*cfg1);
    let masks = move || {
        mask_state = mask_state.wrapping_mul(0x9e37_79b9).wrapping_add(0x7f4a_7c15);
        mask_state.to_le_bytes()
    };
    let conn = Connection::new(role, config.clone())
        .with_deflate(deflate)
        .with_mask_source(masks);
    let peer_role = if role == Role::Client {
        Role::Server
    } else {
        Role::Client
    };
    let mut peer_config = Config::default();
    peer_config.deflate = config.deflate.clone();
    let peer = Connection::new(peer_role, peer_config)
        .with_deflate(deflate)
        .with_mask_source(|| [0x12, 0x34, 0x56, 0x78]);
    let mut h = Harness {
        conn,
        use_ref: cfg1 & 64 != 0,
        peer: Loopback {
            conn: peer,
            expected: VecDeque::new(),
            closed: false,
        },
        max_message,
        start: Instant::now(),
        now: Duration::ZERO,
        closed_by_error: false,
        sends: 0,
    };

    for &c in ctrl {
        h.action(c);
        let n = ((c & 31) as usize + 1).min(wire.len());
        let (chunk, more) = wire.split_at(n);
        wire = more;
        if c >> 5 == 3 {
            h.conn.read_buffer().extend_from_slice(chunk);
        } else {
            h.conn.receive(chunk);
        }
        // With `poll_event_ref` and action 2, stop after one event: the next chunk then
        // arrives (and `shrink_buffers` runs) while an event's bytes are still lent out.
        h.poll_all(if h.use_ref && c >> 5 == 2 { 1 } else { usize::MAX });
        if c >> 5 == 2 {
            h.conn.shrink_buffers();
        }
        h.drain(c >> 5 == 1);
    }
    h.conn.receive(wire);
    h.poll_all(usize::MAX);
    if cfg1 & 8 != 0 {
        let before = h.conn.state();
        h.conn.receive_eof();
        assert!(h.conn.should_close_transport());
        match h.conn.poll_event() {
            Err(Error::UnexpectedEof) => assert_ne!(before, State::Closed),
            Ok(None) => assert_eq!(before, State::Closed),
            other => panic!("after EOF: {other:?}"),
        }
        assert_eq!(h.conn.state(), State::Closed);
    }
    h.drain(false);
    // Whatever was sent arrived, unless the peer saw a close first or we failed.
    if !h.peer.closed && !h.closed_by_error {
        assert!(
            h.peer.expected.is_empty(),
            "{} messages lost",
            h.peer.expected.len()
        );
    }
}
