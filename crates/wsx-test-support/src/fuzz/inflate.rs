//! A whole compressed message through the public API: a `Connection` with
//! permessage-deflate parameters taken from the input and `max_message_size` = 64 KiB
//! receives a frame with RSV1 set whose payload is the rest of the input.
//!
//! Input layout: `[flags, server_max_window_bits, client_max_window_bits, mask seed, payload..]`
//! - flags bit 0/1: server/client_no_context_takeover; bit 2: text (else binary);
//!   bit 3: send the same message twice (the second one inflates against the window the
//!   first left); bit 4: split the payload into a first frame and a continuation;
//!   bit 5: receive as a client (unmasked frames) instead of a server.
//! - window bits are used as given (any u8): the codec must clamp them itself.
//!
//! Invariants: never panics; each message either arrives (`len <= 64 KiB`, valid UTF-8 if
//! text) or fails with one of the documented errors for bad compressed data
//! (`InvalidCompressedData`, `MessageTooLarge`, `InvalidUtf8`), after which the
//! connection is closed. Run with `-rss_limit_mb=512 -malloc_limit_mb=256`: a
//! decompression bomb must be stopped at the limit, not after inflating it.

use wsx_proto::frame::RSV1;
use wsx_proto::{
    CloseCode, Config, Connection, DeflateParams, Error, Event, FrameHeader, Message, OpCode, Role, State,
};

const LIMIT: usize = 64 << 10;

fn frame(out: &mut Vec<u8>, fin: bool, rsv: u8, opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) {
    let h = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut buf = [0; wsx_proto::frame::MAX_HEADER_LEN];
    let n = h.encode(&mut buf);
    out.extend_from_slice(&buf[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
}

/// Runs one input; panics if an invariant above does not hold.
pub fn run(data: &[u8]) {
    let [flags, server_bits, client_bits, seed, payload @ ..] = data else {
        return;
    };
    let params = DeflateParams {
        server_no_context_takeover: flags & 1 != 0,
        client_no_context_takeover: flags & 2 != 0,
        server_max_window_bits: *server_bits,
        client_max_window_bits: *client_bits,
    };
    let text = flags & 4 != 0;
    let twice = flags & 8 != 0;
    let split = flags & 16 != 0;
    let role = if flags & 32 != 0 {
        Role::Client
    } else {
        Role::Server
    };

    let mut config = Config::default();
    config.max_message_size = LIMIT;
    let mut conn = Connection::new(role, config).with_deflate(Some(params));
    assert!(conn.is_compressed());

    let mask = (role == Role::Server).then(|| [*seed, seed.wrapping_mul(7), !*seed, seed.rotate_left(3)]);
    let opcode = if text { OpCode::Text } else { OpCode::Binary };
    let mut wire = Vec::new();
    for _ in 0..1 + twice as usize {
        if split {
            let (a, b) = payload.split_at(payload.len() / 2);
            frame(&mut wire, false, RSV1, opcode, mask, a);
            frame(&mut wire, true, 0, OpCode::Continuation, mask, b);
        } else {
            frame(&mut wire, true, RSV1, opcode, mask, payload);
        }
    }
    conn.receive(&wire);

    for _ in 0..1 + twice as usize {
        match conn.poll_event() {
            Ok(Some(Event::Message(m))) => {
                assert!(m.len() <= LIMIT, "message of {} bytes", m.len());
                assert_eq!(m.is_text(), text);
                if let Message::Text(t) = &m {
                    assert!(std::str::from_utf8(t.as_bytes()).is_ok());
                }
            }
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::InvalidCompressedData
                            | Error::MessageTooLarge { limit: LIMIT }
                            | Error::InvalidUtf8
                    ),
                    "undocumented error {e:?}"
                );
                assert_eq!(conn.state(), State::Closed);
                assert!(conn.should_close_transport());
                // The close frame we queued carries the error's code.
                let out = conn.take_output();
                let (h, n) = FrameHeader::parse(&out).unwrap().unwrap();
                assert_eq!(h.opcode, OpCode::Close);
                let mut code = [out[n], out[n + 1]];
                if let Some(k) = h.mask {
                    code[0] ^= k[0];
                    code[1] ^= k[1];
                }
                assert_eq!(Some(CloseCode(u16::from_be_bytes(code))), e.close_code());
                assert_eq!(conn.poll_event(), Ok(None));
                return;
            }
            other => panic!("a complete frame gave {other:?}"),
        }
    }
    assert_eq!(conn.poll_event(), Ok(None));
    assert_eq!(conn.state(), State::Open);
}
