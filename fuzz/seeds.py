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


def main():
    sets = {
        "frame_header": frame_header_seeds(),
        "handshake": handshake_seeds(),
        "inflate": inflate_seeds(),
        "connection": connection_seeds(),
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
