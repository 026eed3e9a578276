#!/usr/bin/env python3
"""Third-party reference Autobahn client (python `websockets`) for validating
the client-mode pipeline.  usage: ws_client.py ws://127.0.0.1:PORT [AGENT]"""
import asyncio
import sys

from websockets.asyncio.client import connect


async def main(base, agent):
    async with connect(base + "/getCaseCount") as ws:
        count = int(await ws.recv())
    for n in range(1, count + 1):
        try:
            async with connect("%s/runCase?case=%d&agent=%s" % (base, n, agent),
                               max_size=None, ping_interval=None,
                               compression="deflate") as ws:
                async for msg in ws:
                    await ws.send(msg)
        except Exception:
            pass
    async with connect("%s/updateReports?agent=%s" % (base, agent)) as ws:
        pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "python-websockets"))
