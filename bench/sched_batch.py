"""What SCHED_BATCH does to a worker: CPU a request at saturation, and latency one call at a time.

    .venv/bin/python bench/sched_batch.py [--rounds 6] [--out FILE.md]   # about 8 minutes

`provocapi serve --workers 1` on core 1 with the floor's non-streaming chat; the worker's
threads are switched between the kernel's default policy and SCHED_BATCH (`chrt -a -p`, on the
running process, so both are measured on one warm gateway) in alternated rounds. Each round and
policy: wrk c=64 for --seconds (the tree's CPU µs a request, requests a second, the workers'
context switches a request), then --calls calls one at a time on one keep-alive connection
(p50 and p99 of their wall time, the client on core 0), then open loop at each of --rates
(oha, 64 connections, latency from each request's scheduled time, 5 s after 1 s). `provocapi
serve` runs its workers under SCHED_BATCH with `[server] sched_batch = true`
(provocapi/sched_policy.py).

Loopback only; everything started is stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from floor import (
    CONNECTIONS,
    LOAD_CPU,
    PY,
    SERVER_CPU,
    Processes,
    body,
    create_key,
    find_oha,
    loadavg,
    lua_script,
    say,
    start_upstream,
    tree,
    tree_cpu_s,
)
from workers_memory import role, start_gateway, worker_split, wrk

POLICIES = {"default": "-o", "batch": "-b"}  # chrt's flags: SCHED_OTHER, SCHED_BATCH

# one call at a time on one keep-alive connection: wall time of each, in ms
SEQUENTIAL = """
import http.client, json, sys, time
port, calls, key = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
data = sys.stdin.buffer.read()
hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
c = http.client.HTTPConnection("127.0.0.1", port)
def one():
    t = time.perf_counter()
    c.request("POST", "/v1/chat/completions", data, hdr)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        raise SystemExit(f"HTTP {r.status}")
    return (time.perf_counter() - t) * 1e3
for _ in range(200):
    one()
print(json.dumps(sorted(one() for _ in range(calls))))
"""


def set_policy(root: int, policy: str) -> None:
    """Every thread of every worker (a counting thread's SCHED_IDLE included: the
    measured path never starts one, the floor's prompt is short)."""
    for pid in tree(root):
        if role(pid, root) == "worker":
            flag = POLICIES[policy]
            subprocess.run(
                ["chrt", "-a", "-p", flag, "0", str(pid)], check=True, capture_output=True
            )


def sequential(port: int, calls: int, key: str) -> tuple[float, float]:
    argv = ["taskset", "-c", LOAD_CPU, PY, "-c", SEQUENTIAL, str(port), str(calls), key]
    data = json.dumps(body(False)).encode()
    out = subprocess.run(argv, input=data, capture_output=True, check=True).stdout
    xs = json.loads(out)
    return xs[len(xs) // 2], xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def open_loop(oha: str, url: str, key: str, body_file: Path, rate: int) -> tuple[float, float]:
    """p50 and p99 ms of 5 s at `rate` requests a second (after 1 s not counted)."""
    argv = ["taskset", "-c", LOAD_CPU, oha, "--no-tui", "--output-format", "json"]
    argv += ["--worker-threads", "1", "-w", "-c", str(CONNECTIONS), "-q", str(rate)]
    argv += ["--latency-correction", "-m", "POST", "-T", "application/json"]
    argv += ["-H", f"Authorization: Bearer {key}", "-D", str(body_file)]
    subprocess.run([*argv, "-z", "1s", url], capture_output=True, timeout=60)
    out = subprocess.run([*argv, "-z", "5s", url], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"oha failed: {out.stderr.strip()[:300]}")
    j = json.loads(out.stdout)
    failed = sum(int(n) for code, n in j.get("statusCodeDistribution", {}).items() if code != "200")
    failed += sum(int(n) for n in j.get("errorDistribution", {}).values())
    if failed:
        raise RuntimeError(f"oha at {rate} req/s: {failed} requests failed")
    pct = j["latencyPercentiles"]
    return pct["p50"] * 1e3, pct["p99"] * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=8.0, help="wrk seconds a measurement")
    ap.add_argument("--calls", type=int, default=2500, help="one-at-a-time calls a measurement")
    ap.add_argument(
        "--rates", default="300,2500", help="open-loop rates, comma-separated ('' for none)"
    )
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    rates = [int(x) for x in args.rates.split(",") if x]
    oha = find_oha() if rates else None
    if rates and oha is None:
        say("    oha not found (bench/floor.py --oha build builds it): no open-loop rates")
        rates = []
    work = Path(tempfile.mkdtemp(prefix="provocapi-sched-"))
    tails: dict[tuple[str, int], list[tuple[float, float]]] = {}
    got: dict[str, list[tuple[float, float, float, float, float]]] = {p: [] for p in POLICIES}
    started = dt.datetime.now(dt.UTC)
    procs = Processes(work)
    try:
        key = create_key(work / "data")
        upstream = start_upstream(procs, "sim-fast")
        script = lua_script(work / "chat.lua", key, stream=False)
        body_file = work / "body.json"
        body_file.write_text(json.dumps(body(False)))
        base, pid = start_gateway(procs, work, upstream, 1)
        url = base + "/v1/chat/completions"
        port = int(base.rsplit(":", 1)[1])
        wrk(url, script, 3.0)
        order = list(POLICIES)
        for r in range(args.rounds):
            for policy in order if r % 2 == 0 else order[::-1]:
                set_policy(pid, policy)
                wrk(url, script, 1.0)
                c0, s0 = tree_cpu_s(pid), worker_split(pid)
                done = wrk(url, script, args.seconds)
                c1, s1 = tree_cpu_s(pid), worker_split(pid)
                p50, p99 = sequential(port, args.calls, key)
                cpu_us = (c1 - c0) / done * 1e6
                row = (cpu_us, done / args.seconds, (s1[2] - s0[2]) / done, p50, p99)
                got[policy].append(row)
                say(
                    f"    round {r + 1} {policy}: {cpu_us:.1f} µs a request, "
                    f"{row[1]:.0f} req/s, c=1 p50 {p50:.3f} p99 {p99:.3f} ms"
                )
                for rate in rates:
                    assert oha is not None
                    tail = open_loop(oha, url, key, body_file, rate)
                    tails.setdefault((policy, rate), []).append(tail)
                    say(f"      {rate} req/s: p50 {tail[0]:.2f} p99 {tail[1]:.2f} ms")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    given = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# SCHED_BATCH against the default policy, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `bench/sched_batch.py {given}`; `provocapi serve --workers 1` on core "
        f"{SERVER_CPU}, wrk c=64 on core {LOAD_CPU} for {args.seconds:g} s, then {args.calls} "
        f"calls one at a time; {args.rounds} alternated rounds; load average {loadavg()}",
        "",
        "| policy | CPU µs a request | to default (median of rounds) | requests/s "
        "| context switches a request | c=1 p50 ms | c=1 p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for policy, rows in got.items():
        med = [statistics.median(x[i] for x in rows) for i in range(5)]
        ratio = statistics.median(b[0] / a[0] for a, b in zip(got["default"], rows, strict=True))
        lines.append(
            f"| {policy} | {med[0]:.1f} | {ratio:.3f}x | {med[1]:.0f} | {med[2]:.2f} "
            f"| {med[3]:.3f} | {med[4]:.3f} |"
        )
    if rates:
        lines += ["", "Open loop (oha, median of the rounds):", ""]
        lines += [
            "| policy | rate | p50 ms | p99 ms | each round's p99 |",
            "|---|---:|---:|---:|---|",
        ]
        for (policy, rate), xs in tails.items():
            med = [statistics.median(x[i] for x in xs) for i in range(2)]
            each = ", ".join(f"{x[1]:.2f}" for x in xs)
            lines.append(f"| {policy} | {rate} req/s | {med[0]:.2f} | {med[1]:.2f} | {each} |")
    lines += ["", "Each round (CPU µs a request; c=1 p50 / p99 ms):", ""]
    for policy, rows in got.items():
        each = "; ".join(f"{x[0]:.1f} ({x[3]:.3f}/{x[4]:.3f})" for x in rows)
        lines.append(f"- {policy}: {each}")
    text = "\n".join(lines) + "\n"
    say("")
    say(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
