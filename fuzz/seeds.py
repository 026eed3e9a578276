#!/usr/bin/env python3
"""Regenerates the seed corpora under fuzz/corpus/<target>/seed-* (python3 stdlib only).

    python3 fuzz/seeds.py

Removes the old seed-* files first; corpus entries that libFuzzer added (named by their
SHA-1) are left alone and are not committed (see .gitignore).
"""

import base64
import hashlib
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The key of the ClientRequest in fuzz_targets/handshake.rs: bytes 0..16.
CLIENT_KEY = base64.b64encode(bytes(range(16)))
RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 section 5.7


def accept(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def mask(payload: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload=b"", fin=True, rsv1=False, key=None, length=None):
    """One frame; `length` overrides the declared length (for truncated frames)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    m = 0x80 if key else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 1 << 16:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if key:
        return head + key + mask(payload, key)
    return head + payload


def deflate(data: bytes, wbits=15, level=6, final=False) -> bytes:
    """permessage-deflate payload: raw DEFLATE, sync-flushed, 00 00 ff ff removed."""
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    out = c.compress(data)
    if final:
        return out + c.flush(zlib.Z_FINISH)
    out += c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def http(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
HELLO = b"Hello"


def frame_header_seeds():
    return {
        # RFC 6455 section 5.7, byte for byte.
        "rfc-unmasked-text": frame(TEXT, HELLO),
        "rfc-masked-text": frame(TEXT, HELLO, key=MASK),
        "rfc-fragment-1": frame(TEXT, b"Hel", fin=False),
        "rfc-fragment-2": frame(CONT, b"lo"),
        "rfc-unmasked-ping": frame(PING, HELLO),
        "rfc-masked-pong": frame(PONG, HELLO, key=MASK),
        "rfc-256-binary": frame(BINARY, length=256),
        "rfc-64k-binary": frame(BINARY, length=65536),
        "masked-64bit-rsv1": frame(BINARY, rsv1=True, key=MASK, length=1 << 40),
        "close-1000": frame(CLOSE, b"\x03\xe8", key=MASK),
        "reserved-opcode": b"\x83\x00",
        "non-minimal-16": b"\x82\x7e\x00\x7d",
    }


def handshake_seeds():
    def chrome(key):
        return http(
            "GET /chat HTTP/1.1",
            "Host: example.com:8000",
            "Connection: Upgrade",
            "Pragma: no-cache",
            "Cache-Control: no-cache",
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            "Upgrade: websocket",
            "Origin: http://example.com:8000",
            "Sec-WebSocket-Version: 13",
            "Accept-Encoding: gzip, deflate, br, zstd",
            "Accept-Language: en-US,en;q=0.9",
            "Sec-WebSocket-Key: " + key.decode(),
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        )

    def response(key, *extra):
        return http(
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Accept: " + accept(key).decode(),
            *extra,
        )

    return {
        "rfc-request": http(
            "GET /chat HTTP/1.1",
            "Host: server.example.com",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: " + RFC_KEY.decode(),
            "Origin: http://example.com",
            "Sec-WebSocket-Protocol: chat, superchat",
            "Sec-WebSocket-Version: 13",
        ),
        "chrome-request": chrome(RFC_KEY),
        "firefox-request": http(
            "GET /socket?room=1 HTTP/1.1",
            "Host: example.com",
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Accept: */*",
            "Accept-Language: en-US,en;q=0.5",
            "Accept-Encoding: gzip, deflate, br",
            "Sec-WebSocket-Version: 13",
            "Origin: https://example.com",
            "Sec-WebSocket-Protocol: wsx.v1",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=\"12\", "
            "permessage-deflate",
            "Sec-WebSocket-Key: " + CLIENT_KEY.decode(),
            "Connection: keep-alive, Upgrade",
            "Sec-Fetch-Dest: empty",
            "Sec-Fetch-Mode: websocket",
            "Sec-Fetch-Site: same-origin",
            "Pragma: no-cache",
            "Cache-Control: no-cache",
            "Upgrade: websocket",
        ),
        "request-http10-post": http(
            "POST / HTTP/1.0",
            "Host: h",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: short",
            "Sec-WebSocket-Version: 8",
        ),
        "request-with-frames": chrome(CLIENT_KEY) + frame(TEXT, HELLO, key=MASK),
        "response-101": response(CLIENT_KEY),
        "response-101-chat-deflate": response(
            CLIENT_KEY,
            "Sec-WebSocket-Protocol: chat",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12",
        ),
        "response-101-strict-deflate": response(
            CLIENT_KEY,
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10",
        ),
        "response-101-rfc": response(RFC_KEY, "Sec-WebSocket-Protocol: chat"),
        "response-403": b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden",
        "offer-list": b"permessage-deflate; client_no_context_takeover; server_max_window_bits=\"15\", "
        b"x-webkit-deflate-frame, permessage-deflate",
        "offer-bad-params": b"permessage-deflate; server_max_window_bits=08; foo, permessage-deflate; "
        b"client_max_window_bits; client_max_window_bits",
    }


def inflate_seeds():
    # [flags, server_max_window_bits, client_max_window_bits, mask seed] + payload.
    # flags: 1 server_nct, 2 client_nct, 4 text, 8 twice, 16 split, 32 client role.
    def s(flags, payload, sbits=15, cbits=15):
        return bytes([flags, sbits, cbits, 0x5A]) + payload

    prose = b"permessage-deflate compresses each message; " * 20
    return {
        "rfc-hello": s(4, bytes.fromhex("f248cdc9c90700")),
        "rfc-hello-twice": s(4 | 8, bytes.fromhex("f248cdc9c90700")),
        "rfc-empty": s(0, b"\x00"),
        "rfc-stored-block": s(4, b"\x00\x05\x00\xfa\xff" + HELLO),
        "prose-w15": s(4, deflate(prose)),
        "prose-w9-split": s(4 | 16, deflate(prose, wbits=9), sbits=9, cbits=9),
        "prose-client-nct": s(4 | 8 | 32 | 1, deflate(prose, wbits=10), sbits=10, cbits=8),
        "binary-final-block": s(0, deflate(bytes(range(256)) * 4, final=True)),
        "bomb-1mib-zeros": s(0, deflate(b"\x00" * (1 << 20), level=9)),
        "invalid-utf8-text": s(4, deflate(b"valid, then \xc0\xaf invalid")),
        "garbage": s(0, b"\xff\xff\xff\xff\x12"),
    }


def connection_seeds():
    # [cfg0, cfg1, k, ctrl * k] + wire. cfg0: 1 client, 2 deflate, 4 nct, 8 small windows,
    # 16 no auto_pong, 32 fragment_size 7, 0x40/0x80 smaller max_message_size.
    # cfg1: 3 max_frame_size, 4 idle timeout, 8 EOF at end, 16 compress all, 32 no limit,
    # 64 poll_event_ref.
    def s(cfg0, cfg1, wire, ctrl=b""):
        return bytes([cfg0, cfg1, len(ctrl)]) + ctrl + wire

    close = frame(CLOSE, b"\x03\xe8bye", key=MASK)
    hello_z = bytes.fromhex("f248cdc9c90700")
    again_z = bytes.fromhex("f200110000")  # RFC 7692 7.2.3.2: "Hello" from the window
    text_z = deflate("καλημέρα κόσμε, ".encode() * 30)
    return {
        "server-rfc-text-ping-close": s(
            0, 0, frame(TEXT, HELLO, key=MASK) + frame(PING, HELLO, key=MASK) + close
        ),
        "server-fragmented-with-ping": s(
            0,
            0,
            frame(TEXT, b"Hel", fin=False, key=MASK)
            + frame(PING, b"", key=MASK)
            + frame(CONT, "lo wörld".encode(), fin=False, key=MASK)
            + frame(CONT, b"!", key=b"\x00\x00\x00\x00"),
        ),
        "server-16bit-binary": s(0, 0, frame(BINARY, bytes(range(256)) * 2, key=MASK) + close),
        "server-64bit-partial": s(0, 8, frame(BINARY, b"\xab" * 300, key=MASK, length=70000)),
        "client-rfc-frames": s(
            1,
            0,
            frame(TEXT, b"Hel", fin=False)
            + frame(CONT, b"lo")
            + frame(PING, HELLO)
            + frame(PONG, HELLO)
            + frame(CLOSE, b"\x03\xe8"),
        ),
        "client-closes-first": s(1, 0, frame(CLOSE, b"\x03\xe9"), ctrl=bytes([0xC0 | 1, 0xE0 | 5])),
        "server-deflate-context": s(
            2,
            0,
            frame(TEXT, hello_z, rsv1=True, key=MASK)
            + frame(TEXT, again_z, rsv1=True, key=MASK)
            + frame(TEXT, text_z[:10], rsv1=True, fin=False, key=MASK)
            + frame(CONT, text_z[10:], key=MASK),
        ),
        "client-deflate-nct-small": s(
            1 | 2 | 4 | 8 | 32,
            16,
            frame(BINARY, deflate(b"abc" * 200, wbits=10), rsv1=True) + frame(TEXT, HELLO),
            ctrl=bytes([0x80 | 20, 0xA0 | 9, 0xA0 | 12, 0x20 | 4]),
        ),
        "server-keepalive-timeout": s(
            0, 4, frame(PONG, b"", key=MASK), ctrl=bytes([0xE0 | 0, 0xE0 | 31, 0xE0 | 31, 0xE0 | 31])
        ),
        "server-unmasked": s(0, 0, frame(TEXT, HELLO)),
        "server-bad-utf8-split": s(
            0, 0, frame(TEXT, b"ok \xe2\x82", fin=False, key=MASK) + frame(CONT, b"\x28", key=MASK),
            ctrl=bytes([0x60 | 3, 0x40 | 2]),
        ),
        "server-limits": s(0x80, 1, frame(BINARY, b"x" * 400, key=MASK)),
        # cfg1 0x40: poll_event_ref; ctrl action 2 leaves one borrowed event outstanding.
        "server-poll-ref-lent": s(
            0,
            0x40,
            frame(TEXT, HELLO, key=MASK)
            + frame(BINARY, b"\x00\x01\x02", key=MASK)
            + frame(PING, b"p", key=MASK)
            + frame(TEXT, "wörld".encode(), key=MASK)
            + close,
            ctrl=bytes([0x40 | 10, 0x40 | 5, 0x40 | 2, 0x40 | 1]),
        ),
        "server-deflate-poll-ref": s(
            2,
            0x40,
            frame(TEXT, hello_z, rsv1=True, key=MASK)
            + frame(BINARY, again_z, rsv1=True, key=MASK)
            + frame(TEXT, text_z, rsv1=True, key=MASK),
            ctrl=bytes([0x40 | 13, 0x40 | 11, 0x40 | 31]),
        ),
        "server-deflate-bomb": s(2 | 0x40, 0, frame(BINARY, deflate(b"\x00" * (1 << 16), level=9), rsv1=True, key=MASK)),
    }


def api_seeds():
    # [cfg0, cfg1, cfg2] + ops; see crates/wsx-test-support/src/fuzz/api.rs for the layout.
    # cfg0: 1 A client, 2 deflate, 4 server nct, 8 client nct, 16 small windows,
    # 32 A no auto_pong, 64 A fragment 7, 128 pair. cfg1: 7 A limits, 0x38 B limits,
    # 0xc0 compression. cfg2: 1 idle, 2 no keepalive, 4 B no auto_pong, 8 B fragment,
    # 16 A holds, 32 B holds, 64 short timers.
    B = 0x80  # an op on connection B

    def s(cfg0, cfg1, cfg2, *ops):
        return bytes([cfg0, cfg1, cfg2]) + b"".join(bytes(o) if isinstance(o, list) else o for o in ops)

    def write(data, how=0, poll=True, by_ref=False, side=0):  # op 0
        return bytes([side | 0, len(data), how | (4 if poll else 0) | (8 if by_ref else 0)]) + data

    def poll(n=0, by_ref=False, side=0):  # op 5
        return bytes([side | 5, n | (16 if by_ref else 0)])

    def send_text(t, side=0):  # op 7
        return bytes([side | 7, len(t)]) + t

    def send_binary(b, side=0):  # op 8
        return bytes([side | 8, len(b)]) + b

    def pump(rounds=1, by_ref=False):  # op 21
        return bytes([21, (rounds - 1) | (8 if by_ref else 0)])

    hello_frame_masked = frame(TEXT, "héllo wörld".encode(), key=MASK)
    return {
        # The unsoundness of the old `&mut BytesMut`: half a text frame, polled (so its
        # bytes are validated), bytes written into chunk_mut but not advanced over, the
        # rest of the frame; then the same through put_slice and chunk_mut + advance_mut.
        "server-validated-then-chunk-writes": s(
            0, 0, 0x10,
            write(hello_frame_masked[:9], how=3),
            bytes([1, 4]) + b"\xff\xff\xff\xff" + b"\x00",  # chunk_mut, advance 0
            write(hello_frame_masked[9:], how=1),
            bytes([1, 4]) + b"\x82\x80\x00\x00" + b"\x04",  # chunk_mut, advance 4: a header
            bytes([1, 2]) + b"\x00\x00" + b"\x02",
            poll(),
        ),
        "client-text-split-put-slice-by-ref": s(
            1, 0, 0,
            write(frame(TEXT, "καλημέρα".encode())[:5], how=1, by_ref=True),
            bytes([2, 0x80 | 3]),  # reserve 3 KiB
            write(frame(TEXT, "καλημέρα".encode())[5:], how=2, by_ref=True),
            write(frame(PING, b"ping") + frame(BINARY, b"\x00\xff"), how=3, poll=False),
            poll(1, by_ref=True), write(frame(PONG, b"p"), how=0, poll=False), poll(0, by_ref=True),
        ),
        "pair-text-binary-roundtrip": s(
            0x80, 0, 0,
            send_text("hello wörld".encode()), send_binary(bytes(range(40))),
            send_text(b"from B", side=B), bytes([6, 2 * 19 + 1, 1]),  # send: text of 4096 B
            pump(2),
            bytes([B | 6, 2 * 18, 0]),  # send: binary of 2048 B (queued by reference)
            bytes([B | 20, 2, 0, 100]), bytes([B | 20, 1, 1, 0]), bytes([B | 20, 7, 0, 7]),  # io_slices
            bytes([B | 19, 1]),  # take_output, piped
            poll(),
        ),
        "pair-deflate-server-nct-prepared": s(
            0x80 | 2 | 4, 0x40, 0x30,
            bytes([9, 2, 30]) + b"a prepared broadcast message " + b"!",
            bytes([B | 9, 1]),  # the same prepared message, from the client
            bytes([9, 1]), bytes([6, 2 * 21 + 1, 1]),
            pump(2),
            bytes([B | 6, 2 * 24, 0]), bytes([B | 7, 12]) + "κόσμε 🦀".encode(),
            pump(2, by_ref=True),
        ),
        "pair-deflate-context-takeover-fragmented": s(
            0x80 | 1 | 2 | 16 | 64, 0x80 | (2 << 3) | 2, 0x08,
            bytes([6, 2 * 14 + 1, 1]), bytes([6, 2 * 22, 0]), bytes([B | 6, 2 * 12 + 1, 0]),
            bytes([18]), bytes([B | 18]),  # shrink_buffers between messages
            pump(3),
            bytes([6, 2 * 14 + 1, 1]), pump(1),
        ),
        "pair-close-handshake": s(
            0x80, 0, 0,
            send_text(b"last words"), bytes([14, 1 | (3 << 3)]),  # close 1000 with a reason
            bytes([7, 3]) + b"bye",  # fails: closing
            pump(1),
            bytes([B | 10, 3]) + b"png",  # fails: closed
            pump(2),
            write(b"\x88\x80\x00\x00\x00\x00", side=B),  # discarded after the close
            bytes([17]), bytes([B | 17]), bytes([18]),
        ),
        "pair-timers-keepalive-rtt": s(
            0x80 | 1, 0, 0x40,
            bytes([15, 0]), bytes([B | 15, 0]),  # start both clocks
            bytes([12]), pump(1), bytes([15, 10]), pump(1),  # ping_timed, 10 ms
            bytes([B | 16]), bytes([B | 16]), pump(1), bytes([B | 16]), bytes([B | 16]),
            bytes([13, 4, 1, 0, 0, 0, 5]),  # pong_rtt of a forged stamp
            bytes([15, 0xC0 | 63]), bytes([16]), bytes([15, 0xC0 | 63]), bytes([16]),
            bytes([B | 15, 0x80 | 63]), bytes([B | 16]), bytes([B | 16]),
        ),
        "server-idle-and-close-timeout": s(
            0, 0, 0x01,
            bytes([15, 0]), bytes([15, 0x80 | 12]), bytes([15, 0x80 | 12]), bytes([16]), bytes([16]),
            bytes([16]), write(frame(PING, b"", key=MASK)), bytes([16]), bytes([19, 0]),
        ),
        # A 1 MiB frame read the way the tokio layer reads (reserve 64 KiB when under
        # 16 KiB are spare, short reads into the spare capacity), polled after every read:
        # the receive buffer must stay within max_frame_size + 2 reads.
        "client-1mib-frame-driver-reads": s(
            1, 0, 0,
            bytes([3, 0x82, 29, 0]),  # header: FIN binary, 1 MiB, unmasked
            bytes([4, 0x30 | 15, 7]), bytes([4, 0x30 | 15, 7]), bytes([4, 0x30 | 15, 7]),
            bytes([4, 0x30 | 15, 7]), bytes([4, 0x30 | 15, 7]), poll(),
        ),
        # The same after a first read of 26 KiB with the header: the buffer reaches
        # 1.83 MiB, not the 1.06 MiB `Config` documents (see `Side::read_bound` in api.rs).
        "client-1mib-frame-after-26k-read": s(
            1, 0, 0,
            bytes([3, 0x82, 29, 0]), bytes([0, 104, 0x10]), poll(),  # header, 26 KiB of "a"
            bytes([4, 0x30 | 15, 7]), bytes([4, 0x30 | 15, 7]), bytes([4, 0x30 | 15, 7]),
            bytes([4, 0x30 | 15, 7]), bytes([4, 0x30 | 15, 7]), poll(),
        ),
        # Found by the fuzzer: fragments of at most 300 bytes pumped in 64 KiB reads leave
        # a 192 KiB receive buffer (Vec doubles the whole allocation, consumed bytes too).
        "pair-300b-frames-64k-reads": bytes.fromhex(
            "f0f0f06172000000110000000000000099323232323232323232323232990fb68f00150c000a0481"
            "840000000000000000000000000000000000000000870ccebacf8ccf83cebcceb520f09fa6f0f0f0"
            "6172000000110000000000000099990fb68f00150c000a047e840000000000000000000000000000"
            "000000000000870ccebacf8ccf83cebcceb520f09fa68015801509"
        ),
        "server-1mib-text-receive-reads": s(
            0, 0, 0x10,
            bytes([3, 0x81, 29, 0]),  # header: FIN text, 1 MiB, masked with a zero key
            bytes([4, 0x00 | 15, 6]), bytes([4, 0x40 | 15, 6]), bytes([4, 0x10 | 15, 5]),
            write(frame(TEXT, b"next", key=MASK)), bytes([18]),
        ),
        "server-frame-headers": s(
            0, 1, 0,
            bytes([3, 0x89, 13 | 64, 7]) + bytes(range(125)), poll(),  # ping, non-minimal length
        ),
        "server-limits-and-after-close-writes": s(
            0, 1, 0,
            bytes([3, 0x82, 14, 9]) + bytes(126), poll(),  # 126 bytes over a 125-byte limit
            bytes([4, 0x30 | 3, 5]), bytes([2, 0xff]), bytes([1, 8]) + bytes(8) + b"\x08", bytes([18]),
        ),
    }


def main():
    sets = {
        "frame_header": frame_header_seeds(),
        "handshake": handshake_seeds(),
        "inflate": inflate_seeds(),
        "connection": connection_seeds(),
        "api": api_seeds(),
    }
    for target, seeds in sets.items():
        d = os.path.join(ROOT, target)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.remove(os.path.join(d, f))
        for name, data in seeds.items():
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(seeds)} seeds, largest {max(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()
