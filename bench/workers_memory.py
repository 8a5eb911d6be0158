"""Memory and CPU per Granian worker: PSS for `--workers 1, 2, 4`, idle and with streams open,
and CPU per request at `--workers 2` against `--workers 1` on one core, split into the
workers' user and system time and context switches.

    .venv/bin/python bench/workers_memory.py            # about 4 minutes
    .venv/bin/python bench/workers_memory.py --quick    # about 1.5 minutes (200 streams)

Memory: `provocapi serve --workers N` on a simulated upstream; PSS (smaps_rollup) of every
process of the tree, idle after a few warm requests (each worker has counted a prompt), then
while --hold streams are open at once (10 tokens 4 s apart, bench/sidebyside_stream.py).
"each worker beyond the first" = (tree PSS at N - tree PSS at 1) / (N - 1); goal <= 40 MiB.

CPU: the floor's non-streaming chat, wrk c=64, the gateway's whole tree pinned to core 1
(`taskset`, both workers on the same core), CPU seconds (utime+stime) per 1,000 requests at
`--workers 1` and `--workers 2`, alternated `--rounds` times; goal: 2 / 1 <= 1.05.
`--syscalls` (needs `perf`): also the events on the server's core a request, counted by
`perf stat` over each measured wrk (epoll waits: loop turns; context switches; writes).

Load generators and the upstream on core 0; loopback only; everything started is stopped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from floor import (
    CLK_TCK,
    GATEWAY_CONFIG,
    LOAD_CPU,
    MODEL,
    PY,
    SERVER_CPU,
    Processes,
    _proc_stat,
    body,
    create_key,
    http,
    lua_script,
    say,
    start_upstream,
    tree,
    tree_cpu_s,
)
from procmem import tree_pss
from provocapi.netutil import free_port, wait_healthy

MIB = 1 << 20


def start_baseline(procs: Processes, upstream: str, workers: int) -> tuple[str, int]:
    """The floor's pass-through (bench/baseline_proxy.py) with `workers` Granian workers."""
    port = free_port()
    argv = [PY, str(Path(__file__).parent / "baseline_proxy.py"), "--upstream", upstream]
    argv += ["--port", str(port), "--workers", str(workers)]
    proc = procs.start("baseline", argv, SERVER_CPU)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base + "/health", 60, proc)  # forwarded to the simulator's
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(tree(proc.pid)) < workers + 1:
        time.sleep(0.2)
    return base, proc.pid


def start_gateway(
    procs: Processes,
    work: Path,
    upstream: str,
    workers: int,
    server: str = "",
    name: str = "provocapi",
    env: dict[str, str] | None = None,
) -> tuple[str, int]:
    """`provocapi serve` with the floor's config in `work` (its data dir work/data);
    `server`: TOML lines for its [server] table; `name`: its name in `procs` (one per
    gateway running at once: stop_all stops only what its names hold); `env`: added to
    its environment."""
    cfg = work / "gateway.toml"
    head = f"[server]\n{server}\n\n" if server else ""
    cfg.write_text(head + GATEWAY_CONFIG.format(model=MODEL, upstream=upstream))
    port = free_port()
    argv = [PY, "-m", "provocapi", "serve", "--config", str(cfg), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--data-dir", str(work / "data"), "--workers", str(workers)]
    proc = procs.start(
        name, argv, SERVER_CPU, env={"PROVOCAPI_LOG_LEVEL": "WARNING", **(env or {})}
    )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base + "/health", 60, proc)
    # every process up: the launcher, its flusher and runner, N workers
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(tree(proc.pid)) < workers + 3:
        time.sleep(0.2)
    return base, proc.pid


def warm(base: str, key: str, n: int, max_tokens: int | None = None) -> None:
    b = body(False)
    if max_tokens is not None:
        b["max_tokens"] = max_tokens
    data = json.dumps(b).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    for _ in range(n):  # new connections: the kernel spreads them over the workers
        status, raw = http(base + "/v1/chat/completions", data, headers, timeout=30)
        if status != 200:
            raise RuntimeError(f"warm-up: HTTP {status}: {raw[:200]!r}")


def role(pid: int, root: int) -> str:
    """launcher, runner and flusher (forked, named `provocapi-batch`, `provocapi-usage`),
    worker (forked: the launcher's command line), or the child's own module."""
    if pid == root:
        return "launcher"
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
    if name == "provocapi-batch":
        return "runner_process"
    if name == "provocapi-usage":
        return "flusher_process"
    if b"serve" in args or any(a.endswith(b"baseline_proxy.py") for a in args):
        return "worker"  # (the baseline's Granian main process is the root)
    mods = [a.decode(errors="replace") for a in args if a.startswith(b"provocapi.")]
    return mods[0].rsplit(".", 1)[-1] if mods else "?"


def describe(pss: dict[int, int], root: int) -> str:
    return ", ".join(f"{role(p, root)} {v / MIB:.0f}" for p, v in sorted(pss.items()))


def sim_in_flight(upstream: str) -> int:
    status, raw = http(upstream + "/sim/stats", timeout=2)
    return int(json.loads(raw)["in_flight"]) if status == 200 else 0


def hold(base: str, key: str, upstream: str, pid: int, work: Path, n: int) -> tuple[int, int]:
    """(tree PSS while the most streams were open, streams open upstream then)."""
    hbody = body(True)
    hbody["max_tokens"] = 10
    hfile = work / "hold.json"
    hfile.write_text(json.dumps(hbody))
    argv = ["taskset", "-c", LOAD_CPU, PY, str(Path(__file__).parent / "sidebyside_stream.py")]
    argv += ["--url", base + "/v1/chat/completions", "--body", str(hfile), "--hold", str(n)]
    argv += ["--max-seconds", "80", "--header", f"Authorization: Bearer {key}"]
    samples: list[tuple[int, int]] = []
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 100
        while proc.poll() is None and time.monotonic() < deadline:
            samples.append((sim_in_flight(upstream), sum(tree_pss(pid).values())))
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(10)
    open_max = max((o for o, _ in samples), default=0)
    at_max = max((p for o, p in samples if o >= 0.98 * open_max), default=0)
    return at_max, open_max


def memory(args: argparse.Namespace, work: Path, key: str) -> list[str]:
    procs = Processes(work)
    rows: list[tuple[int, int, int, int, str]] = []
    try:
        slow = start_upstream(
            procs, "sim-slow", ["--output-tokens", "10", "--token-delay-ms", "4000"]
        )
        for n in args.workers:
            base, pid = start_gateway(procs, work, slow, n)
            warm(base, key, 8 * n, max_tokens=1)
            time.sleep(1)
            idle = tree_pss(pid)
            detail = describe(idle, pid)
            held, opened = hold(base, key, slow, pid, work, args.hold)
            rows.append((n, sum(idle.values()), held, opened, detail))
            say(
                f"    --workers {n}: PSS idle {sum(idle.values()) / MIB:.0f} MiB ({detail}); "
                f"{held / MIB:.0f} MiB with {opened} streams open"
            )
            procs.stop("provocapi")
    finally:
        procs.stop_all()
    one = next((r for r in rows if r[0] == 1), None)
    out = [
        f"PSS of the whole tree (launcher, flusher, batch runner, workers), MiB; {args.hold} "
        "streams held for the second column.",
        "",
        "| workers | PSS idle | per worker beyond the first (idle) | PSS with streams open "
        "| streams open upstream | per worker beyond the first (open) | idle, per process |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, idle_b, held, opened, detail in rows:
        extra_i = extra_h = "n/a"
        if one is not None and n > 1:
            extra_i = f"{(idle_b - one[1]) / (n - 1) / MIB:.1f}"
            extra_h = f"{(held - one[2]) / (n - 1) / MIB:.1f}"
        out.append(
            f"| {n} | {idle_b / MIB:.0f} | {extra_i} | {held / MIB:.0f} | {opened} | {extra_h} "
            f"| {detail} |"
        )
    return out


def wrk(url: str, script: Path, seconds: float) -> int:
    argv = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c64", f"-d{seconds:g}s", "--timeout", "10s"]
    out = subprocess.run([*argv, "-s", str(script), url], capture_output=True, text=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("FLOOR {")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"wrk failed: {out.stderr[:300]}")
    r = json.loads(line[-1][len("FLOOR ") :])
    failed = r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
    if failed:
        raise RuntimeError(f"wrk: {failed} failed requests")
    return int(r["requests"])


def cpu_by_role(root: int) -> dict[str, float]:
    """CPU seconds so far of each role in the tree (workers summed)."""
    out: dict[str, float] = {}
    for pid in tree(root):
        st = _proc_stat(pid)
        if st is not None:
            r = role(pid, root)
            out[r] = out.get(r, 0.0) + (int(st[11]) + int(st[12])) / CLK_TCK
    return out


def worker_split(root: int) -> tuple[float, float, int]:
    """The workers' user and system CPU seconds so far, and their threads' context
    switches (voluntary and not): whether a second worker on the core costs time in our
    code and the interpreter (user) or in the kernel (system, the switches with it)."""
    user = system = 0.0
    switches = 0
    for pid in tree(root):
        st = _proc_stat(pid)
        if st is None or role(pid, root) != "worker":
            continue
        user += int(st[11]) / CLK_TCK
        system += int(st[12]) / CLK_TCK
        try:
            threads = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for t in threads:
            try:
                status = (t / "status").read_text().splitlines()
            except OSError:
                continue  # a thread that ended in between
            for line in status:
                name, _, value = line.partition(":")
                if name.endswith("ctxt_switches"):
                    switches += int(value)
    return user, system, switches


# Events on the server's core, a request: whether two workers take more turns (and so
# batch less per turn) than one, or the same turns run slower.
EVENTS = {
    "system calls": "raw_syscalls:sys_enter",
    "context switches": "sched:sched_switch",
    "epoll waits": "syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait",
    "writes": "syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_pwrite64",
}


def count_events(seconds: float) -> subprocess.Popen[str]:
    """`perf stat` of EVENTS on the server's core for `seconds` (read with read_events)."""
    names = ",".join(e for group in EVENTS.values() for e in group.split(","))
    argv = ["perf", "stat", "-x", ",", "-C", SERVER_CPU, "-e", names, "--", "sleep", f"{seconds:g}"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def read_events(proc: subprocess.Popen[str], requests: int) -> dict[str, float]:
    """Each EVENTS row a request (perf's CSV: count, unit, event, ...)."""
    counts: dict[str, int] = {}
    for line in proc.communicate(timeout=60)[1].splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].strip().isdigit():
            counts[f[2]] = int(f[0])
    if not counts:
        raise RuntimeError("perf stat counted nothing (tracepoints need root)")
    return {
        row: sum(counts.get(e, 0) for e in group.split(",")) / requests
        for row, group in EVENTS.items()
    }


def events_table(events: dict[str, dict[int, list[dict[str, float]]]]) -> list[str]:
    out = [
        f"Events on the server's core (`perf stat -C {SERVER_CPU}`) a request, "
        "median of the rounds:",
        "",
        "| target | event | --workers 1 | --workers 2 | 2 / 1 |",
        "|---|---|---:|---:|---:|",
    ]
    for t, by_n in events.items():
        for row in EVENTS:
            a = statistics.median(r[row] for r in by_n[1])
            b = statistics.median(r[row] for r in by_n[2])
            out.append(f"| {t} | {row} | {a:.2f} | {b:.2f} | {b / a if a else 0:.2f} |")
    return out


def split_table(splits: dict[str, dict[int, list[tuple[float, float, float]]]]) -> list[str]:
    """The workers' user and system µs and context switches a request, medians of the rounds."""
    out = [
        "The workers' CPU split, a request (workers summed, median of the rounds):",
        "",
        "| target | workers | user µs | system µs | context switches |",
        "|---|---:|---:|---:|---:|",
    ]
    for t, by_n in splits.items():
        for n, rows in sorted(by_n.items()):
            if rows:
                user, system, switches = (statistics.median(r[i] for r in rows) for i in range(3))
                out.append(f"| {t} | {n} | {user:.1f} | {system:.1f} | {switches:.2f} |")
    return out


def cpu(args: argparse.Namespace, work: Path, key: str) -> list[str]:
    """Each round measures every target at 1 and 2 workers, in alternating orders, so the
    targets' ratios come from the same minutes of this machine."""
    procs = Processes(work)
    per: dict[str, dict[int, list[float]]] = {t: {1: [], 2: []} for t in args.targets}
    # per role, CPU s per 1k requests: where the difference between 1 and 2 workers is
    roles: dict[str, dict[int, dict[str, list[float]]]] = {t: {1: {}, 2: {}} for t in args.targets}
    # the workers' user µs, system µs and context switches a request
    splits: dict[str, dict[int, list[tuple[float, float, float]]]] = {
        t: {1: [], 2: []} for t in args.targets
    }
    events: dict[str, dict[int, list[dict[str, float]]]] = {t: {1: [], 2: []} for t in args.targets}
    try:
        fast = start_upstream(procs, "sim-fast")
        script = lua_script(work / "chat.lua", key, stream=False)
        for r in range(args.rounds):
            targets = args.targets if r % 2 == 0 else args.targets[::-1]
            for t in targets:
                for n in (1, 2) if r % 2 == 0 else (2, 1):
                    if t == "baseline":
                        base, pid = start_baseline(procs, fast, n)
                    else:
                        base, pid = start_gateway(procs, work, fast, n)
                    url = base + "/v1/chat/completions"
                    wrk(url, script, args.warmup)
                    c0, r0, s0 = tree_cpu_s(pid), cpu_by_role(pid), worker_split(pid)
                    perf = count_events(args.seconds) if args.syscalls else None
                    done = wrk(url, script, args.seconds)
                    if perf is not None:
                        events[t][n].append(read_events(perf, done))
                    per[t][n].append((tree_cpu_s(pid) - c0) / done * 1000)
                    s1 = worker_split(pid)
                    splits[t][n].append(
                        (
                            (s1[0] - s0[0]) / done * 1e6,
                            (s1[1] - s0[1]) / done * 1e6,
                            (s1[2] - s0[2]) / done,
                        )
                    )
                    for name, c in cpu_by_role(pid).items():
                        used = (c - r0.get(name, 0.0)) / done * 1000
                        roles[t][n].setdefault(name, []).append(used)
                    say(f"    round {r + 1} {t} --workers {n}: {per[t][n][-1]:.3f} CPU s per 1k")
                    procs.stop(t)
    finally:
        procs.stop_all()
    out = [
        f"CPU s per 1,000 requests, whole tree pinned to core {SERVER_CPU}, wrk c=64 "
        f"{args.seconds:g} s after {args.warmup:g} s warm-up, {args.rounds} alternated rounds "
        f"({', '.join(args.targets)} in each).",
        "",
        "| target | workers | CPU s / 1k req (median) | rounds | ratio to 1 worker "
        "| paired 2/1 per round (median) |",
        "|---|---:|---:|---|---:|---|",
    ]
    for t in args.targets:
        one, two = per[t][1], per[t][2]
        m1, m2 = statistics.median(one), statistics.median(two)
        pairs = [b / a for a, b in zip(one, two, strict=True)]
        out.append(f"| {t} | 1 | {m1:.3f} | {', '.join(f'{x:.3f}' for x in one)} | 1.00 | |")
        out.append(
            f"| {t} | 2 | {m2:.3f} | {', '.join(f'{x:.3f}' for x in two)} | {m2 / m1:.3f} "
            f"| {', '.join(f'{x:.2f}' for x in pairs)} ({statistics.median(pairs):.3f}) |"
        )
    out += [
        "",
        "By process role (workers summed), CPU s per 1,000 requests, median of the rounds:",
        "",
        "| target | role | --workers 1 | --workers 2 | 2 - 1 |",
        "|---|---|---:|---:|---:|",
    ]
    for t in args.targets:
        by = roles[t]
        for name in sorted(set(by[1]) | set(by[2])):
            a, b = _med(by[1], name), _med(by[2], name)
            out.append(f"| {t} | {name} | {a:.4f} | {b:.4f} | {b - a:+.4f} |")
    out += ["", *split_table(splits)]
    return [*out, "", *events_table(events)] if args.syscalls else out


def _med(by_role: dict[str, list[float]], name: str) -> float:
    return statistics.median(by_role.get(name) or [0.0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 streams, one CPU round")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--hold", type=int, default=1000, help="streams open at once")
    ap.add_argument("--rounds", type=int, default=3, help="CPU: alternated rounds")
    ap.add_argument("--seconds", type=float, default=10.0, help="CPU: measured wrk seconds")
    ap.add_argument("--warmup", type=float, default=3.0, help="CPU: wrk warm-up seconds")
    ap.add_argument(
        "--targets", nargs="+", choices=("provocapi", "baseline"), default=["provocapi"],
        help="CPU: whose workers (baseline: the floor's pass-through, for what Granian costs)",
    )  # fmt: skip
    ap.add_argument("--skip", action="append", default=[], choices=("memory", "cpu"))
    ap.add_argument(
        "--syscalls", action="store_true",
        help="CPU: also count system calls, switches, epoll waits and writes a request (perf)",
    )  # fmt: skip
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    if args.quick:
        args.hold, args.rounds, args.seconds = 200, 1, 5.0
    work = Path(tempfile.mkdtemp(prefix="provocapi-workers-"))
    try:
        key = create_key(work / "data")
        given = " ".join(argv if argv is not None else sys.argv[1:])
        lines = [f"bench/workers_memory.py {given}", ""]
        if "memory" not in args.skip:
            say("==> memory: PSS per --workers")
            lines += [*memory(args, work, key), ""]
        if "cpu" not in args.skip:
            say("==> CPU per request: --workers 1 and 2 on one core")
            lines += [*cpu(args, work, key), ""]
        text = "\n".join(lines)
        say("")
        say(text)
        if args.out:
            args.out.write_text(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
