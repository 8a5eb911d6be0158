"""`provocapi compare`: the golden set against two endpoints, side by side."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, TextIO

from . import compare_report, golden, scoring
from .progress import Progress
from .runner import Run, Side, run_all
from .similarity import cosine, mean
from .wire import Endpoint

OK, FAILURES, USAGE = 0, 1, 2


def embed_similarity(ep: Endpoint, model: str, cases: list[dict[str, Any]], err: TextIO) -> None:
    """Each chat case's outputs (A's first vs B's first) embedded with `model` on side A;
    their cosine goes into the case."""
    for c in cases:
        if c["kind"] != "chat" or not c["output_a"] or not c["output_b"]:
            continue
        reply = ep.post("/embeddings", {"model": model, "input": [c["output_a"], c["output_b"]]})
        body = reply.json()
        data = body.get("data") if isinstance(body, dict) else None
        if reply.status != 200 or not isinstance(data, list) or len(data) != 2:
            print(f"warning: embedding for {c['id']} failed (HTTP {reply.status})", file=err)
            continue
        va, vb = (d.get("embedding") for d in data)
        if isinstance(va, list) and isinstance(vb, list):
            c["cosine"] = cosine(va, vb)


def _summary(o: dict[str, Any]) -> str:
    lines = compare_report.overall_table(o)
    lines += ["", "findings:"]
    lines += [f"  - {f}" for f in o["findings"]] or ["  - none above the thresholds"]
    return "\n".join(lines)


def main(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if args.repeat < 1 or args.concurrency < 1:
        print("error: --repeat and --concurrency must be at least 1", file=err)
        return USAGE
    if not args.timeout > 0 or math.isinf(args.timeout):  # also NaN, which compares false
        print("error: --timeout must be a positive number of seconds", file=err)
        return USAGE
    if args.out is not None and (why := compare_report.unwritable(args.out)):
        # found before the run, not after every request has been sent
        print(f"error: cannot write --out {args.out}: {why}", file=err)
        return USAGE
    path = args.golden or golden.DEFAULT
    try:
        cases = golden.load(path)
    except (OSError, golden.GoldenError) as e:
        print(f"error: golden file {path}: {e}", file=err)
        return USAGE
    env_key = os.environ.get("OPENAI_API_KEY", "")
    try:
        sides = [
            Side("a", Endpoint(args.a, args.a_key or env_key, args.timeout), args.a_model),
            Side("b", Endpoint(args.b, args.b_key or env_key, args.timeout), args.b_model),
        ]
    except ValueError as e:
        print(f"error: {e}", file=err)
        return USAGE
    total = len(cases) * args.repeat * 2
    print(f"comparing {len(cases)} cases x{args.repeat} on A and B", file=err)
    runs: list[Run] = run_all(cases, sides, args.repeat, args.concurrency, Progress(total, err))
    per_case = [
        scoring.case_report(
            c,
            [r for r in runs if r.case == c.id and r.side == "a"],
            [r for r in runs if r.case == c.id and r.side == "b"],
        )
        for c in cases
    ]
    if args.embedding_model:
        embed_similarity(sides[0].ep, args.embedding_model, per_case, err)
    o = scoring.overall(per_case, runs)
    if args.embedding_model:
        o["cosine"] = mean([c["cosine"] for c in per_case if c["cosine"] is not None])
    meta = {
        "a": args.a,
        "b": args.b,
        "a_model": args.a_model,
        "b_model": args.b_model,
        "golden": str(path),
        "repeat": args.repeat,
        "concurrency": args.concurrency,
        "embedding_model": args.embedding_model,
    }
    print(_summary(o), file=out)
    if args.out:
        try:
            compare_report.write(args.out, meta, o, per_case, runs)
        except OSError as e:  # the directory went away or filled up during the run
            print(f"error: cannot write the report to {args.out}: {e}", file=err)
            return USAGE
        print(f"report: {args.out / 'report.md'}", file=err)
    return FAILURES if any(not r.ok for r in runs) else OK
