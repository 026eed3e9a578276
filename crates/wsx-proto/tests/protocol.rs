//! Scenario tests for RFC 6455, one per rule: each feeds hand-crafted frames to a connection
//! and checks the event or error it reports and the frames it sends back (parsed, not raw
//! bytes), in the style of python-websockets' `test_protocol.py`.

mod support;

use std::time::{Duration, Instant};
use support::*;
use wsx_proto::{
    CloseCode, CloseFrame, Config, Connection, DeflateParams, Error, Event, Message, OpCode, Role, State,
};

const ROLES: [Role; 2] = [Role::Server, Role::Client];

/// A plain connection of `role` (a client masks with [`MASK`]).
fn conn(role: Role) -> Connection {
    conn_with(role, plain_config())
}

fn conn_with(role: Role, config: Config) -> Connection {
    match role {
        Role::Server => server_with(config),
        Role::Client => client_with(config),
    }
}

/// Feeds `wire` and asserts that the connection yields only good events and then fails with
/// `error`, sending a close frame with `code`. Returns the events before the error.
#[track_caller]
fn expect_error(conn: &mut Connection, wire: &[u8], error: Error, code: u16) -> Vec<Event> {
    let mut got = feed(conn, wire);
    assert_eq!(got.pop(), Some(Err(error.clone())), "for {:?}", conn.role());
    assert_eq!(error.close_code(), Some(CloseCode(code)));
    assert_failed_with(conn, code);
    got.into_iter()
        .map(|r| r.expect("events before the error"))
        .collect()
}

/// Feeds `wire` one byte at a time; returns the index of the byte on which the connection
/// failed, the error, and the events it yielded before.
fn fail_point(conn: &mut Connection, wire: &[u8]) -> (usize, Error, Vec<Event>) {
    let mut events = Vec::new();
    for (i, b) in wire.iter().enumerate() {
        for r in feed(conn, std::slice::from_ref(b)) {
            match r {
                Ok(e) => events.push(e),
                Err(e) => return (i, e, events),
            }
        }
    }
    panic!("no error after {} bytes; events: {events:?}", wire.len());
}

fn text(s: &str) -> Event {
    Event::Message(Message::text(s))
}

// ---- §5.1 masking ------------------------------------------------------------------------------

#[test]
fn server_fails_on_an_unmasked_client_frame() {
    // §5.1: "The server MUST close the connection upon receiving a frame that is not masked.
    // In this case, a server MAY send a Close frame with a status code of 1002".
    let mut s = server();
    expect_error(
        &mut s,
        &server_frame(true, 0, op::TEXT, b"hi"),
        Error::UnmaskedFrameFromClient,
        1002,
    );
    // Control frames too, and the header alone is enough.
    let mut s = server();
    expect_error(
        &mut s,
        &raw_header(true, 0, op::PING, 5, None),
        Error::UnmaskedFrameFromClient,
        1002,
    );
}

#[test]
fn client_fails_on_a_masked_server_frame() {
    // §5.1: "A client MUST close a connection if it detects a masked frame. In this case, it
    // MAY use the status code 1002".
    let mut c = client();
    expect_error(
        &mut c,
        &client_frame(true, 0, op::BINARY, b"hi"),
        Error::MaskedFrameFromServer,
        1002,
    );
}

// ---- §5.2 base framing -------------------------------------------------------------------------

#[test]
fn rsv_bits_without_an_extension_fail_with_1002() {
    // §5.2: "MUST be 0 unless an extension is negotiated that defines meanings for non-zero
    // values. If a nonzero value is received and none of the negotiated extensions defines
    // the meaning of such a nonzero value, the receiving endpoint MUST _Fail the WebSocket
    // Connection_."
    for role in ROLES {
        for rsv in 1..8 {
            for opcode in [op::TEXT, op::BINARY, op::PING] {
                let mut c = conn(role);
                let wire = frame_to(role, true, rsv, opcode, b"x");
                expect_error(&mut c, &wire, Error::ReservedBits(rsv), 1002);
            }
        }
    }
}

/// A server with permessage-deflate as the handshake would enable it.
fn deflate_server() -> Connection {
    server_with(Config::default()).with_deflate(Some(DeflateParams::default()))
}

#[test]
fn rsv2_rsv3_and_rsv1_on_control_frames_fail_even_with_deflate() {
    // RFC 7692 defines RSV1 only, and only on the first frame of a data message (§6).
    for rsv in [0b010, 0b001, 0b110, 0b111] {
        let mut s = deflate_server();
        expect_error(
            &mut s,
            &client_frame(true, rsv, op::TEXT, b"x"),
            Error::ReservedBits(rsv),
            1002,
        );
    }
    for opcode in [op::PING, op::PONG, op::CLOSE] {
        let mut s = deflate_server();
        expect_error(
            &mut s,
            &client_frame(true, RSV1, opcode, b""),
            Error::ReservedBits(RSV1),
            1002,
        );
    }
}

#[test]
fn rsv1_on_a_continuation_frame_fails_with_deflate() {
    // RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control
    // frames and non-first fragments of a data message." The RFC 7692 §7.2.3.1 example
    // "Hello" fragmented, with RSV1 wrongly set on the second fragment as well.
    let mut s = deflate_server();
    let mut wire = client_frame(false, RSV1, op::TEXT, &[0xf2, 0x48, 0xcd]);
    wire.extend(client_frame(true, RSV1, op::CONT, &[0xc9, 0xc9, 0x07, 0x00]));
    expect_error(&mut s, &wire, Error::ReservedBits(RSV1), 1002);
    // The same fragments with RSV1 only on the first are fine.
    let mut s = deflate_server();
    let mut wire = client_frame(false, RSV1, op::TEXT, &[0xf2, 0x48, 0xcd]);
    wire.extend(client_frame(true, 0, op::CONT, &[0xc9, 0xc9, 0x07, 0x00]));
    assert_eq!(feed(&mut s, &wire), [Ok(text("Hello"))]);
}

#[test]
fn reserved_opcodes_fail_with_1002() {
    // §5.2: "%x3-7 are reserved for further non-control frames" and "%xB-F are reserved for
    // further control frames"; §10.7 / §5.2: an unknown opcode fails the connection.
    for role in ROLES {
        for opcode in [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let mut c = conn(role);
            let wire = frame_to(role, true, 0, opcode, b"");
            expect_error(&mut c, &wire, Error::ReservedOpcode(opcode), 1002);
        }
    }
}

#[test]
fn non_minimal_payload_length_fails_with_1002() {
    // §5.2: "the minimal number of bytes MUST be used to encode the length".
    let mut s = server();
    let mut wire = vec![0x82, 0x80 | 126, 0x00, 0x05];
    wire.extend(MASK);
    expect_error(&mut s, &wire, Error::InvalidPayloadLength, 1002);
    // "the most significant bit MUST be 0".
    let mut s = server();
    let wire = [0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
    expect_error(&mut s, &wire, Error::InvalidPayloadLength, 1002);
}

// ---- §5.5 control frames -----------------------------------------------------------------------

#[test]
fn control_frame_over_125_bytes_fails_before_its_payload() {
    // §5.5: "All control frames MUST have a payload length of 125 bytes or less".
    for role in ROLES {
        for opcode in [op::PING, op::PONG, op::CLOSE] {
            let mut c = conn(role);
            let mask = (role == Role::Server).then_some(MASK);
            let header = raw_header(true, 0, opcode, 126, mask);
            expect_error(&mut c, &header, Error::ControlFrameTooLong(126), 1002);
        }
        // 125 is fine.
        let mut c = conn(role);
        let payload = [b'p'; 125];
        assert_eq!(
            feed(&mut c, &frame_to(role, true, 0, op::PING, &payload)),
            [Ok(Event::Ping(payload.to_vec().into()))]
        );
        assert_eq!(sent(&mut c), [Frame::pong(payload)]);
    }
}

#[test]
fn fragmented_control_frame_fails_with_1002() {
    // §5.5: "Control frames MAY be injected in the middle of a fragmented message. All control
    // frames ... MUST NOT be fragmented."
    for role in ROLES {
        for opcode in [op::PING, op::PONG, op::CLOSE] {
            let mut c = conn(role);
            let wire = frame_to(role, false, 0, opcode, b"");
            expect_error(&mut c, &wire, Error::FragmentedControlFrame, 1002);
        }
    }
}

// ---- §5.4 fragmentation ------------------------------------------------------------------------

#[test]
fn continuation_without_a_message_fails_with_1002() {
    for role in ROLES {
        for fin in [true, false] {
            let mut c = conn(role);
            let wire = frame_to(role, fin, 0, op::CONT, b"orphan");
            expect_error(&mut c, &wire, Error::UnexpectedContinuation, 1002);
        }
        // Also right after a complete message.
        let mut c = conn(role);
        let mut wire = frame_to(role, false, 0, op::TEXT, b"a");
        wire.extend(frame_to(role, true, 0, op::CONT, b"b"));
        wire.extend(frame_to(role, true, 0, op::CONT, b"c"));
        let before = expect_error(&mut c, &wire, Error::UnexpectedContinuation, 1002);
        assert_eq!(before, [text("ab")]);
    }
}

#[test]
fn new_data_frame_in_the_middle_of_a_message_fails_with_1002() {
    // §5.4: "The fragments of one message MUST NOT be interleaved between the fragments of
    // another message unless an extension has been negotiated that can interpret the
    // interleaving."
    for role in ROLES {
        for second in [op::TEXT, op::BINARY] {
            let mut c = conn(role);
            let mut wire = frame_to(role, false, 0, op::TEXT, b"first ");
            wire.extend(frame_to(role, true, 0, second, b"second"));
            expect_error(&mut c, &wire, Error::ExpectedContinuation, 1002);
        }
    }
}

#[test]
fn ping_in_a_fragmented_message_is_answered_and_the_message_survives() {
    // §5.4: "An endpoint MUST be capable of handling control frames in the middle of a
    // fragmented message."
    for role in ROLES {
        let mut c = conn(role);
        let mut wire = frame_to(role, false, 0, op::TEXT, b"Hel");
        wire.extend(frame_to(role, true, 0, op::PING, b"are you there"));
        wire.extend(frame_to(role, false, 0, op::CONT, b"l"));
        wire.extend(frame_to(role, true, 0, op::PONG, b"unsolicited"));
        wire.extend(frame_to(role, true, 0, op::CONT, b"o"));
        assert_eq!(
            feed(&mut c, &wire),
            [
                Ok(Event::Ping("are you there".into())),
                Ok(Event::Pong("unsolicited".into())),
                Ok(text("Hello")),
            ]
        );
        assert_eq!(sent(&mut c), [Frame::pong("are you there")]);
        assert_eq!(c.state(), State::Open);
    }
}

#[test]
fn fragmented_binary_and_empty_fragments_reassemble() {
    let mut s = server();
    let mut wire = client_frame(false, 0, op::BINARY, b"");
    wire.extend(client_frame(false, 0, op::CONT, &[1, 2]));
    wire.extend(client_frame(false, 0, op::CONT, b""));
    wire.extend(client_frame(true, 0, op::CONT, &[3]));
    wire.extend(client_frame(true, 0, op::TEXT, b""));
    assert_eq!(
        feed(&mut s, &wire),
        [Ok(Event::Message(Message::binary(vec![1, 2, 3]))), Ok(text(""))]
    );
}

// ---- §5.5.1 / §7.4 close frames ----------------------------------------------------------------

#[test]
fn close_with_a_one_byte_payload_fails_with_1002() {
    // §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
    // integer".
    for role in ROLES {
        let mut c = conn(role);
        let wire = frame_to(role, true, 0, op::CLOSE, &[0x03]);
        expect_error(&mut c, &wire, Error::InvalidClosePayload, 1002);
    }
}

#[test]
fn invalid_close_codes_fail_with_1002() {
    // §7.4.1: 1004 is reserved, 1005, 1006 and 1015 "MUST NOT be set as a status code in a
    // Close control frame"; §7.4.2: 0-999 are "not used", 1000-2999 are reserved for the
    // protocol and its extensions (1012-1014 since registered with IANA), 5000+ undefined.
    for role in ROLES {
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            let mut c = conn(role);
            let wire = frame_to(role, true, 0, op::CLOSE, &close_payload(code, b"why"));
            expect_error(&mut c, &wire, Error::InvalidCloseCode(code), 1002);
        }
    }
}

#[test]
fn valid_close_codes_are_reported_and_echoed() {
    // §5.5.1: "If an endpoint receives a Close frame and did not previously send a Close
    // frame, the endpoint MUST send a Close frame in response. (When sending a Close frame in
    // response, the endpoint typically echos the status code it received.)"
    let codes = (1000..=1003).chain(1007..=1014).chain([3000, 3999, 4000, 4999]);
    for role in ROLES {
        for code in codes.clone() {
            let mut c = conn(role);
            let wire = frame_to(
                role,
                true,
                0,
                op::CLOSE,
                &close_payload(code, "ciao ✓".as_bytes()),
            );
            assert_eq!(
                feed(&mut c, &wire),
                [Ok(Event::Close(Some(CloseFrame::new(CloseCode(code), "ciao ✓"))))]
            );
            assert_eq!(sent(&mut c), [Frame::close(code, "")], "code {code}");
            assert_eq!(c.state(), State::Closed);
        }
    }
}

#[test]
fn close_without_a_code_is_answered_without_a_code() {
    // §7.1.5: "If this Close control frame contains no status code, _The WebSocket Connection
    // Close Code_ is considered to be 1005."
    for role in ROLES {
        let mut c = conn(role);
        assert_eq!(
            feed(&mut c, &frame_to(role, true, 0, op::CLOSE, b"")),
            [Ok(Event::Close(None))]
        );
        assert_eq!(sent(&mut c), [Frame::close_empty()]);
    }
}

#[test]
fn close_reason_that_is_not_utf8_fails_with_1007() {
    // §5.5.1: the body after the code "MAY contain UTF-8-encoded data"; §8.1: an endpoint
    // that finds invalid UTF-8 "MUST _Fail the WebSocket Connection_"; §7.4.1: 1007 is for
    // "data within a message that was not consistent with the type of the message".
    for role in ROLES {
        for reason in [&b"\xff"[..], b"ok\xc3", b"\xed\xa0\x80"] {
            let mut c = conn(role);
            let wire = frame_to(role, true, 0, op::CLOSE, &close_payload(1000, reason));
            expect_error(&mut c, &wire, Error::InvalidUtf8, 1007);
        }
    }
}

#[test]
fn close_frame_in_the_middle_of_a_fragmented_message_ends_the_connection_cleanly() {
    // Control frames may be interleaved (§5.4); the unfinished message is dropped.
    let mut s = server();
    let mut wire = client_frame(false, 0, op::TEXT, b"never ");
    wire.extend(client_frame(true, 0, op::CLOSE, &close_payload(1001, b"")));
    wire.extend(client_frame(true, 0, op::CONT, b"finished"));
    assert_eq!(
        feed(&mut s, &wire),
        [Ok(Event::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, ""))))]
    );
    assert_eq!(sent(&mut s), [Frame::close(1001, "")]);
    assert_eq!(s.poll_event(), Ok(None));
}

// ---- §8.1 UTF-8 --------------------------------------------------------------------------------

/// "κόσμε" then an encoded surrogate (ED A0 80), as in Autobahn case 6.4.x: invalid at A0.
const GREEK: &str = "κόσμε";

#[test]
fn invalid_utf8_fails_at_the_byte_that_breaks_it() {
    // §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte
    // stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
    // Connection_." We fail at the first impossible byte, before the frame is complete.
    let cases: &[(&[u8], usize)] = &[
        (b"\xed\xa0\x80edited", 1),   // a surrogate: ED must be followed by 80-9F
        (b"\xf4\x90\x80\x80 big", 1), // above U+10FFFF
        (b"\xc0\xaf overlong", 0),    // C0 never starts a sequence
        (b"\x80 stray", 0),           // a continuation byte without a start
        (b"\xe2\x82\xac\xac", 3),     // "€" then one continuation byte too many
        (b"\xff", 0),
    ];
    for role in ROLES {
        for &(bad, at) in cases {
            let mut payload = GREEK.as_bytes().to_vec();
            let bad_offset = payload.len() + at;
            payload.extend_from_slice(bad);
            payload.extend_from_slice(b" and more text after it");
            let wire = frame_to(role, true, 0, op::TEXT, &payload);
            let header_len = wire.len() - payload.len();
            let mut c = conn(role);
            let (i, e, events) = fail_point(&mut c, &wire);
            assert_eq!((e, events), (Error::InvalidUtf8, vec![]));
            assert_eq!(i, header_len + bad_offset, "{role:?} {bad:x?}");
            assert!(i < wire.len() - 1, "failed before the frame was complete");
            assert_failed_with(&mut c, 1007);
        }
    }
}

#[test]
fn invalid_utf8_across_fragments_fails_at_the_byte_that_breaks_it() {
    for role in ROLES {
        // The sequence starts in one fragment and breaks in the next, with a ping between.
        let mut wire = frame_to(role, false, 0, op::TEXT, &[GREEK.as_bytes(), b"\xed"].concat());
        wire.extend(frame_to(role, true, 0, op::PING, b""));
        let before = wire.len();
        let cont = frame_to(role, true, 0, op::CONT, b"\xa0\x80 edited");
        let header_len = cont.len() - 9;
        wire.extend(cont);
        let mut c = conn(role);
        let (i, e, events) = fail_point(&mut c, &wire);
        assert_eq!((e, events), (Error::InvalidUtf8, vec![Event::Ping("".into())]));
        assert_eq!(
            i,
            before + header_len,
            "the first payload byte of the continuation"
        );
        let frames = sent(&mut c);
        assert_eq!(frames[0], Frame::pong(""));
        assert_eq!(frames[1].close_code(), Some(1007));

        // A code point split between fragments is valid.
        let euro = "€".as_bytes();
        let mut wire = frame_to(role, false, 0, op::TEXT, &euro[..1]);
        wire.extend(frame_to(role, false, 0, op::CONT, &euro[1..2]));
        wire.extend(frame_to(role, true, 0, op::PING, b"p"));
        wire.extend(frame_to(role, true, 0, op::CONT, &euro[2..]));
        let mut c = conn(role);
        let mut got = Vec::new();
        for b in &wire {
            got.extend(feed(&mut c, std::slice::from_ref(b)));
        }
        assert_eq!(got, [Ok(Event::Ping("p".into())), Ok(text("€"))]);
    }
}

#[test]
fn text_ending_inside_a_code_point_fails_at_its_last_byte() {
    for role in ROLES {
        // Single frame: known bad only once the frame (and message) ends.
        let wire = frame_to(role, true, 0, op::TEXT, b"ab\xce");
        let mut c = conn(role);
        let (i, e, _) = fail_point(&mut c, &wire);
        assert_eq!((i, e), (wire.len() - 1, Error::InvalidUtf8));
        assert_failed_with(&mut c, 1007);
        // Fragmented: the final fragment is empty.
        let mut wire = frame_to(role, false, 0, op::TEXT, b"ab\xce");
        wire.extend(frame_to(role, true, 0, op::CONT, b""));
        let mut c = conn(role);
        let (i, e, _) = fail_point(&mut c, &wire);
        assert_eq!((i, e), (wire.len() - 1, Error::InvalidUtf8));
    }
}

#[test]
fn binary_messages_and_pings_are_not_checked_for_utf8() {
    for role in ROLES {
        let mut c = conn(role);
        let mut wire = frame_to(role, true, 0, op::BINARY, b"\xff\xfe");
        wire.extend(frame_to(role, true, 0, op::PING, b"\xff"));
        assert_eq!(
            feed(&mut c, &wire),
            [
                Ok(Event::Message(Message::binary(&b"\xff\xfe"[..]))),
                Ok(Event::Ping(bytes::Bytes::from_static(b"\xff")))
            ]
        );
    }
}

// ---- limits: 1009 ------------------------------------------------------------------------------

#[test]
fn frame_too_large_fails_before_its_payload_arrives() {
    // §7.4.1: 1009 "indicates that an endpoint is terminating the connection because it has
    // received a message that is too big for it to process."
    for role in ROLES {
        let mut config = plain_config();
        config.max_frame_size = 1000;
        let mask = (role == Role::Server).then_some(MASK);
        for len in [1001, 70_000, 1 << 62] {
            let mut c = conn_with(role, config.clone());
            let header = raw_header(true, 0, op::BINARY, len, mask);
            let e = Error::FrameTooLarge {
                size: len,
                limit: 1000,
            };
            expect_error(&mut c, &header, e, 1009);
        }
        // Exactly the limit is fine.
        let mut c = conn_with(role, config);
        let wire = frame_to(role, true, 0, op::BINARY, &[7; 1000]);
        assert_eq!(
            feed(&mut c, &wire),
            [Ok(Event::Message(Message::binary(vec![7; 1000])))]
        );
    }
}

#[test]
fn message_too_large_across_fragments_fails_at_the_offending_header() {
    for role in ROLES {
        let mut config = plain_config();
        config.max_message_size = 1000;
        config.auto_pong = false; // only the close frame goes out
        let mask = (role == Role::Server).then_some(MASK);
        let mut wire = frame_to(role, false, 0, op::TEXT, &[b'a'; 600]);
        wire.extend(frame_to(role, true, 0, op::PING, b""));
        wire.extend(raw_header(true, 0, op::CONT, 401, mask));
        let mut c = conn_with(role, config.clone());
        let before = expect_error(&mut c, &wire, Error::MessageTooLarge { limit: 1000 }, 1009);
        assert_eq!(before, [Event::Ping("".into())]);
        // 600 + 400 is exactly the limit.
        let mut wire = frame_to(role, false, 0, op::TEXT, &[b'a'; 600]);
        wire.extend(frame_to(role, true, 0, op::CONT, &[b'b'; 400]));
        let mut c = conn_with(role, config);
        let got = feed(&mut c, &wire);
        assert!(matches!(&got[..], [Ok(Event::Message(m))] if m.len() == 1000));
    }
}

/// Counts the bytes allocated by the current thread, to show that a decompression bomb
/// costs bounded memory.
mod meter {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Meter;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(delta: isize) {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }

    // SAFETY: every method forwards to `System` with the caller's arguments unchanged and
    // only updates thread-local counters, which never allocate.
    unsafe impl GlobalAlloc for Meter {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded from our caller, who upholds `GlobalAlloc::alloc`'s contract.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as for `alloc`.
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: `ptr` was allocated by `System` (through us) with `layout`.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    /// Runs `f` and returns its result with the most memory this thread held at once during
    /// it, above what it held before.
    pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let start = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(start));
        let r = f();
        (r, (PEAK.with(Cell::get) - start) as usize)
    }
}

#[global_allocator]
static METER: meter::Meter = meter::Meter;

/// A raw DEFLATE stream (RFC 1951) that inflates to `1 + 258 * matches` zero bytes: one
/// fixed-Huffman block holding a literal 0 then `matches` copies of <length 258, distance 1>,
/// 13 bits each, followed by the empty stored block of a sync flush with its final
/// `00 00 ff ff` removed, as permessage-deflate puts it on the wire (RFC 7692 §7.2.1).
fn deflate_bomb(matches: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u64, bits: u32) {
            let reversed = (0..bits).fold(0, |r, i| r << 1 | (code >> i) & 1);
            self.put(reversed, bits);
        }
    }
    let mut b = Bits {
        out: Vec::with_capacity(matches * 13 / 8 + 16),
        acc: 0,
        n: 0,
    };
    b.put(0, 1); // BFINAL = 0
    b.put(1, 2); // BTYPE = 01, fixed Huffman
    b.code(0x30, 8); // literal 0
    for _ in 0..matches {
        b.code(0xc0 + (285 - 280), 8); // length 258
        b.code(0, 5); // distance 1
    }
    b.code(0, 7); // end of block
    b.put(0, 3); // stored block header; LEN/NLEN come from the appended tail
    if b.n > 0 {
        b.put(0, 8 - b.n);
    }
    b.out
}

#[test]
fn compressed_bomb_fails_with_1009_in_bounded_memory() {
    const LIMIT: usize = 1 << 20;
    let mut config = Config::default();
    config.max_message_size = LIMIT;
    let new_server = || server_with(config.clone()).with_deflate(Some(DeflateParams::default()));

    // The crafted stream is valid: a small one inflates to what it says.
    let mut s = new_server();
    let got = feed(&mut s, &client_frame(true, RSV1, op::BINARY, &deflate_bomb(100)));
    assert_eq!(got, [Ok(Event::Message(Message::binary(vec![0; 25_801])))]);

    // 64 MiB of zeros in 423 KB, in one frame and in 16 KiB fragments.
    let bomb = deflate_bomb((64 << 20) / 258);
    assert!(bomb.len() < 450_000);
    let one_frame = client_frame(true, RSV1, op::BINARY, &bomb);
    let mut fragmented = Vec::new();
    for (i, chunk) in bomb.chunks(16 << 10).enumerate() {
        let last = (i + 1) * (16 << 10) >= bomb.len();
        let (opcode, rsv) = if i == 0 { (op::BINARY, RSV1) } else { (op::CONT, 0) };
        fragmented.extend(client_frame(last, rsv, opcode, chunk));
    }
    for wire in [one_frame, fragmented] {
        let mut s = new_server();
        let (got, peak) = meter::peak(|| feed(&mut s, &wire));
        assert_eq!(got, [Err(Error::MessageTooLarge { limit: LIMIT })]);
        assert_failed_with(&mut s, 1009);
        // The limit, the compressed input and zlib's state (measured: 1.52 MB); not 64 MiB.
        assert!(peak < LIMIT + wire.len() + (256 << 10), "peak {peak}");
    }
}

// ---- the close handshake (§7) ------------------------------------------------------------------

#[test]
fn client_initiated_close_handshake() {
    let mut p = Pair::plain();
    p.client
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
        .unwrap();
    assert_eq!(p.client.state(), State::Closing);
    assert_eq!(p.deliver(Role::Client), [Frame::close(1000, "bye")]);

    // §5.5.1: the server answers and, §7.1.1, "SHOULD close the underlying TCP connection
    // first".
    assert_eq!(
        poll_all(&mut p.server),
        [Ok(Event::Close(Some(CloseFrame::new(CloseCode::NORMAL, "bye"))))]
    );
    assert_eq!(p.server.state(), State::Closed);
    assert!(p.server.should_close_transport());
    assert_eq!(p.deliver(Role::Server), [Frame::close(1000, "")]);

    assert_eq!(
        poll_all(&mut p.client),
        [Ok(Event::Close(Some(CloseFrame::new(CloseCode::NORMAL, ""))))]
    );
    assert_eq!(p.client.state(), State::Closed);
    assert!(sent(&mut p.client).is_empty(), "no second close frame");
    // The client waits for the server to close TCP (§7.1.1)...
    assert!(!p.client.should_close_transport());
    // ...and then it is a clean end, not an error.
    p.client.receive_eof();
    assert!(p.client.should_close_transport());
    assert_eq!(p.client.poll_event(), Ok(None));
}

#[test]
fn server_initiated_close_handshake() {
    let mut p = Pair::plain();
    p.server
        .close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "restart")))
        .unwrap();
    assert_eq!(p.server.state(), State::Closing);
    assert!(!p.server.should_close_transport());
    assert_eq!(p.deliver(Role::Server), [Frame::close(1001, "restart")]);
    assert_eq!(
        poll_all(&mut p.client),
        [Ok(Event::Close(Some(CloseFrame::new(
            CloseCode::GOING_AWAY,
            "restart"
        ))))]
    );
    assert_eq!(p.client.state(), State::Closed);
    assert!(!p.client.should_close_transport());
    assert_eq!(p.deliver(Role::Client), [Frame::close(1001, "")]);
    assert_eq!(
        poll_all(&mut p.server),
        [Ok(Event::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, ""))))]
    );
    assert_eq!(p.server.state(), State::Closed);
    assert!(p.server.should_close_transport());
    assert!(sent(&mut p.server).is_empty());
}

#[test]
fn simultaneous_close() {
    // §7.1.3 / §5.5.1: "It is possible for both endpoints to send a Close frame
    // simultaneously"; each has sent its close, so neither answers again.
    let mut p = Pair::plain();
    p.client.close(None).unwrap();
    p.server
        .close(Some(CloseFrame::new(CloseCode(4000), "")))
        .unwrap();
    let ev = p.step();
    assert_eq!(ev.server, [Ok(Event::Close(None))]);
    assert_eq!(
        ev.client,
        [Ok(Event::Close(Some(CloseFrame::new(CloseCode(4000), ""))))]
    );
    assert_eq!(
        (p.client.state(), p.server.state()),
        (State::Closed, State::Closed)
    );
    assert!(p.server.should_close_transport());
    assert!(!p.client.should_close_transport());
}

#[test]
fn messages_still_arrive_while_closing() {
    // §7.1.2 / §1.4: after sending a Close frame an endpoint may still receive data until
    // the peer's Close arrives.
    let mut p = Pair::plain();
    p.server.close(None).unwrap();
    p.client.send_text("in flight").unwrap(); // before the client sees the close
    let ev = p.step();
    assert_eq!(ev.server, [Ok(text("in flight")), Ok(Event::Close(None))]);
    assert_eq!(ev.client, [Ok(Event::Close(None))]);
}

#[test]
fn ping_while_closing_is_still_answered() {
    // §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response,
    // unless it already received a Close frame." Having *sent* a close is not an exception
    // (§5.5.1 forbids only further *data* frames after our close), so a closing endpoint
    // still answers; python-websockets does the same.
    for role in ROLES {
        let mut c = conn(role);
        c.close(None).unwrap();
        assert_eq!(sent(&mut c), [Frame::close_empty()]);
        let wire = frame_to(role, true, 0, op::PING, b"still there?");
        assert_eq!(feed(&mut c, &wire), [Ok(Event::Ping("still there?".into()))]);
        assert_eq!(sent(&mut c), [Frame::pong("still there?")]);
        // Once the peer's close arrived, pings are ignored (nothing is read any more).
        c.receive(&frame_to(role, true, 0, op::CLOSE, b""));
        assert_eq!(poll_all(&mut c), [Ok(Event::Close(None))]);
        assert!(sent(&mut c).is_empty());
        assert_eq!(feed(&mut c, &frame_to(role, true, 0, op::PING, b"")), []);
    }
}

#[test]
fn nothing_is_sent_after_close() {
    // §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any further data
    // frames."
    for role in ROLES {
        let mut c = conn(role);
        c.close(Some(CloseFrame::new(CloseCode::NORMAL, ""))).unwrap();
        assert_eq!(c.send_text("late"), Err(Error::Closed));
        assert_eq!(c.send_binary(b"late"), Err(Error::Closed));
        assert_eq!(c.send(Message::text("late")), Err(Error::Closed));
        assert_eq!(c.ping(b""), Err(Error::Closed));
        assert_eq!(c.pong(b""), Err(Error::Closed));
        // A second close is a no-op.
        assert_eq!(c.close(Some(CloseFrame::new(CloseCode(4001), ""))), Ok(()));
        assert_eq!(sent(&mut c), [Frame::close(1000, "")]);

        // The same after the peer closed, and after a failure.
        let mut c = conn(role);
        let _ = feed(&mut c, &frame_to(role, true, 0, op::CLOSE, b""));
        assert_eq!(c.send_text("late"), Err(Error::Closed));
        let mut c = conn(role);
        let _ = feed(&mut c, &frame_to(role, true, 0, 0x3, b""));
        assert_eq!(c.send_text("late"), Err(Error::Closed));
        assert_eq!(c.close(None), Ok(()));
        assert_eq!(sent(&mut c).len(), 1, "only the failure's close frame");
    }
}

#[test]
fn input_after_the_close_handshake_is_ignored() {
    let mut s = server();
    let mut wire = client_frame(true, 0, op::CLOSE, b"");
    wire.extend(client_frame(true, 0, op::TEXT, b"after close"));
    assert_eq!(feed(&mut s, &wire), [Ok(Event::Close(None))]);
    assert_eq!(feed(&mut s, &client_frame(true, 0, op::TEXT, b"more")), []);
    // Even garbage: the connection is closed, there is nothing to fail.
    assert_eq!(feed(&mut s, &[0xff; 16]), []);
    assert_eq!(sent(&mut s), [Frame::close_empty()]);
}

#[test]
fn errors_while_closing_send_no_second_close_frame() {
    for role in ROLES {
        let mut c = conn(role);
        c.close(None).unwrap();
        let _ = sent(&mut c);
        let got = feed(&mut c, &frame_to(role, true, 0, op::TEXT, b"\xff"));
        assert_eq!(got, [Err(Error::InvalidUtf8)]);
        assert!(sent(&mut c).is_empty());
        assert_eq!(c.state(), State::Closed);
        assert!(c.should_close_transport());
    }
}

#[test]
fn eof_before_the_close_handshake_is_an_error() {
    // §7.1.5: "If _The WebSocket Connection is Closed_ and no Close control frame was
    // received by the endpoint ..., _The WebSocket Connection Close Code_ is considered to be
    // 1006." 1006 is never sent (§7.4.1), so nothing goes out.
    for role in ROLES {
        let mut c = conn(role);
        c.receive(&frame_to(role, false, 0, op::TEXT, b"half a mess"));
        assert_eq!(poll_all(&mut c), []);
        c.receive_eof();
        assert_eq!(c.poll_event(), Err(Error::UnexpectedEof));
        assert_eq!(Error::UnexpectedEof.close_code(), Some(CloseCode::ABNORMAL));
        assert_eq!(c.poll_event(), Ok(None));
        assert_eq!(c.state(), State::Closed);
        assert!(c.should_close_transport());
        assert!(sent(&mut c).is_empty());
        assert_eq!(c.send_text("x"), Err(Error::Closed));
    }
    // While closing (our close sent, the peer's not received) it is abnormal too.
    let mut c = conn(Role::Client);
    c.close(None).unwrap();
    c.receive_eof();
    assert_eq!(c.poll_event(), Err(Error::UnexpectedEof));
}

// ---- pings and pongs ---------------------------------------------------------------------------

#[test]
fn auto_pong_on_and_off() {
    // §5.5.3: "A Pong frame sent in response to a Ping frame must have identical
    // "Application data" as found in the message body of the Ping frame being replied to."
    for role in ROLES {
        let mut c = conn(role);
        let mut wire = frame_to(role, true, 0, op::PING, b"one");
        wire.extend(frame_to(role, true, 0, op::PING, b""));
        assert_eq!(
            feed(&mut c, &wire),
            [Ok(Event::Ping("one".into())), Ok(Event::Ping("".into()))]
        );
        assert_eq!(sent(&mut c), [Frame::pong("one"), Frame::pong("")]);

        let mut config = plain_config();
        config.auto_pong = false;
        let mut c = conn_with(role, config);
        assert_eq!(
            feed(&mut c, &frame_to(role, true, 0, op::PING, b"one")),
            [Ok(Event::Ping("one".into()))]
        );
        assert!(sent(&mut c).is_empty());
        // The application answers itself.
        c.pong(b"one").unwrap();
        assert_eq!(sent(&mut c), [Frame::pong("one")]);
    }
}

#[test]
fn pings_pongs_and_closes_are_limited_to_125_bytes_when_sent() {
    let mut c = conn(Role::Client);
    assert_eq!(c.ping(&[0; 126]), Err(Error::ControlPayloadTooLong(126)));
    assert_eq!(c.pong(&[0; 126]), Err(Error::ControlPayloadTooLong(126)));
    let reason = "x".repeat(124);
    assert_eq!(
        c.close(Some(CloseFrame::new(CloseCode::NORMAL, reason))),
        Err(Error::ControlPayloadTooLong(126))
    );
    for code in [1005, 1006, 1015, 999, 5000] {
        assert_eq!(
            c.close(Some(CloseFrame::new(CloseCode(code), ""))),
            Err(Error::UnsendableCloseCode(code))
        );
    }
    assert!(sent(&mut c).is_empty());
    assert_eq!(c.state(), State::Open);
    c.ping(&[1; 125]).unwrap();
    c.close(Some(CloseFrame::new(CloseCode::NORMAL, "x".repeat(123))))
        .unwrap();
    let frames = sent(&mut c);
    assert_eq!(frames[0], Frame::ping([1; 125]));
    assert_eq!(frames[1], Frame::close(1000, &"x".repeat(123)));
}

// ---- sending -----------------------------------------------------------------------------------

#[test]
fn outgoing_messages_are_fragmented_at_fragment_size() {
    // §5.4: a fragmented message is a first frame with the opcode and FIN clear, then
    // continuation frames, the last with FIN set.
    for role in ROLES {
        let mut config = plain_config();
        config.fragment_size = Some(4);
        let mut c = conn_with(role, config);
        c.send_text("abcdefghij").unwrap();
        c.send_binary(b"1234").unwrap(); // exactly one fragment
        c.send_binary(b"").unwrap();
        c.send(Message::binary(vec![9u8; 9])).unwrap();
        c.ping(b"control frames are never fragmented").unwrap();
        assert_eq!(
            sent(&mut c),
            [
                Frame::new(false, 0, OpCode::Text, "abcd"),
                Frame::new(false, 0, OpCode::Continuation, "efgh"),
                Frame::new(true, 0, OpCode::Continuation, "ij"),
                Frame::binary("1234"),
                Frame::binary(""),
                Frame::new(false, 0, OpCode::Binary, [9; 4]),
                Frame::new(false, 0, OpCode::Continuation, [9; 4]),
                Frame::new(true, 0, OpCode::Continuation, [9; 1]),
                Frame::ping("control frames are never fragmented"),
            ]
        );
    }
}

#[test]
fn fragments_may_split_a_code_point() {
    let mut config = plain_config();
    config.fragment_size = Some(1);
    let mut p = Pair::new(config.clone(), config);
    p.client.send_text("€𝄞").unwrap();
    let ev = p.step();
    assert_eq!(ev.server, [Ok(text("€𝄞"))]);
}

#[test]
fn mask_keys_come_from_the_mask_source() {
    // §5.3: "The masking key is a 32-bit value chosen at random by the client."
    let keys = [[1, 2, 3, 4], [0xde, 0xad, 0xbe, 0xef], [0, 0, 0, 0]];
    let mut i = 0;
    let mut c = Connection::new(Role::Client, plain_config()).with_mask_source(move || {
        i += 1;
        keys[(i - 1) % keys.len()]
    });
    c.send_text("one").unwrap();
    c.ping(b"two").unwrap();
    c.send_binary(&[3; 200]).unwrap();
    c.close(None).unwrap();
    let parsed = parse_wire(&c.take_output());
    let masks: Vec<_> = parsed.iter().map(|(h, _)| h.mask.unwrap()).collect();
    assert_eq!(masks, [keys[0], keys[1], keys[2], keys[0]]);
    assert_eq!(parsed[2].1, [3; 200]);

    // The same source gives the same bytes.
    let run = || {
        let mut c = Connection::new(Role::Client, plain_config()).with_mask_source(key_sequence(7));
        c.send_text("repeatable").unwrap();
        c.send_binary(&[0; 300]).unwrap();
        c.take_output()
    };
    assert_eq!(run(), run());

    // Servers never mask, whatever source they are given.
    let mut s = Connection::new(Role::Server, plain_config()).with_mask_source(|| MASK);
    s.send_text("x").unwrap();
    assert_eq!(parse_wire(&s.take_output())[0].0.mask, None);
}

/// RFC 6455 §5.7, byte for byte.
#[test]
fn rfc_6455_examples_exact_bytes() {
    // "A single-frame unmasked text message"
    let mut s = server();
    s.send_text("Hello").unwrap();
    assert_eq!(&s.take_output()[..], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    // "A single-frame masked text message"
    let hello_masked = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    let mut c = client();
    c.send_text("Hello").unwrap();
    assert_eq!(&c.take_output()[..], hello_masked);
    // "A fragmented unmasked text message"
    let mut config = plain_config();
    config.fragment_size = Some(3);
    let mut s = server_with(config);
    s.send_text("Hello").unwrap();
    let fragmented = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(&s.take_output()[..], fragmented);
    // "Unmasked Ping request and masked Ping response"
    let mut s = server();
    s.ping(b"Hello").unwrap();
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(&s.take_output()[..], ping);
    let pong_masked = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    let mut c = client();
    c.pong(b"Hello").unwrap();
    assert_eq!(&c.take_output()[..], pong_masked);
    // "256 bytes binary message in a single unmasked frame"
    let mut s = server();
    s.send_binary(&[0xab; 256]).unwrap();
    let out = s.take_output();
    assert_eq!((&out[..4], out.len()), (&[0x82, 0x7e, 0x01, 0x00][..], 4 + 256));
    // "64KiB binary message in a single unmasked frame"
    s.send(Message::binary(vec![0xcd; 65536])).unwrap();
    let out = s.take_output();
    let header = [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    assert_eq!((&out[..10], out.len()), (&header[..], 10 + 65536));
    assert!(out[10..].iter().all(|&b| b == 0xcd));

    // And each is understood by the other side.
    let mut s = server();
    assert_eq!(feed(&mut s, &hello_masked), [Ok(text("Hello"))]);
    assert_eq!(
        feed(&mut s, &pong_masked),
        [Ok(Event::Pong(bytes::Bytes::from_static(b"Hello")))]
    );
    let mut c = client();
    assert_eq!(feed(&mut c, &fragmented), [Ok(text("Hello"))]);
    assert_eq!(feed(&mut c, &ping), [Ok(Event::Ping("Hello".into()))]);
    assert_eq!(&c.take_output()[..], pong_masked);
}

#[test]
fn large_payloads_round_trip_through_io_slices() {
    // Large server payloads are queued by reference; the vectored output must still be the
    // exact frame sequence.
    let mut s = server();
    let big = bytes::Bytes::from(vec![0x5a; 5000]);
    s.send_text("small").unwrap();
    s.send(Message::Binary(big.clone())).unwrap();
    s.ping(b"p").unwrap();
    let mut wire = Vec::new();
    while s.pending_output() > 0 {
        let mut slices = [std::io::IoSlice::new(&[]); 8];
        let n = s.io_slices(&mut slices);
        assert!(n > 0);
        // Write at most 1000 bytes at a time, like a short write.
        let mut budget = 1000;
        for sl in &slices[..n] {
            let take = sl.len().min(budget);
            wire.extend_from_slice(&sl[..take]);
            budget -= take;
        }
        s.advance_output(1000 - budget);
    }
    assert_eq!(
        frames(&wire),
        [Frame::text("small"), Frame::binary(&big[..]), Frame::ping("p")]
    );
}

// ---- timers ------------------------------------------------------------------------------------

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A keepalive ping sent `ms` after the timers started: its payload carries the time.
fn keepalive_ping(ms: u32) -> Frame {
    let mut payload = b"wsx-keepalive".to_vec();
    payload.extend_from_slice(&ms.to_be_bytes());
    Frame::ping(payload)
}

fn keepalive_config() -> Config {
    let mut config = plain_config();
    config.ping_interval = Some(secs(10));
    config.pong_timeout = secs(5);
    config
}

#[test]
fn keepalive_ping_then_timeout_without_pong() {
    for role in ROLES {
        let mut c = conn_with(role, keepalive_config());
        assert_eq!(
            c.poll_timeout(),
            None,
            "timers are inert until the driver starts them"
        );
        let t0 = Instant::now();
        c.handle_timeout(t0).unwrap();
        assert_eq!(c.poll_timeout(), Some(t0 + secs(10)));
        c.handle_timeout(t0 + secs(9)).unwrap();
        assert!(sent(&mut c).is_empty());

        c.handle_timeout(t0 + secs(10)).unwrap();
        assert_eq!(sent(&mut c), [keepalive_ping(10_000)]);
        assert_eq!(c.poll_timeout(), Some(t0 + secs(15)));
        c.handle_timeout(t0 + secs(14)).unwrap();
        assert!(sent(&mut c).is_empty());

        assert_eq!(
            c.handle_timeout(t0 + secs(15)),
            Err(Error::KeepaliveTimeout(secs(5)))
        );
        assert_eq!(
            Error::KeepaliveTimeout(secs(5)).close_code(),
            Some(CloseCode::INTERNAL_ERROR)
        );
        assert_failed_with(&mut c, 1011);
        assert_eq!(c.send_text("x"), Err(Error::Closed));
    }
}

#[test]
fn keepalive_pong_in_time_keeps_the_connection() {
    for role in ROLES {
        let mut c = conn_with(role, keepalive_config());
        let t0 = Instant::now();
        c.handle_timeout(t0).unwrap();
        c.handle_timeout(t0 + secs(10)).unwrap();
        let ping = keepalive_ping(10_000);
        assert_eq!(sent(&mut c), std::slice::from_ref(&ping));
        let pong = frame_to(role, true, 0, op::PONG, &ping.payload);
        assert_eq!(
            feed(&mut c, &pong),
            [Ok(Event::Pong(ping.payload.clone().into()))]
        );
        // The pong's payload tells the round trip.
        assert_eq!(
            c.pong_rtt(&ping.payload, t0 + Duration::from_millis(10_120)),
            Some(Duration::from_millis(120))
        );
        c.handle_timeout(t0 + secs(15)).unwrap();
        assert!(sent(&mut c).is_empty());
        assert_eq!(c.state(), State::Open);
        // The next ping is a full interval later.
        assert_eq!(c.poll_timeout(), Some(t0 + secs(25)));
        c.handle_timeout(t0 + secs(25)).unwrap();
        assert_eq!(sent(&mut c), [keepalive_ping(25_000)]);
    }
}

/// The review's reproduction: one large frame arriving slowly, for longer than the ping
/// interval plus the pong timeout, must not fail a healthy connection: every byte of it
/// is a sign of life, though no frame is complete until the end.
#[test]
fn keepalive_counts_bytes_of_a_frame_still_arriving() {
    let mut c = conn_with(Role::Server, keepalive_config());
    let t0 = Instant::now();
    c.handle_timeout(t0).unwrap();
    let payload = vec![7u8; 40_000];
    let wire = client_frame(true, 0, op::BINARY, &payload);
    // 100 bytes a second for 60 s: four ping intervals, each longer than interval+timeout.
    let mut at = t0;
    let mut chunks = wire.chunks(wire.len() / 64);
    for _ in 0..60 {
        at += secs(1);
        c.receive(chunks.next().unwrap());
        assert!(matches!(c.poll_event(), Ok(None)));
        c.handle_timeout(at).unwrap();
        assert_eq!(c.state(), State::Open);
    }
    for chunk in chunks {
        c.receive(chunk);
    }
    let event = c.poll_event();
    assert!(
        matches!(&event, Ok(Some(Event::Message(Message::Binary(b)))) if b[..] == payload[..]),
        "the whole frame arrives"
    );
    assert!(
        sent(&mut c).is_empty(),
        "no ping was needed: the peer never went quiet"
    );
}

#[test]
fn ping_timed_measures_the_round_trip() {
    let mut p = Pair::plain();
    let t0 = Instant::now();
    p.server.ping_timed(t0).unwrap();
    let events = p.step();
    let pongs: Vec<_> = events
        .server
        .iter()
        .filter_map(|e| match e {
            Ok(Event::Pong(b)) => Some(b.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(pongs.len(), 1);
    assert_eq!(
        p.server.pong_rtt(&pongs[0], t0 + Duration::from_millis(7)),
        Some(Duration::from_millis(7))
    );
    assert_eq!(p.server.pong_rtt(b"wsx-keepalive", t0), None, "no stamp");
    assert_eq!(p.server.pong_rtt(b"hello", t0), None);
}

#[test]
fn keepalive_counts_any_frame_as_a_sign_of_life() {
    let mut c = conn_with(Role::Server, keepalive_config());
    let t0 = Instant::now();
    c.handle_timeout(t0).unwrap();
    assert_eq!(
        feed(&mut c, &client_frame(true, 0, op::TEXT, b"hi")),
        [Ok(text("hi"))]
    );
    c.handle_timeout(t0 + secs(10)).unwrap();
    assert!(sent(&mut c).is_empty(), "no ping: the peer spoke");
    assert_eq!(c.poll_timeout(), Some(t0 + secs(20)));
    c.handle_timeout(t0 + secs(20)).unwrap();
    assert_eq!(sent(&mut c), [keepalive_ping(20_000)]);
    // A message instead of a pong also proves the peer alive.
    let _ = feed(&mut c, &client_frame(true, 0, op::BINARY, b""));
    c.handle_timeout(t0 + secs(25)).unwrap();
    assert_eq!(c.state(), State::Open);
}

#[test]
fn idle_timeout_closes_with_1001() {
    for role in ROLES {
        let mut config = plain_config();
        config.ping_interval = None;
        config.idle_timeout = Some(secs(60));
        let mut c = conn_with(role, config);
        let t0 = Instant::now();
        c.handle_timeout(t0).unwrap();
        assert_eq!(c.poll_timeout(), Some(t0 + secs(60)));
        // A message (either direction) restarts the wait.
        c.send_text("activity").unwrap();
        let _ = sent(&mut c);
        c.handle_timeout(t0 + secs(60)).unwrap();
        assert!(sent(&mut c).is_empty());
        assert_eq!(c.poll_timeout(), Some(t0 + secs(120)));
        // Pings are not activity.
        let _ = feed(&mut c, &frame_to(role, true, 0, op::PING, b""));
        let _ = sent(&mut c);
        c.handle_timeout(t0 + secs(120)).unwrap();
        assert_eq!(sent(&mut c), [Frame::close(1001, "idle timeout")]);
        assert_eq!(c.state(), State::Closing);
        assert!(!c.should_close_transport());
        // Then the close timeout applies.
        let deadline = t0 + secs(120) + Config::default().close_timeout;
        assert_eq!(c.poll_timeout(), Some(deadline));
    }
}

#[test]
fn close_timeout_gives_up_on_a_silent_peer() {
    for role in ROLES {
        // Closed before the timers started.
        let mut c = conn(role);
        c.close(None).unwrap();
        let t0 = Instant::now();
        c.handle_timeout(t0).unwrap();
        let close_timeout = c.config().close_timeout;
        assert_eq!(c.poll_timeout(), Some(t0 + close_timeout));
        c.handle_timeout(t0 + close_timeout - Duration::from_millis(1))
            .unwrap();
        assert!(!c.should_close_transport());
        c.handle_timeout(t0 + close_timeout).unwrap();
        assert_eq!(c.state(), State::Closed);
        assert!(c.should_close_transport());
        assert_eq!(c.poll_event(), Ok(None));

        // Closed after the timers started: the timer arms at the next call.
        let mut c = conn(role);
        c.handle_timeout(t0).unwrap();
        c.close(None).unwrap();
        let t1 = t0 + secs(3);
        assert!(c.poll_timeout().is_some_and(|t| t <= t1), "due at once");
        c.handle_timeout(t1).unwrap();
        assert_eq!(c.poll_timeout(), Some(t1 + close_timeout));
        c.handle_timeout(t1 + close_timeout).unwrap();
        assert!(c.should_close_transport());
    }
}

#[test]
fn poll_timeout_reports_only_live_timers() {
    // "`None` if no timer is armed": once nothing is left to wait for, a driver that sleeps
    // until `poll_timeout` must not be woken again (and again) for a spent deadline.
    let t0 = Instant::now();
    for role in ROLES {
        // After the close timeout fired.
        let mut c = conn(role);
        c.handle_timeout(t0).unwrap();
        c.close(None).unwrap();
        c.handle_timeout(t0).unwrap();
        let close_timeout = c.config().close_timeout;
        c.handle_timeout(t0 + close_timeout).unwrap();
        assert!(c.should_close_transport());
        assert_eq!(c.poll_timeout(), None);

        // After a keepalive failure.
        let mut c = conn_with(role, keepalive_config());
        c.handle_timeout(t0).unwrap();
        c.handle_timeout(t0 + secs(10)).unwrap();
        assert!(c.handle_timeout(t0 + secs(15)).is_err());
        assert_eq!(c.poll_timeout(), None);

        // After a protocol error.
        let mut c = conn(role);
        c.handle_timeout(t0).unwrap();
        let _ = feed(&mut c, &frame_to(role, true, 0, 0xB, b""));
        assert_eq!(c.poll_timeout(), None);
    }
    // A server that finished the close handshake has closed TCP: no timer left, although
    // its keepalive was due in 30 s.
    let mut s = server();
    s.handle_timeout(t0).unwrap();
    let _ = feed(&mut s, &client_frame(true, 0, op::CLOSE, b""));
    assert!(s.should_close_transport());
    assert_eq!(s.poll_timeout(), None);
    // While closing, only the close timer counts (no keepalive ping would be sent).
    let mut c = conn(Role::Client);
    c.handle_timeout(t0).unwrap();
    c.close(None).unwrap();
    c.handle_timeout(t0 + secs(1)).unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + secs(1) + c.config().close_timeout));
}

#[test]
fn client_waits_for_the_server_to_close_tcp_up_to_the_close_timeout() {
    // §7.1.1: "the client SHOULD wait for the server to close the connection but MAY close
    // the connection at any time after sending and receiving a Close message, e.g., if it
    // has not received a TCP Close from the server in a reasonable time period."
    let mut p = Pair::plain();
    let t0 = Instant::now();
    p.client.handle_timeout(t0).unwrap();
    p.server.handle_timeout(t0).unwrap();
    p.server.close(None).unwrap();
    let ev = p.step();
    assert_eq!(ev.client, [Ok(Event::Close(None))]);
    assert_eq!(ev.server, [Ok(Event::Close(None))]);
    assert!(p.server.should_close_transport());
    assert!(!p.client.should_close_transport());
    let close_timeout = p.client.config().close_timeout;
    p.client.handle_timeout(t0 + secs(1)).unwrap(); // arms the timer
    p.client.handle_timeout(t0 + secs(1) + close_timeout).unwrap();
    assert!(p.client.should_close_transport());
    assert_eq!(p.client.poll_event(), Ok(None), "a clean end, not an error");
}

// ---- pair ----------------------------------------------------------------------------------------

#[test]
fn pair_exchanges_messages_both_ways() {
    let mut p = Pair::plain();
    p.client.send_text("from client").unwrap();
    p.server.send_binary(b"from server").unwrap();
    p.server.ping(b"p").unwrap();
    let ev = p.step();
    assert_eq!(ev.server, [Ok(text("from client")), Ok(Event::Pong("p".into()))]);
    assert_eq!(
        ev.client,
        [
            Ok(Event::Message(Message::binary(&b"from server"[..]))),
            Ok(Event::Ping("p".into()))
        ]
    );
}
