//! permessage-deflate (RFC 7692) end to end: negotiated through the real opening handshake,
//! then checked frame by frame, against an independent inflater (flate2), against the RFC's
//! examples and against bytes produced by Python's zlib.

mod support;

use flate2::{Decompress, FlushDecompress};
use support::*;
use wsx_proto::handshake::{Accept, ClientRequest, Request};
use wsx_proto::{
    CloseCode, Config, Connection, DeflateConfig, DeflateParams, Error, Event, Message, OpCode, Role,
};

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A pair whose client and server deflate settings are adjusted by `client` and `server`.
fn pair(client: impl FnOnce(&mut DeflateConfig), server: impl FnOnce(&mut DeflateConfig)) -> Pair {
    let p = Pair::new(deflate_config(client), deflate_config(server));
    assert!(p.client.is_compressed() && p.server.is_compressed());
    p
}

/// Repeatable, compressible but not trivially so, text of `n` bytes.
fn prose(n: usize, seed: u32) -> String {
    const WORDS: [&str; 12] = [
        "socket ",
        "frame ",
        "deflate ",
        "mask ",
        "ping ",
        "pong ",
        "close ",
        "κόσμε ",
        "€ ",
        "window ",
        "context ",
        "takeover ",
    ];
    let mut s = String::with_capacity(n + 16);
    let mut x = seed;
    while s.len() < n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        s.push_str(WORDS[(x >> 16) as usize % WORDS.len()]);
        if x % 7 == 0 {
            s.push_str(&(x % 1000).to_string());
        }
    }
    while s.len() > n {
        s.pop();
    }
    s
}

/// Inflates one message's payload (as on the wire, tail stripped) with an independent
/// decompressor, the way RFC 7692 §7.2.2 says: append 00 00 ff ff, then inflate.
fn inflate(d: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let input = [payload, &TAIL].concat();
    let mut out = Vec::new();
    let start = d.total_in();
    loop {
        out.reserve(64 << 10);
        let pos = (d.total_in() - start) as usize;
        d.decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync)
            .expect("valid DEFLATE");
        if (d.total_in() - start) as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
    }
}

/// The payload of a message made of `frames`, checking RFC 7692 §6.1: RSV1 on the first
/// frame only, and the fragmentation rules of RFC 6455 §5.4.
fn reassemble(frames: &[Frame], opcode: OpCode) -> (bool, Vec<u8>) {
    let (first, rest) = frames.split_first().expect("a frame");
    assert_eq!(first.opcode, opcode);
    for (i, f) in rest.iter().enumerate() {
        assert_eq!(f.opcode, OpCode::Continuation);
        assert_eq!(f.rsv, 0, "RSV1 only on the first frame");
        assert_eq!(f.fin, i == rest.len() - 1);
    }
    assert_eq!(first.fin, rest.is_empty());
    assert_eq!(first.rsv & !RSV1, 0);
    let payload = frames.iter().flat_map(|f| f.payload.iter().copied()).collect();
    (first.rsv == RSV1, payload)
}

// ---- negotiation -------------------------------------------------------------------------------

#[test]
fn all_four_parameters_are_negotiated_and_used() {
    // RFC 7692 §7.1: server_no_context_takeover, client_no_context_takeover,
    // server_max_window_bits, client_max_window_bits.
    for (s_bits, c_bits) in [(10, 9), (8, 8), (15, 12), (9, 15)] {
        let mut p = pair(
            |c| {
                c.server_no_context_takeover = true;
                c.client_no_context_takeover = true;
                c.server_max_window_bits = s_bits;
                c.client_max_window_bits = c_bits;
            },
            |_| {},
        );
        assert_eq!(
            p.negotiated.server,
            Some(DeflateParams {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: s_bits,
                client_max_window_bits: c_bits,
            })
        );
        // Far-apart repeats: any window would reach back further than 2^bits.
        let msg = format!("{}{}{}", prose(300, 1), prose(40_000, 2), prose(300, 1));
        for _ in 0..2 {
            p.client.send_text(&msg).unwrap();
            p.server.send_text(&msg).unwrap();
            let ev = p.step();
            assert_eq!(ev.server, [Ok(Event::Message(Message::text(msg.as_str())))]);
            assert_eq!(ev.client, [Ok(Event::Message(Message::text(msg.as_str())))]);
        }
    }
}

#[test]
fn the_server_may_impose_parameters_the_client_did_not_ask_for() {
    // RFC 7692 §7.1.1.1: "A server MAY include the "server_no_context_takeover" extension
    // parameter in an extension negotiation response even if the extension negotiation offer
    // being accepted by the response doesn't include [it]." Likewise §7.1.1.2 for
    // client_no_context_takeover, and §7.1.2.2 for client_max_window_bits, which our clients
    // always offer.
    let mut p = pair(
        |_| {},
        |s| {
            s.server_no_context_takeover = true;
            s.client_no_context_takeover = true;
            s.server_max_window_bits = 11;
            s.client_max_window_bits = 10;
        },
    );
    assert_eq!(
        p.negotiated.client,
        Some(DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 11,
            client_max_window_bits: 10,
        })
    );
    let msg = prose(5000, 3);
    p.client.send_text(&msg).unwrap();
    p.server.send_text(&msg).unwrap();
    let ev = p.step();
    assert_eq!(ev.server, [Ok(Event::Message(Message::text(msg.as_str())))]);
    assert_eq!(ev.client, [Ok(Event::Message(Message::text(msg.as_str())))]);
}

#[test]
fn compression_is_off_unless_both_sides_want_it() {
    for (client, server) in [
        (plain_config(), Config::default()),
        (Config::default(), plain_config()),
    ] {
        let mut p = Pair::new(client, server);
        assert_eq!(p.negotiated.server, None);
        assert!(!p.client.is_compressed() && !p.server.is_compressed());
        let msg = prose(1000, 4);
        p.client.send_text(&msg).unwrap();
        assert_eq!(p.deliver(Role::Client), [Frame::text(&msg)]);
    }
}

/// A client request whose `Sec-WebSocket-Extensions` line is replaced by `offers`, and the
/// client that made it (for checking the response).
fn request_with_offers(offers: &[&str], client_deflate: DeflateConfig) -> (Vec<u8>, ClientRequest) {
    let client = ClientRequest::new("example.com", "/")
        .key(*b"0123456789abcdef")
        .deflate(Some(client_deflate.clone()));
    let wire = String::from_utf8(client.encode().unwrap()).unwrap();
    let ours = format!("Sec-WebSocket-Extensions: {}\r\n", client_deflate.offer());
    assert!(wire.contains(&ours));
    let lines: String = offers
        .iter()
        .map(|o| format!("Sec-WebSocket-Extensions: {o}\r\n"))
        .collect();
    (wire.replace(&ours, &lines).into_bytes(), client)
}

#[test]
fn the_first_acceptable_offer_wins() {
    // RFC 7692 §5.1: the client may send several offers "in order of preference"; the server
    // "accepts" at most one. Declined offers: another extension, an invalid value, an
    // unknown parameter. Offers may come in one header or in several (RFC 9110 §5.3).
    let offers = "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=16, \
                  permessage-deflate; unknown_param, \
                  permessage-deflate; server_max_window_bits=10; client_max_window_bits, \
                  permessage-deflate";
    let split: Vec<&str> = offers.split(", ").collect();
    for lines in [vec![offers], split] {
        let mut client_deflate = DeflateConfig::default();
        client_deflate.server_max_window_bits = 10;
        let (wire, client) = request_with_offers(&lines, client_deflate.clone());
        let config = Config::default();
        let (request, _) = Request::parse(&wire, &config).unwrap().unwrap();
        let accepted = request
            .accept(&Accept::new().deflate(config.deflate.as_ref()))
            .unwrap();
        let params = DeflateParams {
            server_max_window_bits: 10,
            ..DeflateParams::default()
        };
        assert_eq!(accepted.deflate, Some(params));
        let text = String::from_utf8(accepted.response.clone()).unwrap();
        let header = "\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n";
        assert!(text.contains(header));

        let mut client_config = Config::default();
        client_config.deflate = Some(client_deflate);
        let response = client
            .parse_response(&accepted.response, &client_config)
            .unwrap()
            .unwrap();
        assert_eq!(response.deflate, Some(params));

        let mut server = Connection::new(Role::Server, config).with_deflate(accepted.deflate);
        let mut client = client_with(client_config).with_deflate(response.deflate);
        let msg = prose(3000, 5);
        server.send_text(&msg).unwrap();
        let got = feed(&mut client, &server.take_output());
        assert_eq!(got, [Ok(Event::Message(Message::text(msg.as_str())))]);
    }
}

#[test]
fn no_acceptable_offer_means_no_compression() {
    let (wire, client) = request_with_offers(
        &["permessage-deflate; server_max_window_bits=7, permessage-deflate; x=1"],
        DeflateConfig::default(),
    );
    let config = Config::default();
    let (request, _) = Request::parse(&wire, &config).unwrap().unwrap();
    let accepted = request
        .accept(&Accept::new().deflate(config.deflate.as_ref()))
        .unwrap();
    assert_eq!(accepted.deflate, None);
    assert!(!String::from_utf8_lossy(&accepted.response).contains("Extensions"));
    let response = client
        .parse_response(&accepted.response, &config)
        .unwrap()
        .unwrap();
    assert_eq!(response.deflate, None);
}

// ---- on the wire -------------------------------------------------------------------------------

#[test]
fn context_takeover_makes_a_repeated_message_smaller() {
    // RFC 7692 §7.1.1: with context takeover the LZ77 window carries over between messages,
    // so a repeat compresses to little more than a back-reference; without it, each message
    // stands alone and a repeat costs as much as the first.
    for client_nct in [false, true] {
        for server_nct in [false, true] {
            let mut p = pair(
                |c| {
                    c.client_no_context_takeover = client_nct;
                    c.server_no_context_takeover = server_nct;
                },
                |_| {},
            );
            let msg = prose(400, 6);
            let mut sizes: [Vec<usize>; 2] = Default::default();
            for _ in 0..3 {
                for (side, from) in [Role::Client, Role::Server].into_iter().enumerate() {
                    p.side(from).send_text(&msg).unwrap();
                    let frames = p.deliver(from);
                    assert_eq!(frames.len(), 1);
                    assert_eq!(frames[0].rsv, RSV1);
                    sizes[side].push(frames[0].payload.len());
                }
                let ev = p.step();
                assert_eq!(ev.client, [Ok(Event::Message(Message::text(msg.as_str())))]);
                assert_eq!(ev.server, [Ok(Event::Message(Message::text(msg.as_str())))]);
            }
            for (side, nct) in [(0, client_nct), (1, server_nct)] {
                let [first, second, third] = sizes[side][..] else {
                    unreachable!()
                };
                if nct {
                    assert_eq!((first, first), (second, third), "{sizes:?}");
                } else {
                    assert!(second < first / 4 && third < first / 4, "{sizes:?}");
                }
            }
        }
    }
}

#[test]
fn compressed_payloads_drop_the_sync_tail_and_inflate_independently() {
    // RFC 7692 §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end";
    // §7.2.2: the receiver appends them back before inflating.
    for from in [Role::Client, Role::Server] {
        let mut p = Pair::compressed();
        let mut independent = Decompress::new(false);
        for (i, len) in [64, 100, 1000, 20_000, 64].into_iter().enumerate() {
            let msg = prose(len, i as u32);
            p.side(from).send_text(&msg).unwrap();
            let frames = p.deliver(from);
            let (compressed, payload) = reassemble(&frames, OpCode::Text);
            assert!(compressed);
            assert!(!payload.ends_with(&TAIL), "tail stripped");
            assert!(len < 1000 || payload.len() < msg.len() / 2);
            assert_eq!(inflate(&mut independent, &payload), msg.as_bytes());
        }
    }
}

#[test]
fn compressed_messages_are_fragmented_with_rsv1_on_the_first_frame_only() {
    // RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control
    // frames and non-first fragments of a data message."
    for from in [Role::Client, Role::Server] {
        let mut config = Config::default();
        config.fragment_size = Some(50);
        let mut p = Pair::new(config.clone(), config);
        let mut independent = Decompress::new(false);
        let msg = prose(3000, 7);
        let bin: Vec<u8> = prose(500, 8).into_bytes();
        p.side(from).send_text(&msg).unwrap();
        p.side(from).ping(b"between").unwrap();
        p.side(from).send_binary(&bin).unwrap();
        let frames = p.deliver(from);
        let ping_at = frames.iter().position(|f| f.opcode == OpCode::Ping).unwrap();
        assert_eq!(frames[ping_at], Frame::ping("between"));
        let (c1, text_payload) = reassemble(&frames[..ping_at], OpCode::Text);
        let (c2, bin_payload) = reassemble(&frames[ping_at + 1..], OpCode::Binary);
        assert!(c1 && c2);
        assert!(ping_at > 2, "several fragments");
        assert!(frames.iter().all(|f| f.payload.len() <= 50));
        assert_eq!(inflate(&mut independent, &text_payload), msg.as_bytes());
        assert_eq!(inflate(&mut independent, &bin_payload), bin);
        let to = match from {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        assert_eq!(
            poll_all(p.side(to)),
            [
                Ok(Event::Message(Message::text(msg.as_str()))),
                Ok(Event::Ping("between".into())),
                Ok(Event::Message(Message::binary(bin))),
            ]
        );
    }
}

#[test]
fn messages_under_the_threshold_are_sent_uncompressed() {
    // RFC 7692 §6: "An endpoint ... MAY decide not to compress" a message; RSV1 clear means
    // uncompressed. The default threshold is 64 bytes.
    let mut p = Pair::compressed();
    let small = "x".repeat(63);
    let big = "x".repeat(64);
    p.client.send_text(&small).unwrap();
    p.client.send_text(&big).unwrap();
    p.client.send_binary(b"").unwrap();
    let frames = p.deliver(Role::Client);
    assert_eq!(frames[0], Frame::text(&small));
    assert_eq!(frames[1].rsv, RSV1);
    assert!(frames[1].payload.len() < 64);
    assert_eq!(frames[2], Frame::binary(""));
    assert_eq!(
        poll_all(&mut p.server),
        [
            Ok(Event::Message(Message::text(small.as_str()))),
            Ok(Event::Message(Message::text(big.as_str()))),
            Ok(Event::Message(Message::binary(vec![]))),
        ]
    );
    // A custom threshold. Messages that would not shrink ("" and "a" become 1 and 3
    // bytes) go out uncompressed whatever the threshold.
    for threshold in [0, 1, 1000] {
        let mut p = pair(|_| {}, |s| s.threshold = threshold);
        for msg in ["", "a", &"y".repeat(999), &"y".repeat(1000)] {
            p.server.send_text(msg).unwrap();
            let frames = p.deliver(Role::Server);
            assert_eq!(
                frames[0].rsv == RSV1,
                msg.len() >= threshold && msg.len() > 1,
                "{threshold} {}",
                msg.len()
            );
            assert_eq!(poll_all(&mut p.client), [Ok(Event::Message(Message::text(msg)))]);
        }
    }
}

#[test]
fn incompressible_messages_go_out_plain_between_compressed_ones() {
    // An empty message would compress to "0x00" (RFC 7692 §7.2.3.6), one byte more than
    // sending it plain; "y" likewise. Both go out with RSV1 clear, and the compressed
    // messages around them still inflate: the compressor forgot what it did not send.
    for nct in [false, true] {
        let mut p = pair(|c| c.server_no_context_takeover = nct, |s| s.threshold = 0);
        let msgs = ["", "", &"x".repeat(100), "", "", &"x".repeat(100), "y", ""];
        for m in msgs {
            p.server.send_text(m).unwrap();
        }
        let frames = p.deliver(Role::Server);
        for (f, m) in frames.iter().zip(msgs) {
            assert_eq!(f.rsv == RSV1, m.len() == 100, "{m:?}");
        }
        let expected: Vec<_> = msgs.iter().map(|m| text_event(m)).collect();
        assert_eq!(poll_all(&mut p.client), expected);
    }
}

#[test]
fn shrinking_buffers_between_messages_keeps_both_sides_in_step() {
    // Without context takeover the zlib state may be dropped between messages; with it, it
    // must not be. Either way messages keep decoding.
    for nct in [false, true] {
        let mut p = pair(
            |c| {
                c.client_no_context_takeover = nct;
                c.server_no_context_takeover = nct;
            },
            |_| {},
        );
        for i in 0..4 {
            let msg = prose(2000, 9 + i);
            p.client.send_text(&msg).unwrap();
            p.server.send_text(&msg).unwrap();
            let ev = p.step();
            assert_eq!(ev.server, [Ok(Event::Message(Message::text(msg.as_str())))]);
            assert_eq!(ev.client, [Ok(Event::Message(Message::text(msg.as_str())))]);
            p.client.shrink_buffers();
            p.server.shrink_buffers();
        }
    }
}

// ---- receiving hand-crafted and foreign compressed data --------------------------------------

/// A client that negotiated `params` (frames from the server are unmasked).
fn deflate_client(params: DeflateParams) -> Connection {
    client_with(Config::default()).with_deflate(Some(params))
}

fn text_event(s: &str) -> Result<Event, Error> {
    Ok(Event::Message(Message::text(s)))
}

#[test]
fn rfc_7692_examples_inflate() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut c = deflate_client(DeflateParams::default());
    // §7.2.3.1: "A message compressed using 1 compressed DEFLATE block" and its fragments.
    let mut wire = server_frame(true, RSV1, op::TEXT, &hello);
    wire.extend(server_frame(false, RSV1, op::TEXT, &hello[..3]));
    wire.extend(server_frame(true, 0, op::CONT, &hello[3..]));
    // §7.2.3.2: "Sharing LZ77 Sliding Window": the second "Hello" refers to the first.
    wire.extend(server_frame(
        true,
        RSV1,
        op::TEXT,
        &[0xf2, 0x00, 0x11, 0x00, 0x00],
    ));
    // §7.2.3.3: "Using a DEFLATE Block with No Compression".
    wire.extend(server_frame(
        true,
        RSV1,
        op::TEXT,
        &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00],
    ));
    // §7.2.3.5: "Two DEFLATE Blocks in 1 Message".
    wire.extend(server_frame(
        true,
        RSV1,
        op::TEXT,
        &[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ],
    ));
    // §7.2.3.4: "Using a DEFLATE Block with BFINAL Set to 1".
    wire.extend(server_frame(
        true,
        RSV1,
        op::TEXT,
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
    ));
    // §7.2.3.6 is an empty message: a single 0x00.
    wire.extend(server_frame(true, RSV1, op::BINARY, &[0x00]));
    let mut expected = vec![text_event("Hello"); 6];
    expected.push(Ok(Event::Message(Message::binary(vec![]))));
    assert_eq!(feed(&mut c, &wire), expected);
    // And the stream goes on after the BFINAL block.
    assert_eq!(
        feed(&mut c, &server_frame(true, RSV1, op::TEXT, &hello)),
        [text_event("Hello")]
    );
}

#[test]
fn a_final_block_does_not_derail_the_messages_after_it() {
    // RFC 7692 §7.2.3.4: "On platforms on which the flush method using an empty DEFLATE block
    // with no compression is not available, implementors can choose to flush data using
    // DEFLATE blocks with "BFINAL" set to 1." The final 0x00 octet "contains the header bits
    // with "BFINAL" set to 0 and "BTYPE" set to 00 ... to allow the payload to be
    // decompressed in the same manner as messages flushed using DEFLATE blocks with "BFINAL"
    // unset."
    let final_hello = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut c = deflate_client(DeflateParams::default());
    let mut wire = server_frame(true, RSV1, op::TEXT, &final_hello);
    wire.extend(server_frame(true, RSV1, op::BINARY, &[0x00])); // empty
    wire.extend(server_frame(true, RSV1, op::TEXT, &final_hello));
    wire.extend(server_frame(true, RSV1, op::TEXT, &hello));
    // The padding octet in a fragment of its own.
    wire.extend(server_frame(false, RSV1, op::TEXT, &final_hello[..7]));
    wire.extend(server_frame(true, 0, op::CONT, &final_hello[7..]));
    wire.extend(server_frame(true, RSV1, op::TEXT, &hello));
    // Without the padding octet (not what §7.2.1 asks of a sender, but unambiguous).
    wire.extend(server_frame(true, RSV1, op::TEXT, &final_hello[..7]));
    wire.extend(server_frame(true, RSV1, op::TEXT, &hello));
    let mut expected = vec![text_event("Hello")];
    expected.push(Ok(Event::Message(Message::binary(vec![]))));
    expected.extend(vec![text_event("Hello"); 6]);
    assert_eq!(feed(&mut c, &wire), expected);
}

/// Produced offline by Python 3 / zlib 1.2.13:
///
/// ```python
/// m = ("The quick brown fox jumps over the lazy dog. " * 4 + "Ünïcödé €𝄞").encode()
/// c = zlib.compressobj(6, zlib.DEFLATED, -15)
/// w1 = (c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
/// w2 = (c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]   # same message, shared window
/// ```
const PY_W1: [u8; 70] = [
    0x0a, 0xc9, 0x48, 0x55, 0x28, 0x2c, 0xcd, 0x4c, 0xce, 0x56, 0x48, 0x2a, 0xca, 0x2f, 0xcf, 0x53, 0x48,
    0xcb, 0xaf, 0x50, 0xc8, 0x2a, 0xcd, 0x2d, 0x28, 0x56, 0xc8, 0x2f, 0x4b, 0x2d, 0x52, 0x28, 0x01, 0x4a,
    0xe7, 0x24, 0x56, 0x55, 0x2a, 0xa4, 0xe4, 0xa7, 0xeb, 0x29, 0x84, 0x0c, 0x0e, 0xc5, 0x87, 0xe7, 0xe4,
    0x1d, 0x5e, 0x9f, 0x7c, 0x78, 0x5b, 0xca, 0xe1, 0x95, 0x0a, 0x8f, 0x9a, 0xd6, 0x7c, 0x98, 0xdb, 0x32,
    0x0f, 0x00,
];
const PY_W2: [u8; 8] = [0x1a, 0x24, 0x2e, 0xa3, 0xd4, 0x1b, 0x00, 0x00];

/// `zlib.compressobj(1, zlib.DEFLATED, -9)` on `b"abcabcabc" * 50`, tail removed.
const PY_W9: [u8; 13] = [
    0x4a, 0x4c, 0x4a, 0x4e, 0x1c, 0x45, 0x49, 0xc9, 0x89, 0x43, 0x16, 0x01, 0x00,
];

fn py_message() -> String {
    "The quick brown fox jumps over the lazy dog. ".repeat(4) + "Ünïcödé €𝄞"
}

#[test]
fn python_zlib_output_inflates() {
    let m = py_message();
    // One frame each; the second message only makes sense with the first one's window.
    let mut c = deflate_client(DeflateParams::default());
    let mut wire = server_frame(true, RSV1, op::TEXT, &PY_W1);
    wire.extend(server_frame(true, RSV1, op::TEXT, &PY_W2));
    assert_eq!(feed(&mut c, &wire), [text_event(&m), text_event(&m)]);

    // The same, fragmented at every possible point and fed one byte at a time, with a ping
    // between the fragments (the split falls inside multi-byte characters too).
    for cut in 0..=PY_W1.len() {
        let mut c = deflate_client(DeflateParams::default());
        let mut wire = server_frame(false, RSV1, op::TEXT, &PY_W1[..cut]);
        wire.extend(server_frame(true, 0, op::PING, b""));
        wire.extend(server_frame(true, 0, op::CONT, &PY_W1[cut..]));
        wire.extend(server_frame(true, RSV1, op::TEXT, &PY_W2));
        let mut got = Vec::new();
        for b in &wire {
            got.extend(feed(&mut c, std::slice::from_ref(b)));
        }
        assert_eq!(
            got,
            [Ok(Event::Ping("".into())), text_event(&m), text_event(&m)],
            "cut at {cut}"
        );
    }

    // A 9-bit window, as negotiated with server_max_window_bits=9.
    let mut c = deflate_client(DeflateParams {
        server_max_window_bits: 9,
        ..DeflateParams::default()
    });
    assert_eq!(
        feed(&mut c, &server_frame(true, RSV1, op::BINARY, &PY_W9)),
        [Ok(Event::Message(Message::binary(b"abcabcabc".repeat(50))))]
    );
}

#[test]
fn python_zlib_output_without_its_window_fails() {
    // The second message refers back to the first; without context takeover (or without
    // the first message) that is a distance too far back: invalid data, 1007.
    let mut c = deflate_client(DeflateParams::default());
    let got = feed(&mut c, &server_frame(true, RSV1, op::TEXT, &PY_W2));
    assert_eq!(got, [Err(Error::InvalidCompressedData)]);
    assert_failed_with(&mut c, 1007);

    let mut c = deflate_client(DeflateParams {
        server_no_context_takeover: true,
        ..DeflateParams::default()
    });
    let mut wire = server_frame(true, RSV1, op::TEXT, &PY_W1);
    wire.extend(server_frame(true, RSV1, op::TEXT, &PY_W2));
    let got = feed(&mut c, &wire);
    assert_eq!(
        got,
        [text_event(&py_message()), Err(Error::InvalidCompressedData)]
    );
}

#[test]
fn garbage_compressed_data_fails_with_1007() {
    // RFC 7692 §8.2.3.x / RFC 6455 §7.4.1: 1007 for data "not consistent with the type of
    // the message".
    for payload in [
        &[0xff, 0xff, 0xff, 0xff][..],
        &[0x07],
        &[0x00, 0x05, 0x00, 0x00, 0x00, 1],
    ] {
        let mut c = deflate_client(DeflateParams::default());
        let got = feed(&mut c, &server_frame(true, RSV1, op::BINARY, payload));
        assert_eq!(got, [Err(Error::InvalidCompressedData)], "{payload:x?}");
        assert_eq!(
            Error::InvalidCompressedData.close_code(),
            Some(CloseCode::INVALID_PAYLOAD)
        );
        assert_failed_with(&mut c, 1007);
    }
}

#[test]
fn compressed_text_that_is_not_utf8_fails_with_1007() {
    // A stored block holding "ok" then 0xff.
    let stored = [0x00, 0x03, 0x00, 0xfc, 0xff, b'o', b'k', 0xff];
    let mut c = deflate_client(DeflateParams::default());
    let got = feed(&mut c, &server_frame(true, RSV1, op::TEXT, &stored));
    assert_eq!(got, [Err(Error::InvalidUtf8)]);
    assert_failed_with(&mut c, 1007);
    // The same bytes as binary are fine.
    let mut c = deflate_client(DeflateParams::default());
    let got = feed(&mut c, &server_frame(true, RSV1, op::BINARY, &stored));
    assert_eq!(got, [Ok(Event::Message(Message::binary(&b"ok\xff"[..])))]);
    // A character split across two compressed fragments is fine.
    let euro = "€".as_bytes();
    let mut c = deflate_client(DeflateParams::default());
    let mut wire = server_frame(false, RSV1, op::TEXT, &[0x00, 0x01, 0x00, 0xfe, 0xff, euro[0]]);
    wire.extend(server_frame(
        true,
        0,
        op::CONT,
        &[0x00, 0x02, 0x00, 0xfd, 0xff, euro[1], euro[2]],
    ));
    assert_eq!(feed(&mut c, &wire), [text_event("€")]);
}

#[test]
fn compressed_message_size_is_checked_after_inflating() {
    // Config::max_message_size counts inflated bytes; small limits included.
    for limit in [1, 100, 255, 256, 1000, usize::MAX] {
        let mut config = Config::default();
        config.max_message_size = limit;
        let mut s = server_with(config).with_deflate(Some(DeflateParams::default()));
        let mut sender = client_with(Config::default()).with_deflate(Some(DeflateParams::default()));
        let fits = "z".repeat(limit.clamp(64, 100_000));
        sender.send_text(&fits).unwrap();
        let got = feed(&mut s, &sender.take_output());
        if fits.len() <= limit {
            assert_eq!(got, [text_event(&fits)], "limit {limit}");
        } else {
            assert_eq!(got, [Err(Error::MessageTooLarge { limit })], "limit {limit}");
            assert_failed_with(&mut s, 1009);
            continue;
        }
        if limit == usize::MAX {
            continue;
        }
        sender.send_text(&"z".repeat(limit + 1)).unwrap();
        let got = feed(&mut s, &sender.take_output());
        assert_eq!(got, [Err(Error::MessageTooLarge { limit })], "limit {limit}");
        assert_failed_with(&mut s, 1009);
    }
}

#[test]
fn compressed_messages_interleave_with_uncompressed_ones() {
    // RSV1 is per message: a compressed message, an uncompressed one, a compressed one.
    let mut c = deflate_client(DeflateParams::default());
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut wire = server_frame(true, RSV1, op::TEXT, &hello);
    wire.extend(server_frame(false, 0, op::TEXT, b"plain "));
    wire.extend(server_frame(true, 0, op::CONT, b"text"));
    wire.extend(server_frame(
        true,
        RSV1,
        op::TEXT,
        &[0xf2, 0x00, 0x11, 0x00, 0x00],
    ));
    assert_eq!(
        feed(&mut c, &wire),
        [text_event("Hello"), text_event("plain text"), text_event("Hello")]
    );
}
