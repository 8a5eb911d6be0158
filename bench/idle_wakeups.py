"""What an idle gateway costs: CPU and wake-ups a second of its whole process tree, by thread.

    .venv/bin/python bench/idle_wakeups.py [--seconds 20] [--rounds 3] [--before PATH]
        [--out bench/results/idle-wakeups-DATE.md]

Targets, one up at a time, in alternated rounds (the order reverses every round):
`provocapi serve --workers 1` with the floor's config, the floor's pass-through
(bench/baseline_proxy.py), and with `--before PATH` another checkout's provocapi
(`provocapi-before`, its python/ on PYTHONPATH): a change measured before and after in one
run. Each target answers a few requests, settles for 3 s, then is left idle for `--seconds`.

Read from /proc for every thread of the tree: the CPU time it ran (`schedstat`, in ns, not
the 10 ms ticks of `stat`) and its voluntary context switches (each one a sleep, so each
wake-up after it). On a virtual machine a wake-up is dear whatever little it does: a bare
uvloop timer loop at 4 Hz costs this machine ~190 µs a wake-up (a C `nanosleep` loop 50-70),
so the number of wake-ups an idle process makes is most of what it costs, and what it takes
from whatever else runs on the core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from floor import Processes, chat, create_key, start_upstream, tree_commit  # noqa: E402
from openloop_threads import readings  # noqa: E402
from workers_memory import role, start_baseline, start_gateway  # noqa: E402

BEFORE = "provocapi-before"
SETTLE_S = 3.0
WARM_REQUESTS = 5


def threads(root: int) -> dict[str, tuple[int, int]]:
    """ "role/thread:tid" → (ns run, voluntary switches) for every thread of the tree (the
    process's role as workers_memory.role names it); a main thread is marked "(main)" (in a
    worker, its event loop)."""
    got = readings(root, lambda pid: role(pid, root))
    return {k: (ns, vol) for k, (_, vol, _, ns) in got.items()}


def per_role(before: dict, after: dict, seconds: float) -> dict[str, tuple[float, float]]:
    """process/thread name → (CPU ms a second, wake-ups a second), threads of a name summed."""
    roles: dict[str, tuple[float, float]] = {}
    for k, (ns, vol) in after.items():
        ns0, vol0 = before.get(k, (0, 0))
        who = k.rsplit(":", 1)[0]
        ms, wakes = roles.get(who, (0.0, 0.0))
        roles[who] = (ms + (ns - ns0) / 1e6 / seconds, wakes + (vol - vol0) / seconds)
    return roles


def measure(pid: int, base: str, key: str, seconds: float) -> dict[str, tuple[float, float]]:
    for _ in range(WARM_REQUESTS):  # every lazy start-up path taken before the window
        chat(base, key, False)
    time.sleep(SETTLE_S)
    t0 = threads(pid)
    time.sleep(seconds)
    return per_role(t0, threads(pid), seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", type=Path, help=f"a checkout measured beside as {BEFORE}")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    targets = ["provocapi", "baseline"] + ([BEFORE] if a.before else [])
    work = Path(tempfile.mkdtemp(prefix="idle-wakeups-"))
    procs = Processes(work)
    rows: dict[str, list[dict[str, tuple[float, float]]]] = {t: [] for t in targets}
    try:
        key = create_key(work / "data")
        up = start_upstream(procs, "sim")
        for r in range(a.rounds):
            for name in targets if r % 2 == 0 else targets[::-1]:
                if name == "baseline":
                    base, pid = start_baseline(procs, up, 1)
                    key_used = "unused"
                else:
                    env = {"PYTHONPATH": str(a.before.resolve() / "python")} if a.before else {}
                    base, pid = start_gateway(procs, work, up, 1, env=env if name == BEFORE else {})
                    key_used = key
                roles = measure(pid, base, key_used, a.seconds)
                procs.stop("baseline" if name == "baseline" else "provocapi")
                rows[name].append(roles)
                ms = sum(v[0] for v in roles.values())
                wakes = sum(v[1] for v in roles.values())
                say = f"round {r + 1} {name}: {ms:.2f} ms/s CPU, {wakes:.1f} wake-ups/s"
                print(say, flush=True)
    finally:
        procs.stop_all()
    text = report(a, rows)
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


def report(a: argparse.Namespace, rows: dict[str, list[dict[str, tuple[float, float]]]]) -> str:
    before = f" --before {a.before}" if a.before else ""
    out = [
        f"# An idle gateway's CPU and wake-ups, {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        f"`bench/idle_wakeups.py --seconds {a.seconds:g} --rounds {a.rounds}{before}`"
        + (f"; {BEFORE} is {tree_commit(a.before)}" if a.before else "")
        + f"; load average {os.getloadavg()[0]:.2f}",
        "",
        "Whole tree, median over rounds:",
        "",
        "| target | CPU ms a second | wake-ups a second | rounds (ms/s) |",
        "|---|---:|---:|---|",
    ]
    for name, rs in rows.items():
        if not rs:
            continue
        ms = [sum(v[0] for v in r.values()) for r in rs]
        wakes = [sum(v[1] for v in r.values()) for r in rs]
        rounds = ", ".join(f"{x:.2f}" for x in ms)
        out.append(
            f"| {name} | {statistics.median(ms):.2f} | {statistics.median(wakes):.1f} | {rounds} |"
        )
    out += ["", "By process/thread (median over rounds; names under 0.05 wake-ups left out):", ""]
    out += ["| target | process/thread | CPU ms a second | wake-ups a second |"]
    out += ["|---|---|---:|---:|"]
    for name, rs in rows.items():
        for who in sorted({k for r in rs for k in r}):
            ms = statistics.median(r.get(who, (0.0, 0.0))[0] for r in rs)
            wakes = statistics.median(r.get(who, (0.0, 0.0))[1] for r in rs)
            if wakes >= 0.05 or ms >= 0.05:
                out.append(f"| {name} | {who} | {ms:.2f} | {wakes:.1f} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
