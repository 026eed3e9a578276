#!/usr/bin/env python3
"""A Python `websockets` echo server for wsx's interop tests (a peer we did not write).

Prints `PORT <n>` once listening on 127.0.0.1 (port 0 by default, so a free one), then,
after each connection ends, one JSON line reporting what it saw: the request headers,
the negotiated extensions and subprotocol, a summary of the messages received, and the
close frames received and sent.

Text messages that are commands make the server do something itself instead of echoing:
  cmd:fragment  send a text message in fragments that split UTF-8 characters
  cmd:ping      ping the client, wait for its pong, then send "pong-ok"

Usage: py_echo_server.py [--port N] [--subprotocol NAME]... [--no-compress]
"""

import argparse
import asyncio
import json
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

# "fragménted ✓" cut inside "é" (c3 a9) and inside "✓" (e2 9c 93).
FRAGMENTS = [b"frag", b"m\xc3", b"\xa9nted \xe2\x9c", b"\x93"]


def close_info(close):
    return None if close is None else {"code": int(close.code), "reason": close.reason}


def summary(message):
    if isinstance(message, str):
        return {"type": "text", "len": len(message.encode()), "head": message[:64]}
    return {"type": "binary", "len": len(message), "head": message[:16].hex()}


async def handler(ws):
    report = {
        "path": ws.request.path,
        "request_headers": [[k, v] for k, v in ws.request.headers.raw_items()],
        "request_extensions": ws.request.headers.get("Sec-WebSocket-Extensions"),
        "response_extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
        "subprotocol": ws.subprotocol,
        "received": [],
        "pong_ok": None,
        "error": None,
    }
    try:
        async for message in ws:
            if message == "cmd:fragment":
                await ws.send(FRAGMENTS, text=True)
            elif message == "cmd:ping":
                waiter = await ws.ping(b"py-server-ping")
                await asyncio.wait_for(waiter, 10)
                report["pong_ok"] = True
                await ws.send("pong-ok")
            else:
                report["received"].append(summary(message))
                await ws.send(message)
    except ConnectionClosed:
        pass
    except Exception as e:  # reported, so the test shows it
        report["error"] = repr(e)
    await ws.wait_closed()
    report["close_received"] = close_info(ws.protocol.close_rcvd)
    report["close_sent"] = close_info(ws.protocol.close_sent)
    print(json.dumps(report), flush=True)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--subprotocol", action="append", default=None)
    parser.add_argument("--no-compress", action="store_true")
    args = parser.parse_args()
    async with serve(
        handler,
        "127.0.0.1",
        args.port,
        max_size=16 << 20,
        subprotocols=args.subprotocol,
        compression=None if args.no_compress else "deflate",
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        # Serve until stdin closes (the test's process guard also kills us).
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
