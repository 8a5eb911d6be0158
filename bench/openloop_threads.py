"""Open loop at one fixed rate: CPU per request by thread, and whether provocapi's
helper processes (usage flusher, batch runner) make its tail.

    .venv/bin/python bench/openloop_threads.py [--rate 2000] [--requests 20000] [--rounds 4]
        [--variants plain,paused,niced] [--perf] [--out bench/results/openloop-threads-DATE.md]

Targets in alternated rounds (the order reverses every round): provocapi (`provocapi serve
--workers 1`, its whole tree on core 1, the floor's config) in each variant, and the
floor's pass-through (bench/baseline_proxy.py). Variants:

- `plain`: as served;
- `paused`: the usage flusher and the batch runner stopped (SIGSTOP) for the measured
  window, so nothing but the worker runs on core 1 (the spool just grows meanwhile);
- `niced`: the same helpers at nice 10 (every thread), so that the worker wins the core.

Each target gets a 2 s warm-up at the rate, then `--requests` at `--rate` from oha
(`-q`, `--latency-correction`: latency from each request's scheduled time; core 0, with the
simulator). Reported per round and as medians: CPU per request of the whole tree and of
each thread (/proc/PID/task/TID/stat), context switches per request by thread, voluntary
(a sleep) and involuntary (preempted, or a `sched_yield` that ran another thread), p50/p99.

`--perf` also samples the worker's event-loop thread with `perf record` (2,999 Hz, that thread
only) over the measured window and splits its CPU per request by shared object (the
interpreter, the kernel, libc, the provocapi core, uvloop, Granian, msgspec, the HTTP
parsers...): where a difference between the targets lies when no single Python function
shows it. perf's own cost is in both targets alike; the split is by samples, so its total
differs a little from the thread's CPU from /proc.

What it answers: at a rate both serve, whether provocapi's added tail is its own stalls
(then pausing the helpers, or a stall, shows) or queueing on a busier core (then the p99
follows the CPU per request: for a single server, waiting grows as rho/(1 - rho) times the
service time, rho = rate x CPU per request).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from floor import (  # noqa: E402
    LOAD_CPU,
    Processes,
    body,
    create_key,
    find_oha,
    start_upstream,
    tree,
    tree_cpu_s,
)
from workers_memory import start_baseline, start_gateway  # noqa: E402

HELPERS = ("provocapi-usage", "provocapi-batch")  # /proc comm of the forked helpers
PERF_HZ = 2999

# Shared objects grouped under one name (perf names them by file).
DSO_GROUPS = (
    ("libpython", "Python interpreter"),
    ("kernel", "kernel"),
    ("libc.so", "libc (malloc, memcpy)"),
    ("_core.abi3", "provocapi core (Rust)"),
    ("_core.cpython", "msgspec"),
    ("orjson", "orjson"),
    ("loop.cpython", "uvloop"),
    ("_granian", "Granian"),
    ("parser.cpython", "llhttp (provocapi's upstream client)"),
    ("_http_parser", "aiohttp (parser, multidict, writer)"),
    ("_multidict", "aiohttp (parser, multidict, writer)"),
    ("_http_writer", "aiohttp (parser, multidict, writer)"),
    ("_asyncio", "asyncio (C)"),
)


def readings(
    root: int, process_name: Callable[[int], str] | None = None
) -> dict[str, tuple[float, int, int, int]]:
    """ "process/thread:tid" → (CPU s from `stat`, voluntary switches, involuntary switches,
    ns run from `schedstat`) of every thread of the tree; the process part is its `comm`,
    or `process_name(pid)`. A process's main thread (a worker's event loop) is marked
    "(main)", apart from its other threads of the same name (Granian's hand-off)."""
    out: dict[str, tuple[float, int, int, int]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
            pname = process_name(pid) if process_name else Path(f"/proc/{pid}/comm").read_text()
        except OSError:
            continue
        for tid in tids:
            task = f"/proc/{pid}/task/{tid}"
            try:
                stat = Path(f"{task}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"{task}/status").read_text()
                tcomm = Path(f"{task}/comm").read_text().strip()
            except OSError:
                continue
            try:
                ns = int(Path(f"{task}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):  # a kernel without schedstat
                ns = 0
            vol = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("volun"))
            inv = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("nonvol"))
            main = " (main)" if tid == str(pid) else ""
            cpu = (int(stat[11]) + int(stat[12])) / tick
            out[f"{pname.strip()}/{tcomm}{main}:{tid}"] = (cpu, vol, inv, ns)
    return out


def threads(root: int) -> dict[str, tuple[float, int, int]]:
    """comm:tid → (CPU s, voluntary switches, involuntary switches) of every thread of the
    tree. Voluntary: the thread slept (the loop in epoll, a runtime thread on its sockets);
    involuntary: it had to give the core up while runnable (preempted by a woken thread, or
    a `sched_yield` that found another thread to run)."""
    return {k: (cpu, vol, inv) for k, (cpu, vol, inv, _) in readings(root).items()}


def by_role(before: dict, after: dict, n: int) -> dict[str, float]:
    """µs per request by process/thread name (threads of one name summed)."""
    roles: dict[str, float] = {}
    for k, (cpu, _, _) in after.items():
        role = k.rsplit(":", 1)[0]
        roles[role] = roles.get(role, 0.0) + (cpu - before.get(k, (0.0, 0, 0))[0]) / n * 1e6
    return {r: v for r, v in roles.items() if v >= 0.5}


def switches_by_role(before: dict, after: dict, n: int) -> dict[str, tuple[float, float]]:
    """Voluntary and involuntary switches per request by process/thread name (threads of one
    name summed; a thread started in the window counts from zero); names under 0.01 left out."""
    roles: dict[str, tuple[float, float]] = {}
    for k, (_, vol, inv) in after.items():
        role = k.rsplit(":", 1)[0]
        _, vol0, inv0 = before.get(k, (0.0, 0, 0))
        v, i = roles.get(role, (0.0, 0.0))
        roles[role] = (v + (vol - vol0) / n, i + (inv - inv0) / n)
    return {r: x for r, x in roles.items() if x[0] + x[1] >= 0.01}


def loop_thread(root: int) -> int | None:
    """The serving worker's event-loop thread: the main thread of the process in the tree
    that runs Granian's tokio runtime."""
    for pid in tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError):
                comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                if comm.startswith("tokio-rt"):
                    return pid
    return None


def perf_split(data: Path, n: int) -> dict[str, float]:
    """µs per request of the sampled thread by shared-object group."""
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "-n", "--stdio"],
        capture_output=True,
        text=True,
    )
    groups: dict[str, float] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if line.startswith("#") or len(parts) < 3 or not parts[0].endswith("%"):
            continue
        dso, samples = parts[2], int(parts[1])
        name = next((g for key, g in DSO_GROUPS if key in dso), "other")
        groups[name] = groups.get(name, 0.0) + samples / PERF_HZ / n * 1e6
    return groups


def helpers(root: int) -> list[int]:
    """Pids of the tree's usage flusher and batch runner."""
    found = []
    for pid in tree(root):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() in HELPERS:
                found.append(pid)
        except OSError:
            continue
    return found


def signal_helpers(root: int, sig: int) -> None:
    for pid in helpers(root):
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def nice_helpers(root: int, niceness: int) -> None:
    for pid in helpers(root):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):  # (nice is per thread)
                os.setpriority(os.PRIO_PROCESS, int(tid), niceness)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--variants", default="plain,paused")
    ap.add_argument("--perf", action="store_true", help="split the loop thread's CPU by DSO")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    if a.perf and not shutil.which("perf"):
        print("--perf: perf is not installed (apt-get install linux-perf)", file=sys.stderr)
        return 2
    oha = find_oha()
    if oha is None:
        print("oha is not built: run bench/floor.py or bench/sidebyside.py once", file=sys.stderr)
        return 2
    targets = [f"provocapi-{v}" for v in a.variants.split(",")] + ["baseline"]
    work = Path(tempfile.mkdtemp(prefix="openloop-threads-"))
    procs = Processes(work)
    bf = work / "body.json"
    bf.write_text(json.dumps(body(False)))
    rows: dict[str, list[dict]] = {t: [] for t in targets}
    lines: list[str] = []
    try:
        key = create_key(work / "data")
        up = start_upstream(procs, "sim")
        for r in range(a.rounds):
            for name in targets if r % 2 == 0 else targets[::-1]:
                if name == "baseline":
                    base, pid = start_baseline(procs, up, 1)
                else:  # one data dir (its key) for every round; the tree is fresh each time
                    base, pid = start_gateway(procs, work, up, 1)
                load = ["taskset", "-c", LOAD_CPU, oha, "--no-tui", "--output-format", "json"]
                load += ["-c", "64", "-q", f"{a.rate:g}", "--latency-correction", "-m", "POST"]
                load += ["-T", "application/json", "-H", f"Authorization: Bearer {key}"]
                load += ["-D", str(bf)]
                url = base + "/v1/chat/completions"
                warm = subprocess.run([*load, "-n", str(int(a.rate * 2)), url], capture_output=True)
                if warm.returncode != 0:
                    raise RuntimeError(f"oha failed: {warm.stderr[-300:]!r}")
                if name.endswith("-paused"):
                    signal_helpers(pid, signal.SIGSTOP)
                if name.endswith("-niced"):
                    nice_helpers(pid, 10)
                perf = None
                tid = loop_thread(pid) if a.perf else None
                data = work / f"perf-{name}-{r}.data"
                if tid is not None:
                    record = ["perf", "record", "-q", "-F", str(PERF_HZ), "-t", str(tid)]
                    perf = subprocess.Popen(
                        [*record, "-o", str(data)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(0.5)  # attached before the window opens
                t0, c0 = threads(pid), tree_cpu_s(pid)
                out = subprocess.run([*load, "-n", str(a.requests), url], capture_output=True)
                cpu, t1 = tree_cpu_s(pid) - c0, threads(pid)
                if perf is not None:
                    perf.send_signal(signal.SIGINT)
                    perf.wait(30)
                signal_helpers(pid, signal.SIGCONT)
                procs.stop("baseline" if name == "baseline" else "provocapi")
                j = json.loads(out.stdout)
                pct = j["latencyPercentiles"]
                n = a.requests
                row = {
                    "us": cpu / n * 1e6,
                    "p50": pct["p50"] * 1e3,
                    "p99": pct["p99"] * 1e3,
                    "roles": by_role(t0, t1, n),
                    "switches": sum(v[1] - t0.get(k, (0, 0, 0))[1] for k, v in t1.items()) / n,
                    "by_thread": switches_by_role(t0, t1, n),
                    "dso": perf_split(data, n) if perf is not None else {},
                }
                rows[name].append(row)
                roles = ", ".join(f"{k} {v:.0f}" for k, v in sorted(row["roles"].items()))
                line = (
                    f"round {r + 1} {name}: {row['us']:.0f} µs/req, p50 {row['p50']:.2f} ms, "
                    f"p99 {row['p99']:.2f} ms, {row['switches']:.1f} switches/req; {roles}"
                )
                print(line, flush=True)
                lines.append(line)
    finally:
        procs.stop_all()
    report = [
        f"# Open loop at {a.rate:g} req/s: CPU by thread, {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"`bench/openloop_threads.py --rate {a.rate:g} --requests {a.requests} "
        f"--rounds {a.rounds} --variants {a.variants}{' --perf' if a.perf else ''}`",
        "",
        "| target | CPU µs/req (median) | p50 ms | p99 ms | rho = rate x CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rs in rows.items():
        if not rs:
            continue
        us = statistics.median(x["us"] for x in rs)
        p50 = statistics.median(x["p50"] for x in rs)
        p99 = statistics.median(x["p99"] for x in rs)
        report.append(f"| {name} | {us:.0f} | {p50:.2f} | {p99:.2f} | {a.rate * us / 1e6:.2f} |")
    report += switch_table(rows)
    report += dso_table(rows) if a.perf else []
    report += ["", "Rounds (µs per request by process/thread name):", "", "```", *lines, "```"]
    text = "\n".join(report) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


def switch_table(rows: dict[str, list[dict]]) -> list[str]:
    """Switches per request by thread name, voluntary / involuntary, median over rounds."""
    out = [
        "",
        "Context switches per request by process/thread name, voluntary / involuntary "
        "(median over rounds; threads of one name summed):",
        "",
        "| target | thread | voluntary | involuntary |",
        "|---|---|---:|---:|",
    ]
    for name, rs in rows.items():
        names = sorted({k for x in rs for k in x["by_thread"]})
        for k in names:
            vol = statistics.median(x["by_thread"].get(k, (0.0, 0.0))[0] for x in rs)
            inv = statistics.median(x["by_thread"].get(k, (0.0, 0.0))[1] for x in rs)
            out.append(f"| {name} | {k} | {vol:.2f} | {inv:.2f} |")
    return out


def dso_table(rows: dict[str, list[dict]]) -> list[str]:
    """The loop thread's CPU per request by shared object, median over rounds, per target."""
    names = [t for t, rs in rows.items() if rs and rs[0]["dso"]]
    groups = sorted(
        {g for t in names for r in rows[t] for g in r["dso"]},
        key=lambda g: -statistics.median(r["dso"].get(g, 0.0) for r in rows[names[0]]),
    )
    out = [
        "",
        f"The event-loop thread's CPU per request by shared object (perf, {PERF_HZ} Hz, "
        "median over rounds, µs):",
        "",
        "| shared object | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for g in [*groups, "total"]:
        cells = []
        for t in names:
            vals = [
                sum(r["dso"].values()) if g == "total" else r["dso"].get(g, 0.0) for r in rows[t]
            ]
            cells.append(f"{statistics.median(vals):.1f}")
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    sys.exit(main())
