"""What SCHED_BATCH does to a worker: CPU a request at saturation, and latency one call at a time.

    .venv/bin/python bench/sched_batch.py [--rounds 6] [--out FILE.md]   # about 12 minutes

`provocapi serve --workers 1` on core 1 with the floor's non-streaming chat and
`[server] sched_batch = false`; the worker's threads are switched between the kernel's default
policy and SCHED_BATCH (`chrt -a -p`, on the running process, so both are measured on one warm
gateway). A second gateway on the same core runs `sched_batch = "auto"` (its workers switch
their runtime threads themselves while saturated: provocapi/sched_adaptive.py), the third arm.
In alternated rounds, each arm: wrk c=64 for --seconds (the tree's CPU µs a request, requests a
second, the workers' context switches a request), then --calls calls one at a time on one
keep-alive connection (p50 and p99 of their wall time, the client on core 0), then open loop at
each of --rates (oha, 64 connections, latency from each request's scheduled time, 5 s after
1 s). During the wrk run and the calls one at a time, the share of samples (every 50 ms) in which
the worker's runtime threads ran SCHED_BATCH is reported: 0 and 1 for the switched arms, what
"auto" chose for the third. `sched_batch = true` runs every thread of the workers under
SCHED_BATCH from the start (provocapi/sched_policy.py). With `--before PATH` (another checkout,
e.g. a `git worktree` of an older commit), a third gateway runs that checkout's "auto" beside
(arm `auto-before`): a change to the rule measured before and after in one run. Each open-loop
window also counts the switches the sampler saw (a runtime thread's policy changed between two
samples): a rule that goes back and forth under a steady load shows there.

Loopback only; everything started is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from floor import (
    LOAD_CPU,
    PY,
    SERVER_CPU,
    Durations,
    LatencyResult,
    Processes,
    Runner,
    body,
    create_key,
    find_oha,
    fixed_rate,
    loadavg,
    lua_script,
    say,
    start_upstream,
    tree,
    tree_commit,
    tree_cpu_s,
)
from provocapi.sched_adaptive import runtime_threads
from workers_memory import role, start_gateway, worker_split, wrk

POLICIES = {"default": "-o", "batch": "-b"}  # chrt's flags: SCHED_OTHER, SCHED_BATCH
ARMS = [*POLICIES, "auto"]  # "auto": the second gateway, switching itself
BEFORE = "auto-before"  # with --before: that checkout's "auto", a third gateway

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


class BatchShare:
    """Samples, every 50 ms in a thread of its own, whether the workers' runtime threads
    (Granian's, named tokio-*) run SCHED_BATCH; `share()` when stopped, and `switches`:
    how often a thread's policy differed from its previous sample."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen = self.batch = self.switches = 0
        self._last: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        workers = [p for p in tree(self.root) if role(p, self.root) == "worker"]
        while not self._stop.is_set():
            for pid in workers:
                for tid in runtime_threads(f"/proc/{pid}/task"):
                    with contextlib.suppress(OSError):  # ended since the listing
                        batch = os.sched_getscheduler(tid) == os.SCHED_BATCH
                        self.seen += 1
                        self.batch += batch
                        self.switches += self._last.get(tid, batch) != batch
                        self._last[tid] = batch
            time.sleep(0.05)

    def share(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.batch / self.seen if self.seen else float("nan")


def sequential(port: int, calls: int, key: str) -> tuple[float, float]:
    argv = ["taskset", "-c", LOAD_CPU, PY, "-c", SEQUENTIAL, str(port), str(calls), key]
    data = json.dumps(body(False)).encode()
    out = subprocess.run(argv, input=data, capture_output=True, check=True).stdout
    xs = json.loads(out)
    return xs[len(xs) // 2], xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def open_loop(
    run: Runner, oha: str, url: str, key: str, body_file: Path, rate: int
) -> LatencyResult:
    """floor.fixed_rate's oha run (5 s after 1 s not counted); failed requests refused."""
    got = fixed_rate(run, oha, url, key, body_file, rate, f"open loop {rate} req/s")
    if got.failed:
        raise RuntimeError(f"oha at {rate} req/s: {got.failed} requests failed")
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=8.0, help="wrk seconds a measurement")
    ap.add_argument("--calls", type=int, default=2500, help="one-at-a-time calls a measurement")
    ap.add_argument(
        "--rates", default="300,2500", help="open-loop rates, comma-separated ('' for none)"
    )
    ap.add_argument("--out", type=Path, help="also write the report here")
    ap.add_argument("--before", type=Path, help=f'a checkout whose "auto" runs beside as {BEFORE}')
    args = ap.parse_args(argv)
    arms = [*ARMS, BEFORE] if args.before else ARMS
    rates = [int(x) for x in args.rates.split(",") if x]
    oha = find_oha() if rates else None
    if rates and oha is None:
        say("    oha not found (bench/floor.py --oha build builds it): no open-loop rates")
        rates = []
    work = Path(tempfile.mkdtemp(prefix="provocapi-sched-"))
    tails: dict[tuple[str, int], list[tuple[float, float, int, float]]] = {}
    # per arm and round: CPU µs/req, req/s, switches/req, c=1 p50, p99, batch share wrk, c=1
    got: dict[str, list[tuple[float, ...]]] = {arm: [] for arm in arms}
    started = dt.datetime.now(dt.UTC)
    procs = Processes(work)
    run = Runner(work / "raw.txt", Durations(0, 0, 0, latency=5, latency_warmup=1, streams=0,
                                             stream_warmup=0))  # fmt: skip
    try:
        upstream = start_upstream(procs, "sim-fast")
        body_file = work / "body.json"
        body_file.write_text(json.dumps(body(False)))
        # arm -> (url, port, key, script, the launcher's pid); default and batch share one
        targets = {}
        gateways = [("switched", "sched_batch = false"), ("auto", 'sched_batch = "auto"')]
        if args.before:
            gateways.append((BEFORE, 'sched_batch = "auto"'))
        for name, server in gateways:
            home = work / name
            home.mkdir()
            key = create_key(home / "data")
            script = lua_script(home / "chat.lua", key, stream=False)
            env = {"PYTHONPATH": str(args.before.resolve() / "python")} if name == BEFORE else None
            base, pid = start_gateway(procs, home, upstream, 1, server, f"provocapi-{name}", env)
            url = base + "/v1/chat/completions"
            wrk(url, script, 3.0)
            target = (url, int(base.rsplit(":", 1)[1]), key, script, pid)
            for arm in POLICIES if name == "switched" else [name]:
                targets[arm] = target
        for r in range(args.rounds):
            for arm in arms if r % 2 == 0 else arms[::-1]:
                url, port, key, script, pid = targets[arm]
                if arm in POLICIES:
                    set_policy(pid, arm)
                wrk(url, script, 1.0)
                c0, s0 = tree_cpu_s(pid), worker_split(pid)
                sampler = BatchShare(pid)
                done = wrk(url, script, args.seconds)
                c1, s1 = tree_cpu_s(pid), worker_split(pid)
                share = sampler.share()
                sampler = BatchShare(pid)
                p50, p99 = sequential(port, args.calls, key)
                share_c1 = sampler.share()
                cpu_us = (c1 - c0) / done * 1e6
                row = (
                    cpu_us,
                    done / args.seconds,
                    (s1[2] - s0[2]) / done,
                    p50,
                    p99,
                    share,
                    share_c1,
                )
                got[arm].append(row)
                say(
                    f"    round {r + 1} {arm}: {cpu_us:.1f} µs a request, "
                    f"{row[1]:.0f} req/s, c=1 p50 {p50:.3f} p99 {p99:.3f} ms, "
                    f"runtime batch {share:.2f} saturated, {share_c1:.2f} at c=1"
                )
                for rate in rates:
                    assert oha is not None
                    sampler = BatchShare(pid)
                    tail = open_loop(run, oha, url, key, body_file, rate)
                    batched = sampler.share()
                    row3 = (tail.p50_ms, tail.p99_ms, sampler.switches, batched)
                    tails.setdefault((arm, rate), []).append(row3)
                    say(
                        f"      {rate} req/s: p50 {tail.p50_ms:.2f} p99 {tail.p99_ms:.2f} ms, "
                        f"{sampler.switches} switches, runtime batch {batched:.2f}"
                    )
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    given = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f'# SCHED_BATCH, the default policy and "auto", {started:%Y-%m-%d %H:%M} UTC',
        "",
        f"- command: `bench/sched_batch.py {given}`; two `provocapi serve --workers 1` on core "
        f"{SERVER_CPU} (`sched_batch = false`, switched with chrt: default and batch; "
        f'`sched_batch = "auto"`: auto), one loaded at a time, wrk c=64 on core {LOAD_CPU} for '
        f"{args.seconds:g} s, then {args.calls} calls one at a time; {args.rounds} alternated "
        f"rounds; load average {loadavg()}"
        + (
            f'; {BEFORE}: a third gateway, `sched_batch = "auto"` from {args.before} at '
            f"{tree_commit(args.before)}"
            if args.before
            else ""
        ),
        "",
        "| arm | CPU µs a request | to default (median of rounds) | requests/s "
        "| context switches a request | c=1 p50 ms | c=1 p99 ms "
        "| runtime threads batch: saturated, c=1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm, rows in got.items():
        med = [statistics.median(x[i] for x in rows) for i in range(7)]
        ratio = statistics.median(b[0] / a[0] for a, b in zip(got["default"], rows, strict=True))
        lines.append(
            f"| {arm} | {med[0]:.1f} | {ratio:.3f}x | {med[1]:.0f} | {med[2]:.2f} "
            f"| {med[3]:.3f} | {med[4]:.3f} | {med[5]:.2f}, {med[6]:.2f} |"
        )
    if rates:
        lines += ["", "Open loop (oha, median of the rounds):", ""]
        lines += [
            "| arm | rate | p50 ms | p99 ms | each round's p99 "
            "| switches seen, each round | runtime batch share, each round |",
            "|---|---:|---:|---:|---|---|---|",
        ]
        for (policy, rate), xs in sorted(tails.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            med = [statistics.median(x[i] for x in xs) for i in range(2)]
            each = ", ".join(f"{x[1]:.2f}" for x in xs)
            flips = ", ".join(str(x[2]) for x in xs)
            shares = ", ".join(f"{x[3]:.2f}" for x in xs)
            lines.append(
                f"| {policy} | {rate} req/s | {med[0]:.2f} | {med[1]:.2f} | {each} | {flips} "
                f"| {shares} |"
            )
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
