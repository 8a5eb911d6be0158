"""Idle overhead: one request at a time on one kept-alive connection (c=1, closed loop).

    taskset -c 0 .venv/bin/python bench/sequential.py \\
        --url http://127.0.0.1:9001/v1/chat/completions --body body.json \\
        --requests 2000 --warmup 100 [--header 'Authorization: Bearer ...']

Each request is sent when the previous answer has been read; its latency runs from the send
to the last byte. bench/sidebyside.py runs it against the upstream alone, the pass-through and
the gateway in turn, round after round, so the client's own cost cancels out in the added
latency. Prints one JSON object: {"n", "failed", "p50_ms", "p90_ms", "p99_ms", "p999_ms",
"mean_ms", "max_ms"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import aiohttp
from openloop import percentile


async def run(
    url: str, body: bytes, headers: dict[str, str], requests: int, warmup: int
) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=1, keepalive_timeout=60)
    latencies: list[float] = []
    failed = 0
    clock = time.perf_counter
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        skip_auto_headers=("User-Agent",),
    ) as session:
        for i in range(warmup + requests):
            t0 = clock()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    good = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                good = False
            if i >= warmup:
                latencies.append(clock() - t0)
                failed += not good
    latencies.sort()
    ms = 1000.0
    return {
        "n": len(latencies),
        "failed": failed,
        "p50_ms": percentile(latencies, 0.50) * ms,
        "p90_ms": percentile(latencies, 0.90) * ms,
        "p99_ms": percentile(latencies, 0.99) * ms,
        "p999_ms": percentile(latencies, 0.999) * ms,
        "mean_ms": sum(latencies) / max(1, len(latencies)) * ms,
        "max_ms": (latencies[-1] if latencies else float("nan")) * ms,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True, help="file with the JSON request body")
    p.add_argument("--requests", type=int, default=2000, help="measured requests")
    p.add_argument("--warmup", type=int, default=100, help="requests sent first, not measured")
    p.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = p.parse_args(argv)
    headers = {"Content-Type": "application/json"}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    import uvloop

    result = uvloop.run(
        run(args.url, Path(args.body).read_bytes(), headers, args.requests, args.warmup)
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
