#!/usr/bin/env python3
"""A Python `websockets` driver for the hub tests (a client we did not write).

Holds any number of named WebSocket connections and does what stdin says, one
instruction a line; reports what happens on stdout, one event a line, prefixed with the
connection's name. `hub_driver.js` speaks the same lines with Node `ws`, so a Rust test
can drive either (see crates/wsx-test-support/src/hub.rs).

Instructions (the last field is the rest of the line):
  open CONN URL [ORIGIN]     connect; reports `CONN open`, `CONN refused STATUS` or
                             `CONN failed WHY`
  send CONN TEXT             send TEXT as one text frame
  repeat CONN N TEXT         send TEXT N times, back to back; `{i}` in TEXT becomes 0..N-1
  big CONN CHANNEL BYTES     send a publish to CHANNEL whose data is a string of BYTES 'x'
  close CONN CODE            close with CODE (the server's answer is reported as `closed`)
  exit                       close everything and exit

Events:
  CONN recv TEXT             a text frame from the server
  CONN binary N              a binary frame of N bytes
  CONN closed CODE REASON    the connection ended: the close code the server sent (1006
                             if none came), and its reason
  driver error WHY           an instruction this driver could not follow

A `wss://` URL is verified against the CA certificate in $HUB_DRIVER_CA when it is set.

Usage: hub_driver.py
"""

import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

conns = {}
readers = set()


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def one_line(text):
    # The hub's events are one line each; a line break would break the report format.
    return text.replace("\r", "\\r").replace("\n", "\\n")


async def read_loop(name, ws):
    code, reason = 1006, ""
    try:
        async for message in ws:
            if isinstance(message, str):
                out(f"{name} recv {one_line(message)}")
            else:
                out(f"{name} binary {len(message)}")
    except ConnectionClosed:
        pass
    received = ws.protocol.close_rcvd
    if received is not None:
        code, reason = int(received.code), received.reason
    out(f"{name} closed {code} {one_line(reason)}")


async def open_conn(name, url, origin):
    tls = {}
    if url.startswith("wss:") and os.environ.get("HUB_DRIVER_CA"):
        tls["ssl"] = ssl.create_default_context(cafile=os.environ["HUB_DRIVER_CA"])
    try:
        ws = await connect(
            url,
            proxy=None,
            origin=origin,
            max_size=None,
            open_timeout=10,
            close_timeout=10,
            # The hub pings; a client ping could only add noise to what the tests see.
            ping_interval=None,
            **tls,
        )
    except InvalidStatus as e:
        out(f"{name} refused {e.response.status_code}")
        return
    except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
        out(f"{name} failed {one_line(repr(e))}")
        return
    conns[name] = ws
    out(f"{name} open")
    task = asyncio.create_task(read_loop(name, ws))
    readers.add(task)
    task.add_done_callback(readers.discard)


async def send(name, text):
    try:
        await conns[name].send(text)
    except ConnectionClosed:
        pass  # the reader reports the close


async def handle(line):
    op, _, rest = line.partition(" ")
    if op == "open":
        parts = rest.split(" ")
        await open_conn(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
    elif op == "send":
        name, _, text = rest.partition(" ")
        await send(name, text)
    elif op == "repeat":
        name, n, text = rest.split(" ", 2)
        for i in range(int(n)):
            await send(name, text.replace("{i}", str(i)))
    elif op == "big":
        name, channel, n = rest.split(" ")
        payload = "x" * int(n)
        await send(name, f'{{"type":"publish","channel":"{channel}","data":"{payload}"}}')
    elif op == "close":
        name, code = rest.split(" ")
        try:
            await conns[name].close(int(code), "bye")
        except ConnectionClosed:
            pass
    elif op == "exit":
        return False
    else:
        out(f"driver error unknown instruction {line!r}")
    return True


async def main():
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=64 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        raw = await stdin.readline()
        if not raw:
            break
        line = raw.decode().rstrip("\n")
        if not line:
            continue
        try:
            if not await handle(line):
                break
        except Exception as e:  # noqa: BLE001
            out(f"driver error {one_line(repr(e))}")
    for ws in list(conns.values()):
        await ws.close()
    if readers:
        await asyncio.wait(readers, timeout=5)


if __name__ == "__main__":
    asyncio.run(main())
