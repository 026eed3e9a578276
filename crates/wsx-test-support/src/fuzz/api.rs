//! One or two `Connection`s driven through every public entry point, not only by handing
//! bytes in: the receive buffer is written through each of `ReadBuffer`'s methods
//! (`put_slice`, `chunk_mut` + `advance_mut`, `reserve`, `extend_from_slice`), in between
//! sends of every kind, pings, closes, timer ticks on a fake clock, EOF, buffer shrinking
//! and partial writes of the output. With two connections (a client and a server), what
//! one writes can be piped into the other, which then checks that the messages sent
//! arrive intact and in order.
//!
//! Input layout: `[cfg0, cfg1, cfg2, op..]`.
//! - cfg0 bit 0: connection A is a client (else a server); bit 1: permessage-deflate;
//!   bit 2: `server_no_context_takeover`; bit 3: `client_no_context_takeover`; bit 4: small
//!   windows (server 10, client 9, else 15); bit 5: A's `auto_pong` off; bit 6: A's
//!   `fragment_size = 7`; bit 7: a pair: connection B, of the other role, with the same
//!   deflate parameters.
//! - cfg1 bits 0-2: A's limits, bits 3-5: B's, as `(max_frame_size, max_message_size)`
//!   from `LIMITS`; bits 6-7: compression settings (0 the default `DeflateConfig`;
//!   1 threshold 0; 2 threshold 0, level 9, 9-bit window, memLevel 1; 3 level 0).
//! - cfg2 bit 0: `idle_timeout` 60 s; bit 1: no keepalive; bit 2: B's `auto_pong` off;
//!   bit 3: B's `fragment_size = 7`; bit 4: A keeps the last messages it received alive
//!   (so the receive buffer is shared while more is written into it), bit 5: B does;
//!   bit 6: short timers (ping 1 s, pong 1 s, close 1 s).
//! - then operations until the input ends, each an op byte `o` and its arguments (bytes
//!   past the end read as 0). `o & 0x80` picks B (in a pair; A otherwise); `(o & 0x7f) %
//!   22` is the operation, `n`, `m`, `b`... being the next bytes:
//!   0 write `n` input bytes (if `m & 16`: `n * 256` bytes of `FILL_BYTES[m >> 5]`) to the
//!   receive buffer, by `m & 3`: `receive`, `put_slice`, `extend_from_slice` or
//!   `chunk_mut` + `advance_mut` loops; polled after if `m & 4` (by reference if `m & 8`);
//!   1 `n` input bytes copied into `chunk_mut()`, then `advance_mut(m % (copied + 1))`;
//!   2 `reserve` of `b` as 0-63 B, 64 B-4 KiB, 1-63 KiB or 64 KiB (`b >> 6`);
//!   3 a frame header `[b0, b1, key]` (`b0`: FIN, RSV1-3, opcode as on the wire;
//!   `b1 & 31`: length from `FRAME_LENS`, `& 32` written through `chunk_mut`, `& 64`
//!   non-minimal length encoding, `& 128` wrong masking for the role) followed, for
//!   lengths up to 255, by that many input bytes as the unmasked payload;
//!   4 a driver loop: `(b0 & 15) + 1` reads of `FILL_SIZES[b1 & 7]` bytes of
//!   `FILL_BYTES[(b1 >> 3) & 7]`, written as op 0 does by `(b0 >> 4) & 3` (3: the tokio
//!   layer's way, `reserve(64 KiB)` when under 16 KiB are spare, then a short read into
//!   the spare capacity), each followed by polling (by reference if `b0 & 64`);
//!   5 poll `b & 15` events (0: until `None` or `Err`), by reference if `b & 16`;
//!   6 `send` of a text or binary message (`b0 & 1`) of `SEND_SIZES[(b0 >> 1) & 31]` bytes,
//!   compressible or not (`b1 & 1`);
//!   7 `send_text` of `n` input bytes (lossy UTF-8); 8 `send_binary` of `n` input bytes;
//!   9 `send_prepared`: of the last `PreparedMessage` (shared by A and B) if `b & 1`
//!   and there is one, else of a new one, text or binary (`b & 2`) from `n` input bytes;
//!   10 `ping`, 11 `pong` of `n % 131` input bytes; 12 `ping_timed(now)`;
//!   13 `pong_rtt` of `n` input bytes, prefixed with the timed-ping tag if `m & 1`;
//!   14 `close` with a code from a table, some unsendable, and a reason of up to 155
//!   bytes (`b`); 15 the clock moves by `b & 63` times 1 ms, 250 ms, 5 s or 7 h
//!   (`b >> 6`), then `handle_timeout(now)`; 16 `poll_timeout`, the clock moves to it
//!   (if later), then `handle_timeout(now)`; 17 `receive_eof`; 18 `shrink_buffers`;
//!   19 `take_output`, piped to the other connection if `b & 1` (else dropped);
//!   20 `io_slices` into `(b0 & 7) + 1` slices, a write of at most `b1 * 64 + b2` bytes
//!   of them, `advance_output`, the bytes piped; 21 pump: `(b & 7) + 1` rounds of each
//!   connection's whole output piped to the other in reads of at most 64 KiB, each
//!   polled (by reference if `b & 8`).
//!
//! Data sends are capped (32 messages, 128 KiB in all: compressing dominates the run time
//! otherwise), and so are the bytes the driver loop and bulk writes write (4 MiB).
//!
//! Invariants (a panic is a find):
//! - nothing panics, and `poll_event` settles;
//! - every text message (`Event::Message(Message::Text)` or `EventRef::Text`) is valid
//!   UTF-8, checked with `std::str::from_utf8` on its bytes; messages kept alive (cfg2
//!   bits 4-5) still hold the bytes they had when they arrived, whatever is written
//!   into the receive buffer later; no message exceeds `max_message_size`, no control
//!   payload 125 bytes; a peer's close frame has a sendable code and a UTF-8 reason of at
//!   most 123 bytes;
//! - after an `Err` from `poll_event`, `poll_event_ref` or `handle_timeout`, the state is
//!   `Closed`, `should_close_transport()` holds and polling returns `Ok(None)`; no event
//!   comes once the state is `Closed`;
//! - application calls succeed or fail exactly as documented (`Err(Closed)` once closing,
//!   `ControlPayloadTooLong`, unsendable close codes); `pong_rtt` never reports more than
//!   the time since the clock started;
//! - `pending_output()` equals the sum of the `io_slices` lengths (when fewer slices than
//!   offered come back; at most that otherwise) and the length `take_output()` returns;
//! - the receive buffer only grows by what is appended (`len()` before plus what was
//!   written), and memory stays bounded: whenever polling has returned `Ok(None)` after
//!   a driver that wrote at most one read (64 KiB, plus at most one `reserve` of at most
//!   64 KiB) since the previous such point, the buffer's capacity is at most
//!   `4 * (max(max_frame_size, 125) + 14 + 64 KiB)` (it grows geometrically:
//!   `Config`'s documented "max_frame_size + one read" does not hold, see
//!   `Side::read_bound`); `reserve(n)` leaves at least `n` bytes spare; once the state is
//!   `Closed`, what is written is discarded: `len() == 0`, the capacity stays at most 64
//!   bytes (`chunk_mut`'s own reservation), and `shrink_buffers` brings it to 0;
//! - loopback: while everything a connection received came from the other one, in order
//!   and nothing dropped (no injected bytes, no dropped output, no message above its
//!   limits, not closed by its own timers or EOF), it never fails, receives exactly the
//!   data messages the other sent, in order, none after the close frame, and, after a
//!   final pump at the end of the input, none is missing.

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};
use wsx_proto::{
    CloseCode, CloseFrame, Config, Connection, DeflateConfig, DeflateParams, Error, Event, EventRef, Message,
    PreparedMessage, Role, State,
};

/// The largest single read of the driver loop and the pumps, and of a `reserve`: the
/// tokio layer's read size.
const READ_MAX: usize = 64 << 10;
/// The longest frame header.
const MAX_HEADER: usize = 14;
/// `(max_frame_size, max_message_size)`, by cfg1.
const LIMITS: [(usize, usize); 8] = [
    (1 << 20, 1 << 20),
    (125, 125),
    (1 << 10, 4 << 10),
    (0, 300),
    (64 << 10, 64 << 10),
    (4 << 10, 1 << 10),
    (300, 64 << 10),
    (1 << 20, 16 << 10),
];
/// The payload lengths a frame header (op 3) announces: around every encoding boundary
/// and every limit in `LIMITS`.
#[rustfmt::skip]
const FRAME_LENS: [u64; 32] = [
    0, 1, 2, 3, 5, 7, 10, 16, 31, 64, 100, 123, 124, 125, 126, 127, 128, 200, 255, 256, 300,
    1000, 1024, 1025, 4096, 65535, 65536, 65537, (1 << 20) - 6, 1 << 20, (1 << 20) + 1, 1 << 62,
];
/// The read sizes of the driver loop (op 4).
const FILL_SIZES: [usize; 8] = [1, 13, 125, 1000, 4096, 16 << 10, READ_MAX - 1, READ_MAX];
/// The bytes the driver loop and bulk writes repeat: ASCII (valid text), a NUL,
/// continuation and lead bytes, 0xff, a space, a pong's first byte, DEL.
const FILL_BYTES: [u8; 8] = [0x61, 0x00, 0x80, 0xc3, 0xff, 0x20, 0x8a, 0x7f];
/// The sizes of the messages op 6 sends, around the limits and `output`'s 2 KiB sharing
/// threshold.
#[rustfmt::skip]
const SEND_SIZES: [usize; 32] = [
    0, 1, 2, 7, 13, 63, 64, 100, 125, 126, 127, 200, 300, 301, 1000, 1024, 1025, 2047, 2048, 4096, 4097,
    10_000, 16 << 10, (16 << 10) + 1, 65535, 65536, 65537, 70_000, 120_000, 300, 7, 0,
];
/// Caps on data sends and on the bytes the driver loop and bulk writes put in, per input.
const MAX_SENDS: usize = 32;
const SEND_BUDGET: usize = 128 << 10;
const FILL_BUDGET: usize = 4 << 20;
/// How many received messages a connection keeps alive (cfg2 bits 4-5), and the largest
/// one it keeps.
const HELD: usize = 4;
const HELD_MAX: usize = 64 << 10;
/// What `ping_timed` puts before its timestamp (`wsx_proto::connection::TIMED_PING`).
const TIMED_PING: &[u8] = b"wsx-keepalive";
const OPS: u8 = 22;

/// The input, read a byte at a time; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// One event, from `poll_event` or `poll_event_ref`, with what it carried copied out.
enum Got {
    Data {
        text: bool,
        bytes: Bytes,
        /// The event itself, from `poll_event`: may be kept alive.
        owned: Option<Message>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(CloseCode, Vec<u8>)>),
}

impl Got {
    fn from_owned(ev: Event) -> Got {
        match ev {
            Event::Message(m) => Got::Data {
                text: m.is_text(),
                // The bytes themselves, not through the `str` a text message derefs to.
                bytes: m.clone().into_bytes(),
                owned: Some(m),
            },
            Event::Ping(p) => Got::Ping(p.to_vec()),
            Event::Pong(p) => Got::Pong(p.to_vec()),
            Event::Close(f) => Got::Close(f.map(|f| (f.code, f.reason.into_bytes().to_vec()))),
        }
    }

    fn from_ref(ev: EventRef<'_>) -> Got {
        match ev {
            EventRef::Text(t) => Got::Data {
                text: true,
                bytes: Bytes::copy_from_slice(t.as_bytes()),
                owned: None,
            },
            EventRef::Binary(b) => Got::Data {
                text: false,
                bytes: Bytes::copy_from_slice(b),
                owned: None,
            },
            EventRef::Ping(p) => Got::Ping(p.to_vec()),
            EventRef::Pong(p) => Got::Pong(p.to_vec()),
            EventRef::Close(f) => Got::Close(f.map(|f| (f.code, f.reason.clone().into_bytes().to_vec()))),
        }
    }
}

struct Side {
    conn: Connection,
    name: &'static str,
    max_frame: usize,
    max_message: usize,
    fragment: Option<usize>,
    /// What the receive buffer's capacity may reach (see the module doc).
    read_bound: usize,
    /// Bytes written and `reserve` calls since polling last returned `Ok(None)` or `Err`.
    unpolled: usize,
    reserves: usize,
    /// The last quiescent capacity was within `read_bound` and the driver kept to one
    /// read since: the bound must hold at the next quiescent point.
    disciplined: bool,
    hold: bool,
    /// Received messages kept alive, with a copy of their bytes at arrival.
    held: VecDeque<(Message, Vec<u8>)>,
    /// The data messages the other connection sent that are still to arrive here, while
    /// the path from it is clean; `None` once it is not (or without a pair).
    expected: Option<VecDeque<Message>>,
    /// The other connection's close frame arrived on a clean path.
    saw_close: bool,
}

impl Side {
    fn new(conn: Connection, name: &'static str, config: &Config, hold: bool, paired: bool) -> Side {
        Side {
            conn,
            name,
            max_frame: config.max_frame_size,
            max_message: config.max_message_size,
            fragment: config.fragment_size,
            // Not `Config`'s "max_frame_size + one read": the buffer grows geometrically
            // (`grow_for` doubles, then `Vec` doubles the whole allocation, bytes already
            // consumed included), so it can end up several times what it holds. Seen:
            // 1.83 MiB for 1 MiB frames (seed `client-1mib-frame-after-26k-read`), 192 KiB
            // for 300-byte frames read 64 KiB at a time. Linear growth still fails this.
            read_bound: 4 * (config.max_frame_size.max(125) + MAX_HEADER + READ_MAX),
            unpolled: 0,
            reserves: 0,
            disciplined: true,
            hold,
            held: VecDeque::new(),
            expected: paired.then(VecDeque::new),
            saw_close: false,
        }
    }

    fn note_write(&mut self, n: usize) {
        self.unpolled = self.unpolled.saturating_add(n);
        if self.unpolled > READ_MAX {
            self.disciplined = false;
        }
    }

    fn note_reserve(&mut self) {
        self.reserves += 1;
        if self.reserves > 1 {
            self.disciplined = false;
        }
    }

    /// Polling returned `Ok(None)` or `Err`: at most one partial frame is buffered.
    fn quiescent(&mut self) {
        let cap = self.conn.read_buffer().capacity();
        if self.disciplined {
            assert!(
                cap <= self.read_bound,
                "{}: receive buffer capacity {cap} over {} (max_frame_size {})",
                self.name,
                self.read_bound,
                self.max_frame
            );
        } else if cap <= self.read_bound {
            self.disciplined = true;
        }
        self.unpolled = 0;
        self.reserves = 0;
    }

    fn check_held(msg: &Message, copy: &[u8]) {
        let now = msg.clone().into_bytes();
        assert_eq!(&now[..], copy, "a message kept alive changed");
        if msg.is_text() {
            assert!(
                std::str::from_utf8(&now).is_ok(),
                "a text message kept alive is not UTF-8"
            );
        }
    }

    fn hold(&mut self, msg: Message, bytes: &Bytes) {
        if !self.hold || bytes.len() > HELD_MAX {
            return;
        }
        self.held.push_back((msg, bytes.to_vec()));
        if self.held.len() > HELD {
            let (msg, copy) = self.held.pop_front().expect("just pushed");
            Side::check_held(&msg, &copy);
        }
    }

    /// The path into this connection is no longer clean.
    fn dirty(&mut self) {
        self.expected = None;
    }
}

/// How bytes get into a receive buffer.
#[derive(Clone, Copy)]
enum Write {
    Receive,
    PutSlice,
    Extend,
    /// `chunk_mut` + `advance_mut` until all is in.
    Chunks,
    /// The tokio layer's read: `reserve(64 KiB)` when under 16 KiB are spare, then one
    /// short read into the spare capacity (the rest is lost, as a socket would keep it).
    Driver,
}

impl Write {
    fn from(m: u8) -> Write {
        [Write::Receive, Write::PutSlice, Write::Extend, Write::Chunks][(m & 3) as usize]
    }
}

/// Copies as much of `data` as fits into `chunk`; returns how much.
fn copy_into(chunk: &mut UninitSlice, data: &[u8]) -> usize {
    let k = data.len().min(chunk.len());
    chunk[..k].copy_from_slice(&data[..k]);
    k
}

struct Harness {
    sides: Vec<Side>,
    start: Instant,
    clock: Duration,
    sends: usize,
    send_bytes: usize,
    fill_bytes: usize,
    prepared: Option<PreparedMessage>,
}

impl Harness {
    fn now(&self) -> Instant {
        self.start + self.clock
    }

    /// Writes `data` into side `i`'s receive buffer; returns how much went in.
    fn write(&mut self, i: usize, how: Write, data: &[u8]) -> usize {
        let s = &mut self.sides[i];
        let closed = s.conn.state() == State::Closed;
        let mut rb = s.conn.read_buffer();
        let before = rb.len();
        let mut reserved = false;
        let written = match how {
            Write::Receive => {
                s.conn.receive(data);
                rb = s.conn.read_buffer();
                data.len()
            }
            Write::PutSlice => {
                rb.put_slice(data);
                data.len()
            }
            Write::Extend => {
                rb.extend_from_slice(data);
                data.len()
            }
            Write::Chunks => {
                let mut rest = data;
                while !rest.is_empty() {
                    let k = copy_into(rb.chunk_mut(), rest);
                    // SAFETY: `advance_mut(k)` requires the first `k` bytes of
                    // `chunk_mut()` to be initialized: `copy_into` just wrote them, into
                    // the slice the last `chunk_mut()` returned, with no call in between
                    // that could move or grow the buffer.
                    unsafe { rb.advance_mut(k) };
                    rest = &rest[k..];
                }
                data.len()
            }
            Write::Driver => {
                if rb.spare_capacity() < READ_MAX / 4 {
                    rb.reserve(READ_MAX);
                    reserved = true;
                }
                let k = copy_into(rb.chunk_mut(), data);
                // SAFETY: as in `Write::Chunks`: `copy_into` just wrote the first `k` bytes
                // of the slice `chunk_mut()` returned, and nothing touched the buffer since.
                unsafe { rb.advance_mut(k) };
                k
            }
        };
        let after = rb.len();
        if closed {
            assert_eq!(after, 0, "{}: bytes kept after the close", s.name);
        } else {
            assert_eq!(
                after,
                before + written,
                "{}: the receive buffer is not append-only",
                s.name
            );
        }
        if reserved {
            s.note_reserve();
        }
        s.note_write(written);
        written
    }

    /// Bytes from the fuzz input, not from the other connection.
    fn inject(&mut self, i: usize, how: Write, data: &[u8]) -> usize {
        if !data.is_empty() {
            self.sides[i].dirty();
        }
        self.write(i, how, data)
    }

    /// Polls side `i` for at most `max` events (0: no limit) until `None` or `Err`.
    fn poll(&mut self, i: usize, max: usize, by_ref: bool) {
        let mut n = 0;
        loop {
            if max != 0 && n == max {
                return;
            }
            n += 1;
            assert!(n < 1_000_000, "poll_event does not settle");
            let s = &mut self.sides[i];
            let was_open = s.conn.state() != State::Closed;
            let polled = if by_ref {
                s.conn.poll_event_ref().map(|ev| ev.map(Got::from_ref))
            } else {
                s.conn.poll_event().map(|ev| ev.map(Got::from_owned))
            };
            match polled {
                Ok(None) => break,
                Ok(Some(got)) => {
                    assert!(was_open, "{}: an event after the close", s.name);
                    self.check_event(i, got);
                }
                Err(e) => {
                    assert!(
                        self.sides[i].expected.is_none(),
                        "{}: fails on what the other connection wrote: {e:?}",
                        self.sides[i].name
                    );
                    self.check_failed(i, &e);
                    break;
                }
            }
        }
        self.sides[i].quiescent();
    }

    fn check_event(&mut self, i: usize, got: Got) {
        let now = self.now();
        let clock = self.clock;
        let s = &mut self.sides[i];
        match got {
            Got::Data { text, bytes, owned } => {
                assert!(
                    bytes.len() <= s.max_message,
                    "{}: a message of {} bytes",
                    s.name,
                    bytes.len()
                );
                if text {
                    assert!(
                        std::str::from_utf8(&bytes).is_ok(),
                        "{}: a text message is not UTF-8",
                        s.name
                    );
                }
                if let Some(expected) = &mut s.expected {
                    let want = expected
                        .pop_front()
                        .unwrap_or_else(|| panic!("{}: a message nobody sent", s.name));
                    assert_eq!(want.is_text(), text, "{}: text and binary mixed up", s.name);
                    assert!(
                        want.as_bytes() == &bytes[..],
                        "{}: a message arrived changed",
                        s.name
                    );
                }
                if let Some(m) = owned {
                    s.hold(m, &bytes);
                }
            }
            Got::Ping(p) => assert!(p.len() <= 125),
            Got::Pong(p) => {
                assert!(p.len() <= 125);
                if let Some(rtt) = s.conn.pong_rtt(&p, now) {
                    assert!(
                        rtt <= clock,
                        "{}: round trip {rtt:?} longer than the clock {clock:?}",
                        s.name
                    );
                }
            }
            Got::Close(f) => {
                assert_eq!(s.conn.state(), State::Closed, "{}", s.name);
                if s.conn.role() == Role::Server {
                    assert!(s.conn.should_close_transport());
                }
                if let Some((code, reason)) = f {
                    assert!(code.is_sendable(), "{}: close code {code:?}", s.name);
                    assert!(reason.len() <= 123);
                    assert!(
                        std::str::from_utf8(&reason).is_ok(),
                        "{}: close reason is not UTF-8",
                        s.name
                    );
                }
                if let Some(expected) = &s.expected {
                    assert!(
                        expected.is_empty(),
                        "{}: the close frame overtook {} messages",
                        s.name,
                        expected.len()
                    );
                    s.saw_close = true;
                }
            }
        }
    }

    fn check_failed(&mut self, i: usize, e: &Error) {
        let s = &mut self.sides[i];
        assert_eq!(s.conn.state(), State::Closed, "{}: after {e:?}", s.name);
        assert!(s.conn.should_close_transport(), "{}: after {e:?}", s.name);
        assert_eq!(s.conn.poll_event(), Ok(None), "{}: after {e:?}", s.name);
        assert_eq!(s.conn.poll_event_ref(), Ok(None), "{}: after {e:?}", s.name);
        assert_eq!(s.conn.state(), State::Closed);
    }

    /// After every operation, on both connections.
    fn check_invariants(&mut self) {
        for s in &mut self.sides {
            let pending = s.conn.pending_output();
            let mut slices = [IoSlice::new(&[]); 4];
            let n = s.conn.io_slices(&mut slices);
            let sum: usize = slices[..n].iter().map(|s| s.len()).sum();
            if n < slices.len() {
                assert_eq!(sum, pending, "{}: io_slices and pending_output disagree", s.name);
            } else {
                assert!(
                    sum <= pending,
                    "{}: io_slices hold more than pending_output",
                    s.name
                );
            }
            assert_eq!(n == 0, pending == 0, "{}", s.name);
            if s.conn.state() == State::Closed {
                let rb = s.conn.read_buffer();
                assert_eq!(rb.len(), 0, "{}: input kept after the close", s.name);
                assert!(
                    rb.capacity() <= 64,
                    "{}: {} bytes of receive buffer after the close",
                    s.name,
                    rb.capacity()
                );
                if !s.saw_close {
                    // Closed by its own doing (EOF, timers): the other's bytes are dropped.
                    s.dirty();
                }
            }
        }
    }

    fn peer(&self, i: usize) -> Option<usize> {
        (self.sides.len() == 2).then_some(1 - i)
    }

    /// Side `i` sent `msg` (as a prepared message if `prepared`): the other side expects it
    /// if it can receive it within its limits.
    fn expect(&mut self, i: usize, msg: Message, prepared: bool) {
        let Some(j) = self.peer(i) else { return };
        let len = msg.len();
        let server = self.sides[i].conn.role() == Role::Server;
        // Frames are never longer than the message (compressed only when smaller), and no
        // longer than `fragment_size` unless a server sends a prepared frame as is.
        let frame = match self.sides[i].fragment.filter(|&n| n > 0) {
            Some(n) if !(prepared && server) => len.min(n),
            _ => len,
        };
        let peer = &mut self.sides[j];
        if frame > peer.max_frame || len > peer.max_message {
            peer.dirty();
        } else if let Some(expected) = &mut peer.expected {
            expected.push_back(msg);
        }
    }

    /// Whether another data message of `len` bytes may be sent (see `MAX_SENDS`).
    fn may_send(&mut self, len: usize) -> bool {
        if self.sends >= MAX_SENDS || self.send_bytes + len > SEND_BUDGET {
            return false;
        }
        self.sends += 1;
        self.send_bytes += len;
        true
    }

    fn check_send(&mut self, i: usize, r: Result<(), Error>, was_open: bool, msg: Message, prepared: bool) {
        if was_open {
            r.unwrap_or_else(|e| {
                panic!(
                    "{}: a send on an open connection failed: {e:?}",
                    self.sides[i].name
                )
            });
            self.expect(i, msg, prepared);
        } else {
            assert_eq!(r, Err(Error::Closed), "{}", self.sides[i].name);
        }
    }

    fn check_control(&self, i: usize, r: Result<(), Error>, was_open: bool, len: usize) {
        let want = match (was_open, len <= 125) {
            (true, true) => Ok(()),
            (true, false) => Err(Error::ControlPayloadTooLong(len)),
            (false, _) => Err(Error::Closed),
        };
        assert_eq!(r, want, "{}", self.sides[i].name);
    }

    fn tick(&mut self, i: usize) {
        let now = self.now();
        let s = &mut self.sides[i];
        let was_open = s.conn.state() == State::Open;
        if let Err(e) = s.conn.handle_timeout(now) {
            assert!(matches!(e, Error::KeepaliveTimeout(_)), "{}: {e:?}", s.name);
            assert!(was_open, "{}: {e:?} when not open", s.name);
            // Its own failure, not the other's doing: what the other sends is lost.
            s.dirty();
            self.check_failed(i, &e);
        }
        if let Some(t) = self.sides[i].conn.poll_timeout() {
            assert!(t >= self.start, "a deadline before the clock started");
        }
    }

    /// Takes side `i`'s whole output, checking its length.
    fn take(&mut self, i: usize) -> bytes::BytesMut {
        let s = &mut self.sides[i];
        let pending = s.conn.pending_output();
        let out = s.conn.take_output();
        assert_eq!(
            out.len(),
            pending,
            "{}: take_output and pending_output disagree",
            s.name
        );
        assert_eq!(s.conn.pending_output(), 0);
        out
    }

    /// Side `i`'s output goes to the other connection, in reads of at most 64 KiB, each
    /// polled (and the other connection is polled even if there is none, for what it
    /// holds already).
    fn pump(&mut self, i: usize, by_ref: bool) {
        let out = self.take(i);
        let Some(j) = self.peer(i) else { return };
        for (n, piece) in out.chunks(READ_MAX).enumerate() {
            let how = [Write::Receive, Write::Chunks, Write::PutSlice][n % 3];
            self.write(j, how, piece);
            self.poll(j, 0, by_ref);
        }
        if out.is_empty() {
            self.poll(j, 0, by_ref);
        }
    }

    fn op(&mut self, input: &mut Input<'_>) {
        let o = input.u8();
        let i = if o & 0x80 != 0 && self.sides.len() == 2 {
            1
        } else {
            0
        };
        match (o & 0x7f) % OPS {
            0 => {
                let n = input.u8() as usize;
                let m = input.u8();
                if m & 16 != 0 {
                    let data = vec![FILL_BYTES[(m >> 5) as usize]; n * 256];
                    if self.fill_bytes + data.len() <= FILL_BUDGET {
                        self.fill_bytes += data.len();
                        self.inject(i, Write::from(m), &data);
                    }
                } else {
                    let data = input.bytes(n);
                    self.inject(i, Write::from(m), data);
                }
                if m & 4 != 0 {
                    self.poll(i, 0, m & 8 != 0);
                }
            }
            1 => {
                let n = input.u8() as usize;
                let data = input.bytes(n);
                let m = input.u8() as usize;
                let s = &mut self.sides[i];
                let closed = s.conn.state() == State::Closed;
                let mut rb = s.conn.read_buffer();
                let before = rb.len();
                let k = copy_into(rb.chunk_mut(), data);
                let adv = m % (k + 1);
                // SAFETY: `advance_mut(adv)` requires the first `adv` bytes of `chunk_mut()`
                // to be initialized: `copy_into` wrote the first `k >= adv` of them, and
                // nothing (no `chunk_mut`, which may reallocate) touched the buffer since.
                unsafe { rb.advance_mut(adv) };
                let after = rb.len();
                assert_eq!(after, if closed { 0 } else { before + adv }, "{}", s.name);
                if adv > 0 {
                    s.dirty();
                }
                s.note_write(adv);
            }
            2 => {
                let b = input.u8() as usize;
                let amount = match b >> 6 {
                    0 => b & 63,
                    1 => (b & 63) << 6,
                    2 => (b & 63) << 10,
                    _ => READ_MAX,
                };
                let s = &mut self.sides[i];
                let mut rb = s.conn.read_buffer();
                rb.reserve(amount);
                if s.conn.state() != State::Closed {
                    assert!(
                        s.conn.read_buffer().spare_capacity() >= amount,
                        "{}: reserve",
                        s.name
                    );
                }
                s.note_reserve();
            }
            3 => {
                let (b0, b1, key) = (input.u8(), input.u8(), input.u8());
                let len = FRAME_LENS[(b1 & 31) as usize];
                let is_server = self.sides[i].conn.role() == Role::Server;
                let masked = is_server != (b1 & 128 != 0);
                let mut frame = vec![b0];
                let m = if masked { 0x80 } else { 0 };
                if len < 126 && b1 & 64 == 0 {
                    frame.push(m | len as u8);
                } else if len < 1 << 16 && b1 & 64 == 0 {
                    frame.push(m | 126);
                    frame.extend_from_slice(&(len as u16).to_be_bytes());
                } else {
                    frame.push(m | 127);
                    frame.extend_from_slice(&len.to_be_bytes());
                }
                let key = if key == 0 {
                    [0; 4]
                } else {
                    [key, key ^ 0x5a, key.wrapping_add(0x33), !key]
                };
                if masked {
                    frame.extend_from_slice(&key);
                }
                if len <= 255 {
                    let payload = input.bytes(len as usize);
                    let start = frame.len();
                    frame.extend_from_slice(payload);
                    if masked {
                        for (n, b) in frame[start..].iter_mut().enumerate() {
                            *b ^= key[n % 4];
                        }
                    }
                }
                let how = if b1 & 32 != 0 {
                    Write::Chunks
                } else {
                    Write::Receive
                };
                self.inject(i, how, &frame);
            }
            4 => {
                let (b0, b1) = (input.u8(), input.u8());
                let reads = (b0 & 15) as usize + 1;
                let how = match (b0 >> 4) & 3 {
                    3 => Write::Driver,
                    m => Write::from(m),
                };
                let by_ref = b0 & 64 != 0;
                let data = vec![FILL_BYTES[((b1 >> 3) & 7) as usize]; FILL_SIZES[(b1 & 7) as usize]];
                for _ in 0..reads {
                    if self.fill_bytes + data.len() > FILL_BUDGET {
                        break;
                    }
                    self.fill_bytes += data.len();
                    self.inject(i, how, &data);
                    self.poll(i, 0, by_ref);
                }
            }
            5 => {
                let b = input.u8();
                self.poll(i, (b & 15) as usize, b & 16 != 0);
            }
            6 => {
                let (b0, b1) = (input.u8(), input.u8());
                let len = SEND_SIZES[((b0 >> 1) & 31) as usize];
                if !self.may_send(len) {
                    return;
                }
                let msg = if b0 & 1 != 0 {
                    Message::text(text_of(len, b1 & 1 != 0))
                } else {
                    Message::binary(binary_of(len, b1 & 1 != 0, b1))
                };
                let was_open = self.sides[i].conn.state() == State::Open;
                let r = self.sides[i].conn.send(msg.clone());
                self.check_send(i, r, was_open, msg, false);
            }
            7 | 8 => {
                let n = input.u8() as usize;
                let data = input.bytes(n);
                if !self.may_send(data.len() * 3) {
                    return;
                }
                let was_open = self.sides[i].conn.state() == State::Open;
                if (o & 0x7f) % OPS == 7 {
                    let text = String::from_utf8_lossy(data);
                    let r = self.sides[i].conn.send_text(&text);
                    self.check_send(i, r, was_open, Message::text(text.as_ref()), false);
                } else {
                    let r = self.sides[i].conn.send_binary(data);
                    self.check_send(i, r, was_open, Message::binary(data.to_vec()), false);
                }
            }
            9 => {
                let b = input.u8();
                let prepared = match &self.prepared {
                    Some(p) if b & 1 != 0 => p.clone(),
                    _ => {
                        let n = input.u8() as usize;
                        let data = input.bytes(n);
                        let msg = if b & 2 != 0 {
                            Message::text(String::from_utf8_lossy(data).into_owned())
                        } else {
                            Message::binary(data.to_vec())
                        };
                        let p = PreparedMessage::new(msg);
                        self.prepared = Some(p.clone());
                        p
                    }
                };
                if !self.may_send(prepared.message().len()) {
                    return;
                }
                let was_open = self.sides[i].conn.state() == State::Open;
                let r = self.sides[i].conn.send_prepared(&prepared);
                self.check_send(i, r, was_open, prepared.message().clone(), true);
            }
            10 | 11 => {
                let n = input.u8() as usize % 131;
                let data = input.bytes(n);
                let s = &mut self.sides[i];
                let was_open = s.conn.state() == State::Open;
                let r = if (o & 0x7f) % OPS == 10 {
                    s.conn.ping(data)
                } else {
                    s.conn.pong(data)
                };
                self.check_control(i, r, was_open, data.len());
            }
            12 => {
                let now = self.now();
                let s = &mut self.sides[i];
                let was_open = s.conn.state() == State::Open;
                let r = s.conn.ping_timed(now);
                assert_eq!(
                    r,
                    if was_open { Ok(()) } else { Err(Error::Closed) },
                    "{}",
                    s.name
                );
            }
            13 => {
                let n = input.u8() as usize;
                let m = input.u8();
                let mut payload = Vec::new();
                if m & 1 != 0 {
                    payload.extend_from_slice(TIMED_PING);
                }
                payload.extend_from_slice(input.bytes(n));
                if let Some(rtt) = self.sides[i].conn.pong_rtt(&payload, self.now()) {
                    assert!(rtt <= self.clock, "round trip {rtt:?} longer than the clock");
                }
            }
            14 => {
                let b = input.u8();
                const CODES: [Option<u16>; 8] = [
                    None,
                    Some(1000),
                    Some(1001),
                    Some(1005),
                    Some(1011),
                    Some(3000),
                    Some(4999),
                    Some(2999),
                ];
                let frame = CODES[(b & 7) as usize].map(|code| {
                    // Multi-byte UTF-8; over 123 bytes (unsendable) from 25 steps on.
                    const REASON: &str = "ünïcödé reason ünïcödé reason ünïcödé reason ünïcödé reason \
                        ünïcödé reason ünïcödé reason ünïcödé reason ünïcödé reason ünïcödé reason";
                    let end = ((b >> 3) as usize * 5).min(REASON.len());
                    let end = (0..=end).rev().find(|&n| REASON.is_char_boundary(n)).unwrap_or(0);
                    CloseFrame::new(CloseCode(code), &REASON[..end])
                });
                let ok = frame
                    .as_ref()
                    .is_none_or(|f| f.code.is_sendable() && f.reason.len() <= 123);
                let s = &mut self.sides[i];
                let state = s.conn.state();
                let r = s.conn.close(frame);
                if state == State::Open && ok {
                    assert_eq!(r, Ok(()), "{}", s.name);
                    assert_eq!(s.conn.state(), State::Closing);
                } else if state == State::Open {
                    assert!(r.is_err(), "{}", s.name);
                    assert_eq!(s.conn.state(), State::Open);
                } else {
                    assert_eq!(r, Ok(()), "{}", s.name);
                    assert_eq!(s.conn.state(), state);
                }
            }
            15 => {
                let b = input.u8();
                let unit = [
                    Duration::from_millis(1),
                    Duration::from_millis(250),
                    Duration::from_secs(5),
                    Duration::from_secs(7 * 3600),
                ][(b >> 6) as usize];
                self.clock += unit * u32::from(b & 63);
                self.tick(i);
            }
            16 => {
                if let Some(t) = self.sides[i].conn.poll_timeout() {
                    let t = t.saturating_duration_since(self.start);
                    self.clock = self.clock.max(t);
                }
                self.tick(i);
            }
            17 => {
                let s = &mut self.sides[i];
                let before = s.conn.state();
                s.conn.receive_eof();
                assert!(s.conn.should_close_transport());
                assert_eq!(s.conn.state(), State::Closed);
                match s.conn.poll_event() {
                    Err(Error::UnexpectedEof) => assert_ne!(before, State::Closed),
                    Ok(None) => assert_eq!(before, State::Closed),
                    other => panic!("{}: after EOF: {other:?}", s.name),
                }
                assert_eq!(s.conn.poll_event(), Ok(None));
                s.quiescent();
            }
            18 => {
                let s = &mut self.sides[i];
                s.conn.shrink_buffers();
                if s.conn.state() == State::Closed {
                    assert_eq!(
                        s.conn.read_buffer().capacity(),
                        0,
                        "{}: shrink after close",
                        s.name
                    );
                }
            }
            19 => {
                let b = input.u8();
                let out = self.take(i);
                match self.peer(i) {
                    Some(j) if b & 1 != 0 => {
                        self.write(j, Write::from(b >> 1), &out);
                    }
                    Some(j) if !out.is_empty() => self.sides[j].dirty(),
                    _ => {}
                }
            }
            20 => {
                let (b0, b1, b2) = (input.u8(), input.u8(), input.u8());
                let budget = b1 as usize * 64 + b2 as usize;
                let s = &mut self.sides[i];
                let pending = s.conn.pending_output();
                let mut slices = [IoSlice::new(&[]); 8];
                let offered = &mut slices[..(b0 & 7) as usize + 1];
                let n = s.conn.io_slices(offered);
                let sum: usize = offered[..n].iter().map(|s| s.len()).sum();
                if n < offered.len() {
                    assert_eq!(sum, pending, "{}: io_slices and pending_output disagree", s.name);
                } else {
                    assert!(sum <= pending, "{}", s.name);
                }
                let mut written = Vec::with_capacity(budget.min(sum));
                for slice in &offered[..n] {
                    let take = slice.len().min(budget - written.len());
                    written.extend_from_slice(&slice[..take]);
                }
                s.conn.advance_output(written.len());
                assert_eq!(s.conn.pending_output(), pending - written.len(), "{}", s.name);
                if let Some(j) = self.peer(i) {
                    self.write(j, Write::from(b0 >> 3), &written);
                }
            }
            21 => {
                let b = input.u8();
                for _ in 0..(b & 7) + 1 {
                    self.pump(0, b & 8 != 0);
                    if self.sides.len() == 2 {
                        self.pump(1, b & 8 != 0);
                    }
                }
            }
            _ => unreachable!("OPS operations"),
        }
    }
}

/// `len` bytes of UTF-8 (multi-byte characters if `varied`, else ASCII), cut at a
/// character boundary and padded with ASCII.
fn text_of(len: usize, varied: bool) -> String {
    let unit = if varied {
        "wsx ünïcödé κόσμε 🦀 "
    } else {
        "the quick brown fox "
    };
    let mut s = unit.repeat(len / unit.len() + 1);
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    while s.len() < len {
        s.push('.');
    }
    s
}

/// `len` bytes: a repeated pattern, or a pseudo-random (incompressible) one.
fn binary_of(len: usize, random: bool, seed: u8) -> Bytes {
    if !random {
        return Bytes::from(
            (0..len)
                .map(|n| ((n % 7) as u8).wrapping_add(seed))
                .collect::<Vec<u8>>(),
        );
    }
    let mut x = u32::from(seed) | 0x9e37_0000;
    Bytes::from(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

/// Runs one input; panics if an invariant above does not hold.
pub fn run(data: &[u8]) {
    let [cfg0, cfg1, cfg2, ops @ ..] = data else {
        return;
    };
    let (cfg0, cfg1, cfg2) = (*cfg0, *cfg1, *cfg2);
    let paired = cfg0 & 128 != 0;
    let role_a = if cfg0 & 1 != 0 { Role::Client } else { Role::Server };
    let role_b = if role_a == Role::Client {
        Role::Server
    } else {
        Role::Client
    };
    let deflate = (cfg0 & 2 != 0).then(|| {
        let small = cfg0 & 16 != 0;
        DeflateParams {
            server_no_context_takeover: cfg0 & 4 != 0,
            client_no_context_takeover: cfg0 & 8 != 0,
            server_max_window_bits: if small { 10 } else { 15 },
            client_max_window_bits: if small { 9 } else { 15 },
        }
    });
    let mut d = DeflateConfig::default();
    match cfg1 >> 6 {
        1 => d.threshold = 0,
        2 => {
            d.threshold = 0;
            d.level = 9;
            d.compress_window_bits = 9;
            d.mem_level = 1;
        }
        3 => d.level = 0,
        _ => {}
    }
    let config = |limits: u8, auto_pong: bool, fragment: bool| {
        let mut c = Config::default();
        (c.max_frame_size, c.max_message_size) = LIMITS[(limits & 7) as usize];
        c.auto_pong = auto_pong;
        c.fragment_size = fragment.then_some(7);
        c.deflate = Some(d.clone());
        c.idle_timeout = (cfg2 & 1 != 0).then_some(Duration::from_secs(60));
        if cfg2 & 64 != 0 {
            c.ping_interval = Some(Duration::from_secs(1));
            c.pong_timeout = Duration::from_secs(1);
            c.close_timeout = Duration::from_secs(1);
        }
        if cfg2 & 2 != 0 {
            c.ping_interval = None;
        }
        c
    };
    let config_a = config(cfg1, cfg0 & 32 == 0, cfg0 & 64 != 0);
    let config_b = config(cfg1 >> 3, cfg2 & 4 == 0, cfg2 & 8 != 0);
    let mut keys = 0u32;
    let conn_a = Connection::new(role_a, config_a.clone())
        .with_deflate(deflate)
        .with_mask_source(move || {
            keys = keys.wrapping_mul(0x9e37_79b9).wrapping_add(0x7f4a_7c15);
            keys.to_le_bytes()
        });
    let mut sides = vec![Side::new(conn_a, "A", &config_a, cfg2 & 16 != 0, paired)];
    if paired {
        let conn_b = Connection::new(role_b, config_b.clone())
            .with_deflate(deflate)
            .with_mask_source(|| [0x12, 0x34, 0x56, 0x78]);
        sides.push(Side::new(conn_b, "B", &config_b, cfg2 & 32 != 0, paired));
    }
    let mut h = Harness {
        sides,
        start: Instant::now(),
        clock: Duration::ZERO,
        sends: 0,
        send_bytes: 0,
        fill_bytes: 0,
        prepared: None,
    };
    let mut input = Input(ops);
    while !input.0.is_empty() {
        h.op(&mut input);
        h.check_invariants();
    }
    // The end: whatever is in flight is delivered, and what was sent on a clean path
    // has all arrived.
    if paired {
        for _ in 0..4 {
            h.pump(0, false);
            h.pump(1, false);
            h.check_invariants();
        }
        for s in &h.sides {
            if let Some(expected) = &s.expected {
                assert!(
                    expected.is_empty(),
                    "{}: {} messages lost",
                    s.name,
                    expected.len()
                );
            }
        }
    }
    for s in &h.sides {
        for (msg, copy) in &s.held {
            Side::check_held(msg, copy);
        }
    }
}
