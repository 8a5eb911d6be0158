"""A fixed number of streamed answers, each read to its end, with the SSE events counted.

The load of bench/floor.py's CPU-per-chunk step: `--streams` requests with `"stream": true`
bodies, at most `--connections` at a time, every answer read until the server ends it, so the
server's CPU over the run belongs to whole streams only (none cut at the end of a time window)
and the chunks relayed are counted exactly, the same way for every target.

    taskset -c 0 .venv/bin/python bench/streamload.py \\
        --url http://127.0.0.1:9001/v1/chat/completions --body stream.json --streams 640

Prints one JSON object: {"streams", "failed", "events", "bytes", "seconds"}; `events` counts
the `data:` events other than `[DONE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp


async def run(
    url: str, body: bytes, headers: dict[str, str], streams: int, connections: int
) -> dict[str, float]:
    totals = {"streams": 0, "failed": 0, "events": 0, "bytes": 0}
    left = streams

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                await resp.read()
                totals["failed"] += 1
                return
            tail = joined = b""
            events = 0
            size = 0
            async for data in resp.content.iter_any():
                size += len(data)
                joined = tail + data
                events += joined.count(b"\n\n")
                tail = joined[-1:]
            done = joined.rstrip().endswith(b"data: [DONE]")
            totals["streams"] += 1
            totals["events"] += events - (1 if done else 0)
            totals["bytes"] += size
            if not done:
                totals["failed"] += 1

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            try:
                await one(session)
            except (aiohttp.ClientError, TimeoutError):
                totals["failed"] += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=120),
        skip_auto_headers=("User-Agent",),
    ) as session:
        await asyncio.gather(*(worker(session) for _ in range(min(connections, streams))))
    return {**totals, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True, help='file with the JSON body ("stream": true)')
    p.add_argument("--streams", type=int, default=640)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = p.parse_args(argv)
    headers = {"Content-Type": "application/json"}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    import uvloop

    result = uvloop.run(
        run(args.url, Path(args.body).read_bytes(), headers, args.streams, args.connections)
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
