#!/usr/bin/env python3
"""A fixed amount of echo work, for counting what a server spends per message.

    python3 bench/fixed_echo.py --url ws://127.0.0.1:PORT/ -c 100 -k 16 -p 20 -r 200 [--pid PID]

Opens C connections, then runs R rounds: in each round every connection sends K masked
text frames of P bytes in one write and waits for their K echoes. So every burst reaches
the server whole, each server read finds exactly one burst (if its read buffer holds it),
and the work is the same from run to run however loaded the machine is: what `wsx bench`
(which keeps K in flight and runs for a fixed time) cannot promise. It is far too slow to
saturate a server; it is for instruction counts and CPU time per message, not msgs/s:

    valgrind --tool=callgrind SERVER ...   # run twice, with -r R1 and -r R2:
    (Ir(R2) - Ir(R1)) / (C * K * (R2 - R1)) = user-space instructions per message

With --pid, also reports the server's CPU time (user + system, from /proc) over the
rounds only, per message. Prints one JSON object. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import socket
import sys
import time
from urllib.parse import urlsplit


def masked_frame(payload: bytes, text: bool) -> bytes:
    key = b"\x12\x34\x56\x78"
    n = len(payload)
    head = bytes([0x81 if text else 0x82])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def handshake(host: str, port: int, path: str) -> tuple[socket.socket, bytes]:
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("server closed during the handshake")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
    return s, rest


def count_frames(buf: bytearray) -> int:
    """Removes the whole (unmasked, server-to-client) frames at the front of buf; returns how many."""
    n = pos = 0
    while len(buf) - pos >= 2:
        length = buf[pos + 1] & 0x7F
        hdr = 2
        if length == 126:
            if len(buf) - pos < 4:
                break
            length, hdr = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
        elif length == 127:
            if len(buf) - pos < 10:
                break
            length, hdr = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
        if len(buf) - pos < hdr + length:
            break
        if buf[pos] & 0x0F in (0x1, 0x2):
            n += 1
        pos += hdr + length
    del buf[:pos]
    return n


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("-c", "--connections", type=int, default=100)
    ap.add_argument("-k", "--in-flight", type=int, default=16)
    ap.add_argument("-p", "--size", type=int, default=20)
    ap.add_argument("-r", "--rounds", type=int, default=100)
    ap.add_argument("--binary", action="store_true")
    ap.add_argument("--pid", type=int)
    args = ap.parse_args()

    url = urlsplit(args.url)
    socks = [handshake(url.hostname, url.port or 80, url.path or "/") for _ in range(args.connections)]
    if any(rest for _, rest in socks):
        raise ConnectionError("data after the 101 response")
    sel = selectors.DefaultSelector()
    bufs = {}
    for s, _ in socks:
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = bytearray()
    batch = masked_frame(b"x" * args.size, not args.binary) * args.in_flight

    cpu0 = cpu_seconds(args.pid) if args.pid else None
    t0 = time.monotonic()
    for _ in range(args.rounds):
        pending = {}
        for s, _ in socks:
            s.sendall(batch)
            pending[s] = args.in_flight
        while pending:
            for key, _ in sel.select():
                s = key.fileobj
                if s not in pending:
                    continue
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("server closed the connection")
                bufs[s] += chunk
                pending[s] -= count_frames(bufs[s])
                if pending[s] <= 0:
                    del pending[s]
    elapsed = time.monotonic() - t0
    messages = args.connections * args.in_flight * args.rounds
    out = {"connections": args.connections, "in_flight": args.in_flight, "size": args.size,
           "rounds": args.rounds, "messages": messages, "seconds": round(elapsed, 3)}
    if args.pid:
        out["server_cpu_s"] = round(cpu_seconds(args.pid) - cpu0, 3)
        out["server_cpu_us_per_message"] = round(out["server_cpu_s"] / messages * 1e6, 3)
    close = bytes([0x88, 0x82]) + b"\x00\x00\x00\x00" + (1000).to_bytes(2, "big")
    for s, _ in socks:
        try:
            s.sendall(close)
        except OSError:
            pass
        s.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
