"""bench/sidebyside.py's open-loop tail report: a goal's verdict says in how many rounds it
held, so a median that one noisy round tipped reads as such."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import sidebyside  # noqa: E402


def lat(rnd: int, p99: float, rate: float = 4000.0) -> dict:
    return {"round": rnd, "tool": "oha", "rate": rate, "n": 2000, "failed": 0, "p50": 1.0,
            "p90": 1.5, "p99": p99, "p999": p99 + 1, "cpu_s": None, "dump": None,
            "cpu_per_1k": None}  # fmt: skip


def results() -> sidebyside.Results:
    res = sidebyside.Results("2026-12-07 00:00", quick=False, load_before="0")
    res.durations = {"rounds": 3.0}
    # 80%: added p99 per round, provocapi 2, 9, 3 and the pass-through 2, 2, 2.5
    res.rounds["high"] = {
        "provocapi": [lat(1, 4.0), lat(2, 11.0), lat(3, 5.0)],
        "direct@provocapi": [lat(r, 2.0) for r in (1, 2, 3)],
        "floor": [lat(1, 4.0), lat(2, 4.0), lat(3, 4.5)],
        "direct@floor": [lat(r, 2.0) for r in (1, 2, 3)],
    }
    # c=1: the upstream alone once a round, shared by every target of that round
    res.rounds["c1"] = {
        "direct": [lat(r, 0.5) for r in (1, 2, 3)],
        "provocapi": [lat(1, 1.0), lat(2, 1.0), lat(3, 2.0)],
        "floor": [lat(r, 0.9) for r in (1, 2, 3)],
    }
    sidebyside.summarise_rounds(res)
    return res


def test_the_goal_line_counts_the_rounds_it_held_in() -> None:
    text = "\n".join(sidebyside.report_latency(results()))
    # medians: provocapi +3.00, the pass-through +2.00 (met, 1 ms allowed); by round
    # 2 <= 3 yes, 9 <= 3 no, 3 <= 3.5 yes
    assert "+3.00 ms vs +2.00 ms (+1 ms allowed); met in 2 of 3 rounds" in text
    # c=1 p99: added 0.5, 0.5, 1.5 against 0.4 each round, 0.3 ms allowed: rounds 1 and 2
    assert "+0.50 ms vs +0.40 ms (+0.3 ms allowed); met in 2 of 3 rounds" in text
