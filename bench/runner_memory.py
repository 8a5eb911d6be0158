"""Memory of `provocapi serve`'s batch runner and usage flusher processes, per `--workers`.

    .venv/bin/python bench/runner_memory.py                 # about 1 minute
    .venv/bin/python bench/runner_memory.py --workers 1 2 4 --out FILE

For each N: `provocapi serve --workers N` on a simulated upstream (no token delay), a few
chat calls (each worker counts a prompt), then one small batch through `POST /v1/batch`
(the runner counts its lines), then, idle, the PSS and the private memory (USS:
Private_Clean + Private_Dirty of smaps_rollup) of every process of the tree by role.
PSS charges a page shared by k processes 1/k to each: a runner that shares the launcher's
tokenizer tables shows them split, one with its own copy shows them whole, in PSS and USS.

Loopback only; each gateway and the upstream are stopped before the script ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from floor import (
    Processes,
    body,
    create_key,
    http,
    say,
    start_upstream,
    tree,
)
from procmem import comm, pss_bytes
from workers_memory import start_gateway, warm

MIB = 1 << 20
RUNNER_MARKS = (b"provocapi.batch.runner_process",)  # a fresh interpreter's command line
FLUSHER_MARKS = (b"provocapi.usage.flusher_process",)
RUNNER_COMM = "provocapi-batch"  # the forked runner names itself (/proc/PID/comm)
FLUSHER_COMM = "provocapi-usage"
ROLES = ("launcher", "flusher", "runner", "worker")
BATCH_LINES = 16


def uss_bytes(pid: int) -> int:
    """Private_Clean + Private_Dirty: what the process alone holds (0 once gone)."""
    total = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


def role(pid: int, root: int) -> str:
    if pid == root:
        return "launcher"
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    name = comm(pid)
    if name == RUNNER_COMM or any(m in args for m in RUNNER_MARKS):
        return "runner"
    if name == FLUSHER_COMM or any(m in args for m in FLUSHER_MARKS):
        return "flusher"
    return "worker" if b"serve" in args else "?"


def run_batch(base: str, key: str) -> None:
    """BATCH_LINES chat lines through the runner, waited for (30 s at most)."""
    lines = []
    for i in range(BATCH_LINES):
        b = body(False)
        b["max_tokens"] = 4
        b["messages"] = [{"role": "user", "content": f"question {i}: {'word ' * (20 + i)}"}]
        lines.append(json.dumps({"custom_id": f"c{i}", "method": "POST",
                                 "url": "/v1/chat/completions", "body": b}))  # fmt: skip
    auth = {"Authorization": f"Bearer {key}"}
    url = base + "/v1/batch?endpoint=/v1/chat/completions"
    status, raw = http(url, "\n".join(lines).encode() + b"\n", auth, 30)
    if status // 100 != 2:
        raise RuntimeError(f"batch: HTTP {status}: {raw[:200]!r}")
    bid = json.loads(raw)["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, raw = http(f"{base}/v1/batch/{bid}", None, auth, 10)
        b = json.loads(raw)
        if b["status"] in ("completed", "failed", "expired", "cancelled"):
            done = b["request_counts"]["completed"]
            if b["status"] != "completed" or done != BATCH_LINES:
                raise RuntimeError(f"batch ended {b['status']} with {done} lines completed")
            return
        time.sleep(0.2)
    raise RuntimeError("batch: not completed in 30 s")


def measure(pid: int) -> dict[str, list[tuple[int, int]]]:
    """role → [(PSS, USS)] of each of its processes."""
    out: dict[str, list[tuple[int, int]]] = {}
    for p in sorted(tree(pid)):
        out.setdefault(role(p, pid), []).append((pss_bytes(p), uss_bytes(p)))
    return out


def mib(v: int) -> str:
    return f"{v / MIB:.1f}"


def report(rows: list[tuple[int, dict[str, list[tuple[int, int]]]]], label: str) -> list[str]:
    out = [
        f"{label}: PSS (and USS, private) in MiB, idle after {BATCH_LINES} batch lines ran.",
        "",
        "| workers | tree PSS | runner PSS | runner USS | flusher PSS | flusher USS "
        "| launcher PSS | each worker PSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, by in rows:
        total = sum(p for procs in by.values() for p, _ in procs)

        def one(r: str, i: int, by: dict[str, list[tuple[int, int]]] = by) -> str:
            procs = by.get(r, [])
            return mib(sum(x[i] for x in procs)) if procs else "none"

        workers = ", ".join(mib(p) for p, _ in by.get("worker", []))
        out.append(
            f"| {n} | {mib(total)} | {one('runner', 0)} | {one('runner', 1)} "
            f"| {one('flusher', 0)} | {one('flusher', 1)} | {one('launcher', 0)} | {workers} |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--label", default="serve", help="names the table (e.g. before, after)")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="provocapi-runnermem-"))
    procs = Processes(work)
    try:
        key = create_key(work / "data")
        upstream = start_upstream(procs, "sim")
        rows = []
        for n in args.workers:
            base, pid = start_gateway(procs, work, upstream, n)
            warm(base, key, 4 * n, max_tokens=1)
            run_batch(base, key)
            time.sleep(1)
            by = measure(pid)
            rows.append((n, by))
            say(f"    --workers {n}: " + ", ".join(
                f"{r} {'/'.join(mib(p) for p, _ in by.get(r, []))}" for r in ROLES
            ))  # fmt: skip
            procs.stop("provocapi")
        given = " ".join(argv if argv is not None else sys.argv[1:])
        text = "\n".join([f"bench/runner_memory.py {given}", "", *report(rows, args.label), ""])
        say("")
        say(text)
        if args.out:
            args.out.write_text(text)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
