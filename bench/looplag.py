"""The gateway's event-loop lag while 16 MiB prompts arrive among the floor's traffic.

    .venv/bin/python bench/looplag.py                 # two 60 s phases, about 2.5 minutes
    .venv/bin/python bench/looplag.py --duration 20   # a short run

A 1 ms ticker inside the gateway's worker process (`PROVOCAPI_LOOPLAG_FILE`,
python/provocapi/looplag.py) records how late each tick ran. The traffic is the
floor's non-streaming chat body (bench/floor.py) sent open loop at `--rate`
requests/s; the phase "large" adds, every `--every` seconds, one 16 MiB prompt
over the context window, alternately a single word ("aaaa...") and prose, each
of which must be answered 400 `context_length_exceeded`. The phase "normal" is
the same traffic without them. For each phase and each minute of it: the
longest lag and the p99.9 of the ticks (the budget: p99.9 <= 5 ms), and the
traffic's own latency.

Placement as in the floor: the gateway (`serve --workers 1`) alone on core 1,
the simulator and this script on core 0. Loopback only; every process started
is killed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop
from floor import (
    GATEWAY_CONFIG,
    LOAD_CPU,
    MODEL,
    PY,
    REPO,
    SERVER_CPU,
    Processes,
    body,
    check_answer,
    say,
    start_upstream,
)
from openloop import percentile
from provocapi.netutil import free_port, wait_healthy

MIB = 1 << 20
BUDGET_P999_MS = 5.0


def large_bodies() -> list[bytes]:
    word = "a" * (16 * MIB)
    prose = ("The quick brown fox jumps over the lazy dog. " * 400_000)[: 16 * MIB]
    return [
        json.dumps({"model": MODEL, "messages": [{"role": "user", "content": t}]}).encode()
        for t in (word, prose)
    ]


@dataclass
class Phase:
    name: str
    start: float  # wall clock
    end: float
    sent: int = 0
    ok: int = 0
    latencies: list[float] | None = None
    large: list[tuple[int, float]] | None = None  # (status, seconds) per large prompt


async def traffic(
    url: str, key: str, rate: float, duration: float, larges: list[bytes], every: float
) -> tuple[list[float], int, int, list[tuple[int, float]]]:
    """Open loop at `rate`; latency from each request's scheduled time."""
    loop = asyncio.get_running_loop()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    small = json.dumps(body(False)).encode()
    latencies: list[float] = []
    large_results: list[tuple[int, float]] = []
    ok = 0
    tasks: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(scheduled: float) -> None:
            nonlocal ok
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.post(url, data=small, headers=headers) as resp:
                    await resp.read()
                    ok += resp.status == 200
            latencies.append(loop.time() - scheduled)

        async def large(data: bytes) -> None:
            t0 = loop.time()
            status = 0
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with aiohttp.ClientSession(timeout=timeout) as own:  # its own connection
                    async with own.post(url, data=data, headers=headers) as resp:
                        doc = await resp.json()
                        good = doc.get("error", {}).get("code") == "context_length_exceeded"
                        status = resp.status if good else -resp.status
            large_results.append((status, loop.time() - t0))

        t0 = loop.time() + 0.05
        total = int(rate * duration)
        next_large = t0 + every / 2
        i = n_large = 0
        while i < total:
            now = loop.time()
            if larges and now >= next_large:
                task = loop.create_task(large(larges[n_large % len(larges)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n_large += 1
                next_large += every
            due = t0 + i / rate
            if due > now:
                await asyncio.sleep(min(due, next_large) - now if larges else due - now)
                continue
            while i < total and t0 + i / rate <= now:
                task = loop.create_task(one(t0 + i / rate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
        if tasks:
            await asyncio.wait(tasks, timeout=90)
    return sorted(latencies), total, ok, large_results


def run_phase(
    name: str, url: str, key: str, args: argparse.Namespace, larges: list[bytes]
) -> Phase:
    say(
        f"==> phase {name}: {args.duration:.0f} s at {args.rate:g} req/s"
        + (f", a 16 MiB prompt every {args.every:g} s" if larges else "")
    )
    start = time.time()
    lat, sent, ok, large = uvloop.run(
        traffic(url, key, args.rate, args.duration, larges, args.every)
    )
    return Phase(name, start, start + args.duration, sent, ok, lat, large)


def lag_samples(prefix: Path) -> list[tuple[float, float]]:
    from provocapi import looplag

    out: list[tuple[float, float]] = []
    for path in sorted(prefix.parent.glob(prefix.name + ".*")):
        out.extend(looplag.read(str(path)))
    return sorted(out)


def minutes(
    phase: Phase, samples: list[tuple[float, float]]
) -> list[tuple[int, int, float, float]]:
    """(minute, ticks, max ms, p99.9 ms) over the phase, per started minute."""
    rows = []
    n = max(1, math.ceil((phase.end - phase.start) / 60 - 1e-9))
    for m in range(n):
        lo = phase.start + 60 * m
        hi = phase.end if m == n - 1 else lo + 60
        lags = sorted(lag for t, lag in samples if lo <= t < hi)
        if lags:
            rows.append((m + 1, len(lags), lags[-1] * 1e3, percentile(lags, 0.999) * 1e3))
    return rows


def report(
    phases: list[Phase], samples: list[tuple[float, float]], args: argparse.Namespace
) -> str:
    lines = [
        f"bench/looplag.py --duration {args.duration:g} --rate {args.rate:g} "
        f"--every {args.every:g}",
        "",
        "| phase | minute | ticks | lag max | lag p99.9 | p99.9 <= 5 ms | traffic p50 / p99 "
        "| ok / sent | 16 MiB prompts (400, s) |",
        "|---|---:|---:|---:|---:|---|---|---|---|",
    ]
    for ph in phases:
        lat = ph.latencies or []
        big = ", ".join(f"{s} {d:.2f}" for s, d in (ph.large or [])) or "none"
        for minute, ticks, mx, p999 in minutes(ph, samples):
            lines.append(
                f"| {ph.name} | {minute} | {ticks} | {mx:.1f} ms | {p999:.2f} ms | "
                f"{'yes' if p999 <= BUDGET_P999_MS else 'NO'} | "
                f"{percentile(lat, 0.5) * 1e3:.1f} / {percentile(lat, 0.99) * 1e3:.1f} ms | "
                f"{ph.ok} / {ph.sent} | {big} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    ap.add_argument("--rate", type=float, default=300.0, help="normal requests per second")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between 16 MiB prompts")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of traffic first")
    ap.add_argument("--only", choices=("normal", "large"), help="run one phase")
    ap.add_argument("--out", type=Path, help="also write the report here")
    ap.add_argument(
        "--stalls", type=float, metavar="MS", help="also PROVOCAPI_STALL_MS=MS: print its reports"
    )
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="provocapi-looplag-"))
    procs = Processes(work)
    try:
        say(f"==> the simulator on core {LOAD_CPU}; work dir {work}")
        upstream = start_upstream(procs, "sim", ["--ttft-ms", "0", "--token-delay-ms", "0"])
        keys = subprocess.run(
            [PY, "-m", "provocapi", "keys", "create", "--tenant", "bench", "--data-dir",
             str(work / "data")],
            capture_output=True, text=True, check=True, cwd=REPO,
        )  # fmt: skip
        key = keys.stdout.strip().splitlines()[-1]
        cfg = work / "gateway.toml"
        cfg.write_text(
            "[server]\nmax_body_bytes = 33554432\n\n"
            + GATEWAY_CONFIG.format(model=MODEL, upstream=upstream)
        )
        port = free_port()
        prefix = work / "lag"
        say(f"==> provocapi on core {SERVER_CPU}, one worker, lag recorder on")
        gw = procs.start(
            "provocapi",
            [PY, "-m", "provocapi", "serve", "--config", str(cfg), "--host", "127.0.0.1",
             "--port", str(port), "--data-dir", str(work / "data"), "--workers", "1"],
            SERVER_CPU,
            env={"PROVOCAPI_LOG_LEVEL": "WARNING", "PROVOCAPI_LOOPLAG_FILE": str(prefix),
                 **({"PROVOCAPI_STALL_MS": f"{args.stalls:g}"} if args.stalls else {})},
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base + "/health", 60, gw)
        check_answer("provocapi", base, key)
        url = base + "/v1/chat/completions"
        say(f"==> warm-up: {args.warmup:g} s of normal traffic (not measured)")
        uvloop.run(traffic(url, key, args.rate, args.warmup, [], args.every))
        phases = []
        if args.only != "large":
            phases.append(run_phase("normal", url, key, args, []))
        if args.only != "normal":
            phases.append(run_phase("large", url, key, args, large_bodies()))
        procs.stop("provocapi")  # the recorder writes its last samples as the worker stops
        text = report(phases, lag_samples(prefix), args)
        if args.stalls:
            say(procs.log_tail("provocapi", 400))
        say("")
        say(text)
        if args.out:
            args.out.write_text(text + "\n")
        return 0
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
