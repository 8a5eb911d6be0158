"""Does a LiteLLM load just before lower provocapi's fresh-prompt ratio in the side by side?

    .venv/bin/python bench/litellm_before.py [--reps 4] [--out FILE.md]

About 11 minutes at 4 repetitions (16 slots of ~41 s).

The side by side (bench/sidebyside.py --unique-prompts) read provocapi / pass-through lower
with LiteLLM among its targets than without it in four pairs of runs on 2026-12-07 (README,
"Latest side by side"), where LiteLLM's own maximum-throughput run often comes one or two
steps before provocapi's. This measures that cause alone: everything as the side by side sets
it up (the simulator on core 0, provocapi, the pass-through and LiteLLM all up on core 1, wrk
c=64 from core 0 with fresh prompts, 3 s warm-up then 10 s measured, the same wait for the
last load to be over), then slots of two kinds in balanced, shuffled blocks:

- litellm: LiteLLM's maximum-throughput run (warm-up and measured, as in the side by side),
- pause: 13.5 s of nothing,

each followed at once by provocapi's and the pass-through's runs, in either order (half the
slots each way). The figure is provocapi / pass-through in each slot: both measured within
half a minute, so a slow spell of the machine weighs on both.

Loopback only; everything started is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import sidebyside as S
from floor import create_key

CONDITIONS = ("litellm", "pause")
ORDERS = (("provocapi", "floor"), ("floor", "provocapi"))
PAUSE_S = 13.5  # about LiteLLM's run and its wait


@dataclass
class Slot:
    cond: str
    first: str
    at: str
    rate: dict[str, float]
    cpu: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.rate["provocapi"] / self.rate["floor"]


def plan(reps: int, seed: int = 0) -> list[tuple[str, tuple[str, str]]]:
    """reps blocks, each holding every (condition, order) once in a shuffled order."""
    block = [(c, o) for c in CONDITIONS for o in ORDERS]
    slots: list[tuple[str, tuple[str, str]]] = []
    for i in range(reps):
        b = list(block)
        random.Random(seed + i).shuffle(b)
        slots += b
    return slots


def summary(slots: list[Slot]) -> list[str]:
    lines = ["| before | first | slots | provocapi / pass-through, each | median | mean |"]
    lines.append("|---|---|---:|---|---:|---:|")
    for cond in CONDITIONS:
        for first in ("provocapi", "floor", "either"):
            rs = [s.ratio for s in slots if s.cond == cond and first in (s.first, "either")]
            if not rs:
                continue
            each = ", ".join(f"{r:.3f}" for r in rs) if first != "either" else ""
            lines.append(
                f"| {cond} | {first} | {len(rs)} | {each} | {statistics.median(rs):.3f}x "
                f"| {statistics.mean(rs):.3f}x |"
            )
    return lines


def report(slots: list[Slot], command: str, started: str, load: tuple[str, str]) -> str:
    rows = [
        f"| {i + 1} | {s.at} | {s.cond} | {s.first} | {s.rate['provocapi']:,.0f} | "
        f"{s.rate['floor']:,.0f} | {s.cpu['provocapi']:.3f} | {s.cpu['floor']:.3f} | "
        f"{s.ratio:.3f}x |"
        for i, s in enumerate(slots)
    ]
    every = [s.ratio for s in slots]
    spread = statistics.stdev(every) if len(every) > 1 else float("nan")
    return "\n".join(
        [
            f"# A LiteLLM load just before, and provocapi's fresh-prompt ratio ({started})",
            "",
            f"- command: `.venv/bin/python {command}`",
            f"- load average before / after: {load[0]} / {load[1]}",
            "- each slot: LiteLLM's maximum-throughput run (3 s + 10 s) or a 13.5 s pause, then "
            "provocapi's and the pass-through's (3 s warm-up + 10 s measured each, wrk c=64, "
            "fresh prompts), in the order given",
            "",
            "| slot | at | before | first | provocapi req/s | pass-through req/s | "
            "provocapi CPU ms/req | pass-through CPU ms/req | ratio |",
            "|---:|---|---|---|---:|---:|---:|---:|---:|",
            *rows,
            "",
            *summary(slots),
            "",
            f"Every slot: median {statistics.median(every):.3f}x, mean "
            f"{statistics.mean(every):.3f}x, standard deviation of one slot {spread:.3f}.",
            "",
        ]
    )


def measure(reps: int) -> list[Slot]:
    work = Path(tempfile.mkdtemp(prefix="provocapi-litellm-before-"))
    procs = S.Processes(work)
    run = S.Runner(work / "raw.txt", S.FULL, None, work)
    env = S.Env(procs, work, S.LITELLM_VENV / "bin" / "litellm")
    slots: list[Slot] = []
    try:
        env.provocapi_key = create_key(work / "data")
        extra = ["--output-tokens", "64", "--memo-entries", str(S.UPSTREAM_MEMO)]
        fast = S.start_upstream(procs, "sim-fast", extra)
        with contextlib.ExitStack() as stack:
            up = {n: stack.enter_context(env.target(n, fast)) for n in S.GATEWAYS}
            scripts = {
                n: S.lua_script(work / f"{n}.lua", env.key(n), stream=False, unique=True)
                for n in S.GATEWAYS
            }

            def load(name: str) -> S.Throughput:
                base, pid = up[name]
                t = run.throughput(base + S.CHAT, scripts[name], pid, name)
                S.settle(pid, fast)
                return t

            for i, (cond, order) in enumerate(plan(reps)):
                if cond == "litellm":
                    load("litellm")
                else:
                    time.sleep(PAUSE_S)
                got = {n: load(n) for n in order}
                slot = Slot(
                    cond,
                    order[0],
                    f"{dt.datetime.now():%H:%M:%S}",
                    {n: t.rate for n, t in got.items()},
                    {n: t.cpu_per_1k or float("nan") for n, t in got.items()},
                )
                slots.append(slot)
                S.say(f"    slot {i + 1}: {cond:<7} then {order[0]:<9} {slot.ratio:.3f}x")
    finally:
        procs.stop_all()
    return slots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=4, help="blocks of the four kinds of slot")
    ap.add_argument("--out", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    S.ensure_wrk()
    S.ensure_venv(S.LITELLM_VENV, S.LITELLM_SPEC, "litellm")
    started = f"{dt.datetime.now():%Y-%m-%d %H:%M}"
    load0 = S.loadavg()
    slots = measure(args.reps)
    command = " ".join(["bench/litellm_before.py", *(sys.argv[1:] if argv is None else argv)])
    text = report(slots, command, started, (load0, S.loadavg()))
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
