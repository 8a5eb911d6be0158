"""Open-loop load at a fixed rate; latency measured from each request's *scheduled* time.

The fallback of bench/floor.py's latency step when `oha` is not built. Request i is due at
t0 + i/rate whatever happened to the ones before it, so a stall of the server shows up in the
latency of every request that should have been sent during it (no coordinated omission).
At most `--connections` requests are in flight; a request waiting for a free connection is
late, and that wait counts too.

    taskset -c 0 .venv/bin/python bench/openloop.py \
        --url http://127.0.0.1:9001/v1/chat/completions --body body.json \
        --rate 1000 --duration 15 --warmup 3 [--header 'Authorization: Bearer ...']

Prints one JSON object: {"sent", "ok", "errors", "rate", "p50_ms", "p90_ms", "p99_ms",
"p999_ms", "max_ms", "late_ms_max"} over the requests scheduled after the warm-up;
`--dump FILE` also writes every latency (ms, float64, sorted) there, so that rounds can be
pooled into one percentile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from array import array
from pathlib import Path

import aiohttp


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


async def run(
    url: str,
    body: bytes,
    headers: dict[str, str],
    rate: float,
    duration: float,
    warmup: float,
    connections: int,
    dump: Path | None = None,
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    # uvloop's loop.time() counts whole milliseconds: latencies are timed with perf_counter
    clock = time.perf_counter
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=60)
    latencies: list[float] = []
    ok = 0
    errors = 0
    late_max = 0.0
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        skip_auto_headers=("User-Agent",),
    ) as session:
        t0 = clock() + 0.05
        measured_from = t0 + warmup
        total = int(rate * (warmup + duration))
        tasks: set[asyncio.Task[None]] = set()

        async def one(scheduled: float) -> None:
            nonlocal ok, errors
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    good = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                good = False
            if scheduled < measured_from:
                return
            latencies.append(clock() - scheduled)
            if good:
                ok += 1
            else:
                errors += 1

        i = 0
        while i < total:
            now = clock()
            due = t0 + i / rate
            if due > now:
                await asyncio.sleep(due - now)
                continue
            late_max = max(late_max, now - due)
            while i < total and t0 + i / rate <= now:
                task = loop.create_task(one(t0 + i / rate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
        if tasks:
            await asyncio.wait(tasks, timeout=35)
    latencies.sort()
    ms = 1000.0
    if dump is not None:
        dump.write_bytes(array("d", (x * ms for x in latencies)).tobytes())
    return {
        "sent": len(latencies),
        "ok": ok,
        "errors": errors,
        "rate": rate,
        "p50_ms": percentile(latencies, 0.50) * ms,
        "p90_ms": percentile(latencies, 0.90) * ms,
        "p99_ms": percentile(latencies, 0.99) * ms,
        "p999_ms": percentile(latencies, 0.999) * ms,
        "max_ms": (latencies[-1] if latencies else float("nan")) * ms,
        "late_ms_max": late_max * ms,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True, help="file with the JSON request body")
    p.add_argument("--rate", type=float, required=True, help="requests per second")
    p.add_argument("--duration", type=float, default=15.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds sent but not measured")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--header", action="append", default=[], help="'Name: value'")
    p.add_argument("--dump", type=Path, help="write every latency here (ms, float64)")
    args = p.parse_args(argv)
    headers = {"Content-Type": "application/json"}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    import uvloop

    result = uvloop.run(
        run(
            args.url,
            Path(args.body).read_bytes(),
            headers,
            args.rate,
            args.duration,
            args.warmup,
            args.connections,
            args.dump,
        )
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
