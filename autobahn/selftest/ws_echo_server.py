#!/usr/bin/env python3
"""Third-party reference echo server (python `websockets`) for validating the
Autobahn pipeline itself.  usage: ws_echo_server.py HOST:PORT

permessage-deflate is on (websockets' default).  max_size=None because case
9.* sends messages up to 16 MiB."""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except Exception:
        pass


async def main(addr):
    host, _, port = addr.rpartition(":")
    async with serve(echo, host, int(port), max_size=None, ping_interval=None,
                     compression="deflate"):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
