"""What a neighbour on the gateway's core costs it a request, by the memory the neighbour touches.

    .venv/bin/python bench/core_neighbour.py [--targets provocapi baseline] [--rounds 4]

About 3 minutes a target at 4 rounds; `--out FILE.md` also writes the report there.

Goal 4 of the tail issue asks two Granian workers on one core to cost at most 1.05x the CPU a
request of one. The second worker runs the same code with the same instructions a request
(bench/instructions.py gives the same count at --concurrency 32 and 64) and adds no system
calls or context switches a request (bench/workers_memory.py's split), yet the workers' user
time grows. This tests the explanation that is left: two address spaces taking turns on one
core evict each other's data from its caches, and provocapi's request touches more memory than
the pass-through's (the tokenizer's tables, the core's state, more Python objects), each
worker's copy of its own.

`provocapi serve --workers 1` (`--targets baseline`: the floor's pass-through, one worker) with
the floor's non-streaming chat (wrk c=64, the gateway on core 1), alone and with a neighbour
process pinned to core 1 beside it, which alternates short bursts of reading its own buffer
(one byte of every cache line) with short sleeps, the way a second worker alternates with the
first. Each round measures three runs: alone, a small neighbour (16 KiB: fits the L1 cache, so
it costs only its turns on the core) and a large one (8 MiB: twice this machine's L2). What
counts is the gateway tree's CPU seconds a request (the neighbour's own CPU is not in them).

Loopback only; everything started is stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from floor import (
    LOAD_CPU,
    PY,
    SERVER_CPU,
    Processes,
    create_key,
    loadavg,
    lua_script,
    say,
    start_upstream,
    tree_cpu_s,
)
from workers_memory import start_baseline, start_gateway, worker_split, wrk

KIB = 1024
SMALL = 16 * KIB
LARGE = 8 * 1024 * KIB  # twice the 4 MiB L2 lscpu reports here (2 MiB a core): spills both

# The neighbour: bursts of reading its buffer (a strided slice reads one byte of every
# 64-byte line), then a sleep, so it takes turns with the gateway many times a second.
NEIGHBOUR = """
import sys, time
buf = bytearray(int(sys.argv[1]))
burst = max(1, (1 << 20) // len(buf))  # about 1 MiB of lines read a burst, whatever the size
while True:
    for _ in range(burst):
        buf[::64]
    time.sleep(0.0002)
"""


def neighbour(size: int) -> subprocess.Popen[bytes]:
    argv = ["taskset", "-c", SERVER_CPU, PY, "-c", NEIGHBOUR, str(size)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(url: str, script: Path, pid: int, seconds: float) -> tuple[float, float, float]:
    """The tree's CPU µs a request, and the worker's user and system µs a request."""
    c0, s0 = tree_cpu_s(pid), worker_split(pid)
    done = wrk(url, script, seconds)
    c1, s1 = tree_cpu_s(pid), worker_split(pid)
    return (c1 - c0) / done * 1e6, (s1[0] - s0[0]) / done * 1e6, (s1[1] - s0[1]) / done * 1e6


Row = tuple[float, float, float]  # tree µs, worker user µs, worker system µs a request


def start(procs: Processes, work: Path, target: str, upstream: str) -> tuple[str, int]:
    if target == "baseline":
        return start_baseline(procs, upstream, 1)
    return start_gateway(procs, work, upstream, 1)


def run_round(
    url: str, script: Path, pid: int, kinds: dict[str, int], order: list[str], seconds: float
) -> dict[str, Row]:
    """Each kind of neighbour once beside the running target, in `order`."""
    out: dict[str, Row] = {}
    for kind in order:
        near = neighbour(kinds[kind]) if kinds[kind] else None
        try:
            wrk(url, script, 1.0)  # the neighbour under way
            out[kind] = measure(url, script, pid, seconds)
        finally:
            if near is not None:
                near.kill()
                near.wait()
    return out


def table(target: str, rows: list[dict[str, Row]], kinds: dict[str, int]) -> list[str]:
    """Medians by neighbour, and the median of each round's ratio to that round's alone run."""
    out = []
    for kind in kinds:
        med = [statistics.median(r[kind][i] for r in rows) for i in range(3)]
        ratios = [r[kind][0] / r["alone"][0] for r in rows]
        each = ", ".join(f"{x:.2f}" for x in ratios)
        out.append(
            f"| {target} | {kind} | {med[0]:.1f} | {statistics.median(ratios):.3f}x | {each} "
            f"| {med[1]:.1f} | {med[2]:.1f} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured wrk seconds a run")
    ap.add_argument(
        "--targets", nargs="+", choices=("provocapi", "baseline"), default=["provocapi"],
        help="baseline: the floor's pass-through (bench/baseline_proxy.py), one Granian worker",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    kinds = {"alone": 0, "small": SMALL, "large": LARGE}
    work = Path(tempfile.mkdtemp(prefix="provocapi-neighbour-"))
    got: dict[str, list[dict[str, Row]]] = {t: [] for t in args.targets}
    started = dt.datetime.now(dt.UTC)
    procs = Processes(work)
    try:
        key = create_key(work / "data")
        upstream = start_upstream(procs, "sim-fast")
        script = lua_script(work / "chat.lua", key, stream=False)
        running = {t: start(procs, work, t, upstream) for t in args.targets}
        for base, _ in running.values():
            wrk(base + "/v1/chat/completions", script, 3.0)
        for r in range(args.rounds):
            flip = r % 2 == 1  # alternate the targets' order and the neighbours'
            for t in args.targets[::-1] if flip else args.targets:
                base, pid = running[t]
                order = list(kinds)[::-1] if flip else list(kinds)
                url = base + "/v1/chat/completions"
                got[t].append(run_round(url, script, pid, kinds, order, args.seconds))
                each = ", ".join(f"{k} {v[0]:.1f}" for k, v in got[t][-1].items())
                say(f"    round {r + 1} {t}: tree µs a request: {each}")
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    given = " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"# A neighbour on the gateway's core, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `bench/core_neighbour.py {given}`; one worker on core {SERVER_CPU} (each "
        f"target started once, both running; the one not measured idle), wrk c=64 on core "
        f"{LOAD_CPU}, {args.seconds:g} s a run, {args.rounds} alternated rounds; load average "
        f"{loadavg()}",
        f"- neighbour: reads one byte of every cache line of its buffer, ~1 MiB of lines a "
        f"burst, then sleeps 0.2 ms; small {SMALL // KIB} KiB, large {LARGE // KIB} KiB; "
        f"{os.cpu_count()} CPUs",
        "",
        "| target | neighbour | tree CPU µs a request (median) | to alone (median of rounds) "
        "| each round | worker user µs | worker system µs |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for t in args.targets:
        lines += table(t, got[t], kinds)
    text = "\n".join(lines) + "\n"
    say("")
    say(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
