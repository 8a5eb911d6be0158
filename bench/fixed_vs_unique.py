"""Does a fresh prompt cost provocapi more than it costs the pass-through?

    .venv/bin/python bench/fixed_vs_unique.py [--rounds 6] [--measure 10] [--out FILE.md]

The floor's setup (bench/floor.py: the server alone on core 1, wrk and the simulator on
core 0, c=64): provocapi and the aiohttp pass-through, each with the floor's fixed chat
body and with a different prompt every request (`--unique-prompts`), four runs a round
in an order that rotates each round. Reported: the server tree's CPU per request of each
run, the medians, and per round what the fresh prompt added (unique - fixed) to each
target. A CPU figure, not req/s: with fresh prompts the simulator counts each one itself
and comes near its own limit, which caps req/s for both targets alike.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from floor import (  # noqa: E402
    Durations,
    Env,
    Processes,
    Runner,
    create_key,
    loadavg,
    lua_script,
    measure,
    speed_probe,
    start_upstream,
)

COMBOS = [
    ("provocapi", "fixed"),
    ("provocapi", "unique"),
    ("baseline", "fixed"),
    ("baseline", "unique"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--measure", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    started = dt.datetime.now(dt.UTC)
    out = args.out or BENCH / "results" / f"fixed-vs-unique-{started:%Y-%m-%d}.md"
    d = Durations(args.warmup, args.measure, args.rounds, 0, 0, 0, 0)
    work = Path(tempfile.mkdtemp(prefix="provocapi-fixed-unique-"))
    procs = Processes(work)
    run = Runner(work / "raw.txt", d)
    speed_before, load_before = speed_probe(), loadavg()
    cpu: dict[tuple[str, str], list[float]] = {c: [] for c in COMBOS}
    lines: list[str] = []
    try:
        env = Env(procs, work, start_upstream(procs, "sim"))
        env.key = create_key(work / "data")
        scripts = {
            "fixed": lua_script(work / "fixed.lua", env.key, False, False),
            "unique": lua_script(work / "unique.lua", env.key, False, True),
        }
        for n in range(args.rounds):
            shift = n % len(COMBOS)
            for name, kind in COMBOS[shift:] + COMBOS[:shift]:
                with env.target(name) as base:
                    r, s = measure(env, run, name, base + "/v1/chat/completions", scripts[kind])
                us = s / max(1, r.requests) * 1e6
                cpu[(name, kind)].append(us)
                line = f"round {n + 1}: {name:<9} {kind:<6} {r.rate:7.0f} req/s  {us:6.1f} µs/req"
                print(line, flush=True)
                lines.append(line)
            added = {
                t: cpu[(t, "unique")][-1] - cpu[(t, "fixed")][-1] for t in ("provocapi", "baseline")
            }
            line = (f"round {n + 1}: unique - fixed: provocapi {added['provocapi']:+.1f} µs, "
                    f"pass-through {added['baseline']:+.1f} µs")  # fmt: skip
            print(line, flush=True)
            lines.append(line)
    finally:
        procs.stop_all()
    med = {c: statistics.median(v) for c, v in cpu.items()}

    def ratio(kind: str) -> float:
        return med[("provocapi", kind)] / med[("baseline", kind)]

    rep = [
        f"# Fixed against fresh prompts: CPU per request, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `bench/fixed_vs_unique.py --rounds {args.rounds} --measure {args.measure:g}`"
        f" ({args.warmup:g} s warm-up each); load average {load_before} before, {loadavg()} after;"
        f" speed probe {speed_before} before, {speed_probe()} after",
        "- the floor's setup (bench/floor.py): each server alone on core 1, wrk c=64 and the "
        "simulator on core 0; CPU of the server's process tree over the measured run / requests",
        "",
        "| target | fixed body (median µs/req) | fresh prompts (median µs/req) | fresh / fixed |",
        "|---|---:|---:|---:|",
    ]
    for t, label in (("provocapi", "provocapi"), ("baseline", "pass-through")):
        f, u = med[(t, "fixed")], med[(t, "unique")]
        rep.append(f"| {label} | {f:.1f} | {u:.1f} | {u / f:.3f}x |")
    rep += [
        "",
        f"provocapi / pass-through, CPU per request: fixed {ratio('fixed'):.3f}x, "
        f"fresh {ratio('unique'):.3f}x (medians; lower is cheaper).",
        "",
        "```",
        *lines,
        "```",
        "",
    ]
    out.write_text("\n".join(rep))
    print(f"==> written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
