#!/usr/bin/env python3
"""A Python `websockets` client for wsx's interop tests (a peer we did not write).

Connects to URL (an echo server), then checks in order that each of these comes back
unchanged: multi-byte text, binary, a 1 MiB binary message, a text message sent in
fragments that split UTF-8 characters, and a fragmented binary message. Then it pings
and waits for the pong, and closes with 1000 "python bye". Prints one JSON line with the
negotiated extensions, the checks, and the close frames sent and received. Exits 1 (with
the JSON's "error" set) if a check fails.

Usage: py_client.py URL
"""

import asyncio
import json
import sys

import websockets
from websockets.asyncio.client import connect

TEXT = "héllo wörld — καλημέρα — 你好 — 🦀🚀"
BINARY = bytes(range(256))
LARGE_LEN = 1 << 20
TEXT_FRAGMENTS = [b"frag", b"m\xc3", b"\xa9nted \xe2\x9c", b"\x93"]  # "fragménted ✓"
BINARY_FRAGMENTS = [b"\x00\x01", b"\x02", b"\x03\x04"]


def pattern(n):
    """The large message: the same formula as the Rust test's."""
    return bytes(((i * 7) + (i >> 10)) % 251 for i in range(n))


def close_info(close):
    return None if close is None else {"code": int(close.code), "reason": close.reason}


async def expect(ws, sent, what, report):
    got = await asyncio.wait_for(ws.recv(), 10)
    if type(got) is not type(sent) or got != sent:
        raise AssertionError(f"{what}: echo differs (got {type(got).__name__} of {len(got)})")
    report["echo_ok"].append(what)


async def main(url):
    report = {
        "peer": f"python websockets {websockets.__version__}",
        "echo_ok": [],
        "error": None,
    }
    try:
        async with connect(url, proxy=None, max_size=16 << 20, open_timeout=10) as ws:
            report["request_extensions"] = ws.request.headers.get("Sec-WebSocket-Extensions")
            report["response_extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions")
            await ws.send(TEXT)
            await expect(ws, TEXT, "text", report)
            await ws.send(BINARY)
            await expect(ws, BINARY, "binary", report)
            large = pattern(LARGE_LEN)
            await ws.send(large)
            await expect(ws, large, "large", report)
            await ws.send(TEXT_FRAGMENTS, text=True)
            await expect(ws, b"".join(TEXT_FRAGMENTS).decode(), "fragmented_text", report)
            await ws.send(BINARY_FRAGMENTS)
            await expect(ws, b"".join(BINARY_FRAGMENTS), "fragmented_binary", report)
            waiter = await ws.ping(b"py-client-ping")
            report["ping_latency_ms"] = 1000 * await asyncio.wait_for(waiter, 10)
            await ws.close(1000, "python bye")
            report["close_sent"] = close_info(ws.protocol.close_sent)
            report["close_received"] = close_info(ws.protocol.close_rcvd)
    except Exception as e:
        report["error"] = repr(e)
    print(json.dumps(report), flush=True)
    return 0 if report["error"] is None else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
