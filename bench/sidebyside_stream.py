"""Streaming chat load for bench/sidebyside.py: time to first token, inter-token latency,
tokens relayed per second; or many streams held open at once (the memory step).

Two modes, both bounded in time:

    # keep --connections streams going for --duration seconds (after a warm-up wave)
    taskset -c 0 .venv/bin/python bench/sidebyside_stream.py \\
        --url http://127.0.0.1:9001/v1/chat/completions --body stream.json \\
        --connections 64 --duration 10

    # open --hold streams at once, read each to its end (or until --max-seconds)
    taskset -c 0 .venv/bin/python bench/sidebyside_stream.py --url ... --body ... --hold 1000

Time to first token (TTFT) runs from sending the request to the first SSE event carrying
content; inter-token latency (ITL) is the gap between consecutive content events of one
stream; tokens are those content events. Streams still running when the window closes are
read to their end, and count.

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def summary(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """p50/p90/p99 in ms and n; a p99 needs 1,000 samples (else NaN, shown as "n/a")."""
    s = sorted(values)
    out = {"n": float(len(s)), "p50": percentile(s, 0.5) * scale, "p90": percentile(s, 0.9) * scale}
    out["p99"] = percentile(s, 0.99) * scale if len(s) >= 1000 else float("nan")
    return out


@dataclass
class Totals:
    streams: int = 0
    failed: int = 0
    tokens: int = 0
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    open_now: int = 0
    open_max: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def _has_content(event: bytes) -> bool:
    """An SSE `data:` event whose first choice's delta carries text (or a tool-call piece)."""
    if not event.startswith(b"data:"):
        return False
    data = event[5:].strip()
    if data == b"[DONE]" or not data:
        return False
    try:
        obj: Any = json.loads(data)
    except ValueError:
        return False
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls"):
            return True
    return False


async def one_stream(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    t: Totals,
    record: bool,
) -> None:
    sent = time.perf_counter()  # not loop.time(): uvloop's clock ticks in whole milliseconds
    opened = False
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                await resp.read()
                t.failed += 1
                key = f"HTTP {resp.status}"
                t.errors[key] = t.errors.get(key, 0) + 1
                return
            opened = True
            t.open_now += 1
            t.open_max = max(t.open_max, t.open_now)
            buf = b""
            last: float | None = None
            tokens = 0
            done = False
            ttft = None
            gaps: list[float] = []
            async for data in resp.content.iter_any():
                now = time.perf_counter()
                buf += data
                *events, buf = buf.split(b"\n\n")
                for ev in events:
                    ev = ev.strip()
                    if ev == b"data: [DONE]":
                        done = True
                    elif _has_content(ev):
                        tokens += 1
                        if last is None:
                            ttft = now - sent
                        else:
                            gaps.append(now - last)
                        last = now
            if not done:
                t.failed += 1
                t.errors["no [DONE]"] = t.errors.get("no [DONE]", 0) + 1
                return
            if record:
                t.streams += 1
                t.tokens += tokens
                if ttft is not None:
                    t.ttft.append(ttft)
                t.itl.extend(gaps)
    except (aiohttp.ClientError, TimeoutError) as exc:
        t.failed += 1
        key = type(exc).__name__
        t.errors[key] = t.errors.get(key, 0) + 1
    finally:
        if opened:
            t.open_now -= 1


def _session(connections: int, timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=timeout),
        skip_auto_headers=("User-Agent",),
    )


async def run_window(
    url: str, body: bytes, headers: dict[str, str], connections: int, duration: float
) -> dict[str, Any]:
    t = Totals()
    async with _session(connections, 120) as session:
        # warm-up: one wave, not recorded (first requests pay lazy imports, connection set-up)
        await asyncio.gather(
            *(one_stream(session, url, body, headers, t, False) for _ in range(connections))
        )
        t.failed = 0
        t.errors.clear()
        started = time.perf_counter()
        end = started + duration

        async def worker() -> None:
            while time.perf_counter() < end:
                await one_stream(session, url, body, headers, t, True)

        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
    return {
        "mode": "window",
        "connections": connections,
        "streams": t.streams,
        "failed": t.failed,
        "errors": t.errors,
        "tokens": t.tokens,
        "seconds": seconds,
        "tokens_per_s": t.tokens / seconds if seconds else 0.0,
        "ttft_ms": summary(t.ttft),
        "itl_ms": summary(t.itl),
    }


async def run_hold(
    url: str, body: bytes, headers: dict[str, str], n: int, max_seconds: float
) -> dict[str, Any]:
    t = Totals()
    started = time.perf_counter()
    async with _session(n, max_seconds) as session:
        tasks = [
            asyncio.ensure_future(one_stream(session, url, body, headers, t, True))
            for _ in range(n)
        ]
        _, pending = await asyncio.wait(tasks, timeout=max_seconds + 5)
        for task in pending:
            task.cancel()
        cut = len(pending)
        if pending:
            await asyncio.wait(pending, timeout=5)
    return {
        "mode": "hold",
        "requested": n,
        "streams": t.streams,
        "failed": t.failed + cut,
        "errors": t.errors,
        "open_max": t.open_max,
        "tokens": t.tokens,
        "seconds": time.perf_counter() - started,
        "ttft_ms": summary(t.ttft),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True, help='file with the JSON body ("stream": true)')
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=float, default=10.0, help="measured window, seconds")
    p.add_argument("--hold", type=int, default=0, help="open this many streams at once instead")
    p.add_argument("--max-seconds", type=float, default=60.0, help="bound of the --hold mode")
    p.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = p.parse_args(argv)
    headers = {"Content-Type": "application/json"}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    body = Path(args.body).read_bytes()
    import uvloop

    if args.hold:
        result = uvloop.run(run_hold(args.url, body, headers, args.hold, args.max_seconds))
    else:
        result = uvloop.run(run_window(args.url, body, headers, args.connections, args.duration))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
