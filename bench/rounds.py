"""Alternated rounds for bench/sidebyside.py: the order of targets per round, and the summary
of a step measured round after round (median of the rounds, percentiles of all rounds pooled).

A shared machine has noisy minutes. Measuring every target once per round, in an order that
changes (each target first in turn, after each other one in turn), and the upstream alone in
the same round, spreads a noisy minute over all targets; the median of the rounds drops it,
and the upstream's own spread across rounds shows it.
"""

from __future__ import annotations

import math
import statistics
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

QUANTILES = ("p50", "p90", "p99", "p999")
LEVELS = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}


def order(names: Sequence[str], r: int) -> list[str]:
    """Round r's order, a row of a Williams square: each target goes first in turn, and
    over n rounds (2n for an odd count) each target comes right after each other one once.

    A plain rotation kept every target's predecessor for good (in the side by side provocapi
    always came right after the upstream alone, the pass-through right after provocapi),
    and what ran just before moves a reading on this machine: bench/litellm_before.py
    measured provocapi / pass-through 1.260x when provocapi went first after a 13.5 s pause
    and 0.889x when the pass-through did (2026-12-07, 5 slots each)."""
    n = len(names)
    if n < 2:
        return list(names)
    # the first row 0, 1, n-1, 2, n-2, ...: every difference between neighbours once
    base = [(k + 1) // 2 if k % 2 else (n - k // 2) % n for k in range(n)]
    row = [(i + r) % n for i in base]
    if n % 2 and (r // n) % 2:  # odd n: the second n rows are the first n reversed
        row.reverse()
    return [names[i] for i in row]


def median(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return statistics.median(vals) if vals else math.nan


def pooled(dumps: Sequence[str | None]) -> dict[str, float] | None:
    """Percentiles (ms) over every latency of the rounds' dump files (openloop.py --dump);
    None when a round has none (oha keeps no raw latencies)."""
    if not dumps or any(d is None for d in dumps):
        return None
    data = array("d")
    for d in dumps:
        assert d is not None
        data.frombytes(Path(d).read_bytes())
    values = sorted(data)
    if not values:
        return None
    out = {"n": float(len(values))}
    for q, level in LEVELS.items():
        i = min(len(values) - 1, max(0, round(level * (len(values) - 1))))
        out[q] = values[i]
    return out


def summarise(target: list[dict[str, Any]], direct: list[dict[str, Any]]) -> dict[str, Any]:
    """One target's rounds against the upstream's rounds measured beside them (same length,
    paired by round): median over rounds of each percentile and of each added percentile
    (target - upstream, per round), the upstream's min-max p99 over rounds (the noise), and
    the pooled percentiles of both when every round kept its latencies."""
    out: dict[str, Any] = {
        "rounds": len(target),
        "rate": target[0]["rate"] if target else math.nan,
        "n": sum(int(x["n"]) for x in target),
        "failed": sum(int(x["failed"]) for x in target),
    }
    for q in QUANTILES:
        out[q] = median([float(x[q]) for x in target])
        if direct:
            out[f"added_{q}"] = median(
                [float(x[q]) - float(d[q]) for x, d in zip(target, direct, strict=True)]
            )
    # the gateway's CPU over each run as a share of its core (CPU seconds over the run's
    # scheduled length, n / rate): how close to saturation it ran
    cpus = [x for x in target if x.get("cpu_s") is not None and x.get("n")]
    busy = [float(x["cpu_s"]) * float(x["rate"]) / int(x["n"]) for x in cpus]
    out["busy"] = median(busy) if busy else None
    if direct:
        p99s = [float(d["p99"]) for d in direct]
        out["direct_p99_range"] = (min(p99s), max(p99s))
        out["direct_p50"] = median([float(d["p50"]) for d in direct])
        out["direct_p99"] = median(p99s)
    pt = pooled([x.get("dump") for x in target])
    pd = pooled([d.get("dump") for d in direct]) if direct else None
    if pt is not None:
        out["pooled"] = pt
        if pd is not None:
            out["pooled_direct"] = pd
            out["pooled_added"] = {q: pt[q] - pd[q] for q in QUANTILES}
    cpu = [x["cpu_per_1k"] for x in target if x.get("cpu_per_1k") is not None]
    out["cpu_per_1k"] = median(cpu) if cpu else None
    return out


def summarise_max(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One target's maximum-throughput rounds (sidebyside's _tput dicts): the median over rounds
    of req/s, CPU per 1,000 requests and core busy; requests, failures and seconds summed."""
    cpu = [float(x["cpu_per_1k"]) for x in runs if x.get("cpu_per_1k") is not None]
    busy = [float(x["busy"]) for x in runs if x.get("busy") is not None]
    rates = [float(x["rate"]) for x in runs]
    return {
        "rounds": len(runs),
        "rate": median(rates),
        "rates": rates,
        "requests": sum(int(x["requests"]) for x in runs),
        "failed": sum(int(x["failed"]) for x in runs),
        "seconds": sum(float(x["seconds"]) for x in runs),
        "cpu_per_1k": median(cpu) if cpu else None,
        "busy": median(busy) if busy else None,
    }


def by_round(runs: list[dict[str, Any]], key: str) -> dict[int, float]:
    """round number → each run's figure (runs kept before they had a "round" are numbered by
    position); a run without the figure is left out. Pairing two targets by it, a round one of
    them failed drops out rather than pairing the wrong runs."""
    return {
        int(x.get("round", i + 1)): float(x[key])
        for i, x in enumerate(runs)
        if x.get(key) is not None
    }


def per_round(
    a: list[dict[str, Any]], b: list[dict[str, Any]], key: str = "rate"
) -> dict[int, float]:
    """a's figure over b's in every round both were measured in (and b's is not 0)."""
    theirs = by_round(b, key)
    return {r: v / theirs[r] for r, v in by_round(a, key).items() if theirs.get(r)}


def added_by_round(
    target: list[dict[str, Any]], direct: list[dict[str, Any]], q: str
) -> dict[int, float]:
    """The target's q minus the upstream's q of the same round, by round."""
    upstream = by_round(direct, q)
    return {r: v - upstream[r] for r, v in by_round(target, q).items() if r in upstream}


def rounds_met(ours: dict[int, float], theirs: dict[int, float], slack: float) -> tuple[int, int]:
    """In how many of the rounds both were measured in ours <= theirs + slack: (met, rounds).
    A median over five rounds can pass or fail on one round; this says whether a verdict held
    round after round or was a coin flip on a noisy machine."""
    common = ours.keys() & theirs.keys()
    return sum(ours[r] <= theirs[r] + slack for r in common), len(common)
