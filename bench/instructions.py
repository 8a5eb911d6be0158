"""Instructions per request, counted: a figure this noisy machine cannot move.

    .venv/bin/python bench/instructions.py [--tree OLDER_CHECKOUT] [--out FILE.md]

CPU seconds per request swing ±20% between rounds here, so a change worth a few
percent hides in them. Valgrind's callgrind counts the instructions a process
executes, whatever else runs on the machine. This runs bench/profile_app.py (the ASGI
app in-process, the simulator native beside it) under callgrind for provocapi and the
aiohttp pass-through, each with the floor's fixed body and with a different prompt
every request (`--unique-prompts`). Each is run twice, with a small and a large number
of requests: the difference of the two totals over the difference of their requests
is the cost of one request, with start-up (imports, vocabularies) cancelled out. Both
runs of a pair go at once, one per core.

Instructions are not time: a cache miss costs no instruction and a hundred cycles,
so the CPU figures of bench/floor.py stay the measure of speed; this one tells
whether a change cut work, and where the work of a request is (by shared object and
function, the functions where two runs differ most). Granian's part (HTTP, the ASGI
bridge) is not in it: the app is driven in-process. Nor is clock-driven work (worker
probes, /metrics reads, batch polls: `profile_app.py --timers-off`), which the slow
run (~50x) would otherwise charge to its requests (the usage spool's fsync tick, at
most 100 ms apart, stays). At c=1 (the default) each request has the loop to itself:
three runs of one tree gave 415.5k, 415.2k and 407.9k instructions (within 2%); at
c=64 (the floor's) how many answers one turn of the loop finds ready varies too
(383k to 401k). Compare trees in one run of this script, and read a difference of a
few percent with that spread in mind.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from floor import PY, REPO, loadavg  # noqa: E402

COMBOS = [
    ("provocapi", "fixed"),
    ("provocapi", "unique"),
    ("baseline", "fixed"),
    ("baseline", "unique"),
]
LABEL = {"provocapi": "provocapi", "baseline": "pass-through"}
CONCURRENCY = 1  # each request alone: the steadiest count (see above)
WARMUP_CAP = 500  # profile_app.py warms up with min(500, requests) before the counted ones

_ROW = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$")
_OBJECT = re.compile(r"\[([^\]]+)\]\s*$")
_SOURCE = re.compile(r"^\S*?\.(?:c|h|S|cc|cpp|rs):")  # "./malloc/malloc.c:_int_malloc"


def served(requests: int) -> int:
    """Requests one profile_app.py run answers in all: its warm-up and the counted ones."""
    return min(WARMUP_CAP, requests) + requests


def parse_annotate(text: str) -> dict[str, int]:
    """callgrind_annotate's table (`--inclusive=no`): instructions by function, with
    the function's shared object in brackets as callgrind names it."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and not m.group(2).startswith("PROGRAM TOTALS"):
            name = m.group(2)
            out[name] = out.get(name, 0) + int(m.group(1).replace(",", ""))
    return out


def per_request(small: dict[str, int], large: dict[str, int], extra: int) -> dict[str, float]:
    """Each function's instructions per request: what the larger run added, over the
    requests it added."""
    return {k: (large.get(k, 0) - small.get(k, 0)) / extra for k in small.keys() | large.keys()}


def object_of(function: str) -> str:
    """The shared object of a callgrind function name: a Python extension module as
    package/module.so (msgspec's `_core` is not provocapi's), CPython's own code that
    callgrind names by source file alone as libpython."""
    m = _OBJECT.search(function)
    if m is None:
        return "libpython (inlined)" if "/Python-3." in function else "?"
    path = Path(m.group(1))
    if ".cpython-" in path.name or ".abi3." in path.name:
        return f"{path.parent.name}/{path.name.split('.')[0]}.so"
    return path.name


def short(function: str) -> str:
    """A function's name without its object and source file."""
    name = _OBJECT.sub("", function).strip().removeprefix("???:")
    return _SOURCE.sub("", name)


def by_object(costs: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in costs.items():
        out[object_of(k)] = out.get(object_of(k), 0.0) + v
    return out


def ensure_valgrind() -> None:
    if shutil.which("valgrind"):
        return
    print("==> valgrind is missing: apt-get install -y valgrind", flush=True)
    r = subprocess.run(["apt-get", "install", "-y", "-q", "valgrind"], capture_output=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "valgrind"], check=True)


def run_env(tree: Path | None) -> dict[str, str]:
    """The environment of every counted run: a fixed hash seed (dict and set layouts,
    so their probing, alike in every run); with `tree`, its modules and core ahead of
    this checkout's."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree.resolve() / "python")
    return env


def counted_run(
    target: str,
    kind: str,
    requests: int,
    concurrency: int,
    cpu: int,
    out: Path,
    env: dict[str, str],
) -> dict[str, int]:
    """One profile_app.py run under callgrind; instructions by function."""
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", PY]
    argv += [str(BENCH / "profile_app.py"), "--target", target, "--cpu-only"]
    argv += ["--flusher", "external", "--requests", str(requests)]
    argv += ["--concurrency", str(concurrency), "--cpu", str(cpu), "--timers-off"]
    if kind == "unique":
        argv.append("--unique-prompts")
    ran = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO)
    if ran.returncode != 0 or "0 failed" not in ran.stdout:
        raise RuntimeError(f"{target} {kind} {requests}: {ran.stdout[-800:]}{ran.stderr[-800:]}")
    table = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", str(out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_annotate(table)


@dataclass
class Measured:
    target: str
    kind: str
    costs: dict[str, float]  # instructions per request, by function

    @property
    def total(self) -> float:
        return sum(self.costs.values())


def measure(
    target: str, kind: str, small: int, large: int, c: int, work: Path, env: dict[str, str]
) -> Measured:
    out = work / f"{target}-{kind}"
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(counted_run, target, kind, small, c, 0, out.with_suffix(".s"), env)
        b = pool.submit(counted_run, target, kind, large, c, 1, out.with_suffix(".l"), env)
        costs = per_request(a.result(), b.result(), served(large) - served(small))
    return Measured(target, kind, costs)


def differences(a: Measured, b: Measured, top: int) -> list[str]:
    """The functions whose cost per request differs most from `a` to `b`."""
    keys = sorted(
        a.costs.keys() | b.costs.keys(),
        key=lambda k: -abs(b.costs.get(k, 0.0) - a.costs.get(k, 0.0)),
    )
    rows = []
    for k in keys[:top]:
        x, y = a.costs.get(k, 0.0), b.costs.get(k, 0.0)
        rows.append(f"| {short(k)[:90]} | {object_of(k)} | {x:,.0f} | {y:,.0f} | {y - x:+,.0f} |")
    return rows


def report(results: dict[tuple[str, str], Measured], args: argparse.Namespace, when: str) -> str:
    pv, pu = results[("provocapi", "fixed")], results[("provocapi", "unique")]
    bf, bu = results[("baseline", "fixed")], results[("baseline", "unique")]
    lines = [
        f"# Instructions per request (callgrind), {when} UTC",
        "",
        f"- command: `bench/instructions.py --requests {args.requests[0]} {args.requests[1]} "
        f"--concurrency {args.concurrency}`"
        + (f" (provocapi from {args.tree})" if args.tree else "")
        + "; "
        f"bench/profile_app.py in-process at c={args.concurrency}, `--flusher external` (as under "
        "serve: the usage flusher's own process is not in these figures), no Granian; "
        f"load average {loadavg()} (it does not change a count)",
        "",
        "| target | fixed body | fresh prompts | fresh / fixed |",
        "|---|---:|---:|---:|",
    ]
    for fixed, fresh in ((pv, pu), (bf, bu)):
        lines.append(
            f"| {LABEL[fixed.target]} | {fixed.total:,.0f} | {fresh.total:,.0f} | "
            f"{fresh.total / fixed.total:.3f}x |"
        )
    lines += [
        "",
        f"provocapi / pass-through: fixed body **{pv.total / bf.total:.3f}x**, "
        f"fresh prompts **{pu.total / bu.total:.3f}x**; what a fresh prompt adds: provocapi "
        f"{pu.total - pv.total:+,.0f}, the pass-through {bu.total - bf.total:+,.0f} a request.",
        "",
        "## By shared object (instructions per request)",
        "",
        "| object | provocapi fixed | provocapi fresh | pass-through fixed | pass-through fresh |",
        "|---|---:|---:|---:|---:|",
    ]
    objs = [by_object(m.costs) for m in (pv, pu, bf, bu)]
    names = sorted(set().union(*objs), key=lambda o: -max(abs(d.get(o, 0.0)) for d in objs))
    for o in names[:14]:
        lines.append(f"| {o} | " + " | ".join(f"{d.get(o, 0.0):,.0f}" for d in objs) + " |")
    head = "| function | object | {a} | {b} | difference |"
    for title, a, b, a_label, b_label in (
        ("What a fresh prompt adds to provocapi", pv, pu, "fixed", "unique"),
        ("provocapi against the pass-through, fixed body", bf, pv, "pass-through", "provocapi"),
    ):
        lines += ["", f"## {title}", "", head.format(a=a_label, b=b_label)]
        lines += ["|---|---|---:|---:|---:|", *differences(a, b, args.top)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--requests",
        type=int,
        nargs=2,
        default=[200, 1200],
        metavar=("SMALL", "LARGE"),
        help="counted requests of the two runs of a pair (each warms up first)",
    )
    ap.add_argument(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help="requests in flight (1: each request alone, the steadiest count)",
    )
    ap.add_argument(
        "--tree",
        type=Path,
        default=None,
        help="measure provocapi from another checkout (its python/ and built core): "
        "run once with it and once without for a before/after",
    )
    ap.add_argument("--top", type=int, default=20, help="rows of each difference table")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write every function's instructions per request, per target and prompt",
    )
    ap.add_argument(
        "--only",
        choices=[f"{t}-{k}" for t, k in COMBOS],
        nargs="+",
        help="measure these alone (with --json; no report)",
    )
    args = ap.parse_args(argv)
    if served(args.requests[1]) <= served(args.requests[0]):
        ap.error("--requests: the second run must answer more requests than the first")
    ensure_valgrind()
    started = dt.datetime.now(dt.UTC)
    out = args.out or BENCH / "results" / f"instructions-{started:%Y-%m-%d}.md"
    work = Path(tempfile.mkdtemp(prefix="provocapi-instructions-"))
    results: dict[tuple[str, str], Measured] = {}
    combos = [(t, k) for t, k in COMBOS if not args.only or f"{t}-{k}" in args.only]
    small, large = args.requests
    env = run_env(args.tree)
    try:
        for target, kind in combos:
            m = measure(target, kind, small, large, args.concurrency, work, env)
            results[(target, kind)] = m
            line = f"{LABEL[target]:<12} {kind:<6} {m.total:10,.0f} instructions a request"
            print(line, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        dump = {f"{t}-{k}": m.costs for (t, k), m in results.items()}
        args.json.write_text(json.dumps(dump, indent=1, sort_keys=True))
    if len(results) == len(COMBOS):
        out.write_text(report(results, args, f"{started:%Y-%m-%d %H:%M}"))
        print(f"==> written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
