"""Online p99 (queue wait + TTFT) at 50% of worker capacity, without and with a batch.

Worker capacity is the bottleneck: one chat simulator with `--max-batch N` (requests
beyond N wait in its queue), behind `provocapi serve` (one Granian worker, the batch
runner process) whose worker table caps the gateway at `max_concurrency = N`.

1. The service time S of one request is measured unloaded; capacity = N / S requests/s.
2. Phase "alone": open-loop streamed chat calls, Poisson arrivals at 50% of capacity,
   for `--duration` s after `--warmup` s. Each call's latency runs from its *scheduled*
   send time to its first content chunk: the gateway's queue, the worker's queue and
   the time to first token (no coordinated omission).
3. Phase "batch alone": a batch big enough to outlast the run is submitted; its lines/s
   with no online traffic are measured for `--alone-s` s (what the batch gets of an idle
   pool: about `batch_max_share` of capacity).
4. Phase "with batch": the batch runs at full speed (as many lines as `[batch]` lets
   it); the same online load is measured again.

Prints both p50/p90/p99, the ratio of the p99s (the goal: at most 1.2) and how many
lines/s the batch ran during the phase. `--priority P` starts the worker with
`--priority` and sets the model's `batch_priority = P`, so the worker's own queue puts
online calls (0.5) ahead of waiting lines. Bounded: about 2 x (warmup + duration) +
alone-s + 20 s;
everything it starts is stopped.

    .venv/bin/python bench/batch_online_p99.py [--max-batch 8] [--duration 30] [--priority 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import httpx2
import orjson
from provocapi.netutil import free_ports, wait_healthy

PY = sys.executable
MODEL = "llama-3.1-8b-instruct"


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _body(i: int, tokens: int, stream: bool) -> dict[str, object]:
    return {"model": MODEL, "max_tokens": tokens, "stream": stream,
            "messages": [{"role": "user", "content": f"question {i}"}]}  # fmt: skip


async def _first_chunk(session: aiohttp.ClientSession, url: str, body: bytes) -> float | None:
    """The loop time the first content chunk arrived (None: no answer)."""
    loop = asyncio.get_running_loop()
    async with session.post(url, data=body) as r:
        if r.status != 200:
            await r.read()
            return None
        async for line in r.content:
            if line.startswith(b"data: ") and b'"content"' in line:
                at = loop.time()
                await r.read()  # the rest of the stream: the slot is held until it ends
                return at
    return None


async def open_loop(
    url: str, key: str, rate: float, warmup: float, duration: float, tokens: int, seed: int
) -> tuple[list[float], int]:
    """Latencies (ms) of the calls scheduled after the warm-up, and the errors."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        t0 = loop.time() + 0.05
        end = t0 + warmup + duration
        tasks: set[asyncio.Task[None]] = set()

        async def one(i: int, scheduled: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            body = orjson.dumps(_body(i, tokens, True))
            try:
                first = await _first_chunk(session, url, body)
            except (aiohttp.ClientError, TimeoutError):
                first = None
            if scheduled >= t0 + warmup:
                if first is not None:
                    latencies.append((first - scheduled) * 1000.0)
                else:
                    errors += 1

        at, i = t0, 0
        while at < end:
            task = asyncio.create_task(one(i, at))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            at += rng.expovariate(rate)
            i += 1
            if len(tasks) > 200:  # keep the scheduler ahead, not the whole run at once
                await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
    return latencies, errors


def service_s(h: httpx2.Client, tokens: int) -> float:
    """One request's time unloaded, through the gateway (median of five)."""
    took = []
    for i in range(5):
        t = time.perf_counter()
        h.post("/v1/chat/completions", json=_body(10_000 + i, tokens, False)).raise_for_status()
        took.append(time.perf_counter() - t)
    return statistics.median(took)


def _lines(n: int, tokens: int) -> bytes:
    return b"".join(
        orjson.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
                      "body": _body(i, tokens, False)}) + b"\n"
        for i in range(n)
    )  # fmt: skip


def _cpu_s(root: int) -> float:
    """CPU seconds used so far by `root` and every process under it."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def _queue_s(h: httpx2.Client) -> tuple[float, float]:
    """(sum, count) of the gateway's provocapi_queue_seconds (online calls' queue wait)."""
    total = count = 0.0
    for line in h.get("/metrics").text.splitlines():
        if line.startswith("provocapi_queue_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("provocapi_queue_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


class Phase:
    """CPU of the gateway and the worker, the gateway's queue wait and the load average
    over one phase: what besides worker slots the latency went to."""

    def __init__(self, h: httpx2.Client, gw: int, sim: int) -> None:
        self.h, self.gw, self.sim = h, gw, sim
        self.cpu = (_cpu_s(gw), _cpu_s(sim))
        self.queue = _queue_s(h)
        self.t = time.monotonic()

    def end(self) -> dict[str, float]:
        took = time.monotonic() - self.t
        gw, sim = _cpu_s(self.gw) - self.cpu[0], _cpu_s(self.sim) - self.cpu[1]
        q_sum, q_n = (a - b for a, b in zip(_queue_s(self.h), self.queue, strict=True))
        return {
            "serve_cpu_cores": round(gw / took, 2),
            "worker_cpu_cores": round(sim / took, 2),
            "gateway_queue_mean_ms": round(1000 * q_sum / q_n, 2) if q_n else 0.0,
            "loadavg_1m": os.getloadavg()[0],
        }


def _summary(name: str, lat: list[float], errors: int, phase: Phase) -> dict[str, float]:
    out = {
        **phase.end(),
        "calls": len(lat),
        "errors": errors,
        "p50_ms": round(percentile(lat, 0.5), 1),
        "p90_ms": round(percentile(lat, 0.9), 1),
        "p99_ms": round(percentile(lat, 0.99), 1),
    }
    print(f"{name:>12}: {json.dumps(out)}", flush=True)
    return out


def _line_rate(h: httpx2.Client, bid: str, seconds: float) -> float:
    """The batch's lines/s over the next `seconds`."""
    before = h.get(f"/v1/batch/{bid}").json()["request_counts"]["completed"]
    t = time.monotonic()
    time.sleep(seconds)
    after = h.get(f"/v1/batch/{bid}").json()["request_counts"]["completed"]
    return (after - before) / (time.monotonic() - t)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-batch", type=int, default=8, help="the worker's slots (N)")
    ap.add_argument("--ttft-ms", type=float, default=100.0)
    ap.add_argument("--token-delay-ms", type=float, default=10.0)
    ap.add_argument("--tokens", type=int, default=16, help="max_tokens of every call and line")
    ap.add_argument("--load", type=float, default=0.5, help="online share of capacity")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--priority", type=float, help="batch_priority (worker gets --priority)")
    ap.add_argument("--max-share", type=float, default=0.5, help="[batch] batch_max_share")
    ap.add_argument("--headroom", type=float, default=0.3, help="[batch] batch_headroom")
    ap.add_argument("--alone-s", type=float, default=10.0, help="batch-alone phase length")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    n = args.max_batch
    gw_port, sim_port = free_ports(2)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            sim_args = [PY, "-m", "provocapi", "worker-sim", "--port", str(sim_port), "--model",
                        MODEL, "--family", "llama3", "--max-batch", str(n), "--ttft-ms",
                        str(args.ttft_ms), "--token-delay-ms", str(args.token_delay_ms),
                        "--output-tokens", str(args.tokens)]  # fmt: skip
            if args.priority is not None:
                sim_args.append("--priority")
            procs.append(subprocess.Popen(sim_args, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))  # fmt: skip
            prio = f"batch_priority = {args.priority}" if args.priority is not None else ""
            (root / "p.toml").write_text(textwrap.dedent(f"""\
                [batch]
                max_lines = 50000
                line_concurrency = {n}
                batch_max_share = {args.max_share}
                batch_headroom = {args.headroom}
                poll_interval_s = 0.1

                [[models]]
                id = "{MODEL}"
                kind = "chat"
                family = "llama3"
                {prio}
                workers = [{{ url = "http://127.0.0.1:{sim_port}", max_concurrency = {n} }}]
                """))  # fmt: skip
            data = root / "data"
            key = subprocess.run(
                [PY, "-m", "provocapi", "keys", "create", "--tenant", "bench", "--data-dir",
                 str(data)], check=True, capture_output=True, text=True,
            ).stdout.split()[-1]  # fmt: skip
            gw = subprocess.Popen(
                [PY, "-m", "provocapi", "serve", "--config", str(root / "p.toml"), "--port",
                 str(gw_port), "--data-dir", str(data), "--workers", "1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)  # fmt: skip
            procs.append(gw)
            for port in (sim_port, gw_port):
                wait_healthy(f"http://127.0.0.1:{port}/health", timeout_s=30)
            base = f"http://127.0.0.1:{gw_port}"
            auth = {"Authorization": f"Bearer {key}"}
            with httpx2.Client(base_url=base, headers=auth, timeout=60, trust_env=False) as h:
                s = service_s(h, args.tokens)
                capacity = n / s
                rate = args.load * capacity
                print(f"service {s * 1000:.0f} ms, capacity {capacity:.1f} req/s, "
                      f"online {rate:.1f} req/s ({args.load:.0%})", flush=True)  # fmt: skip
                url = f"{base}/v1/chat/completions"
                run = (url, key, rate, args.warmup, args.duration, args.tokens, args.seed)
                sim_pid = procs[0].pid
                phase = Phase(h, gw.pid, sim_pid)
                alone = _summary("alone", *asyncio.run(open_loop(*run)), phase)
                lines = int(capacity * (args.warmup + args.duration + args.alone_s + 30))
                r = h.post("/v1/batch?endpoint=/v1/chat/completions",
                           content=_lines(lines, args.tokens))  # fmt: skip
                r.raise_for_status()
                bid = r.json()["id"]
                deadline = time.monotonic() + 30
                while h.get(f"/v1/batch/{bid}").json()["status"] == "validating":
                    assert time.monotonic() < deadline, "the batch never started"
                    time.sleep(0.1)
                time.sleep(2.0)  # the runner at full speed
                alone_rate = _line_rate(h, bid, args.alone_s)
                print(f"batch alone: {alone_rate:.1f} lines/s "
                      f"({alone_rate / capacity:.0%} of capacity)", flush=True)  # fmt: skip
                done_before = h.get(f"/v1/batch/{bid}").json()["request_counts"]["completed"]
                t = time.monotonic()
                phase = Phase(h, gw.pid, sim_pid)
                busy = _summary("with batch", *asyncio.run(open_loop(*run)), phase)
                b = h.get(f"/v1/batch/{bid}").json()
                line_rate = (b["request_counts"]["completed"] - done_before) / (
                    time.monotonic() - t
                )
                h.post(f"/v1/batch/{bid}/cancel")
            ratio = busy["p99_ms"] / alone["p99_ms"]
            print(f"batch status {b['status']}, {line_rate:.1f} lines/s during the phase "
                  f"({line_rate / capacity:.0%} of capacity)", flush=True)  # fmt: skip
            print(f"p99 ratio with/without batch: {ratio:.2f} (goal <= 1.2)", flush=True)
        finally:
            for p in reversed(procs):
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
