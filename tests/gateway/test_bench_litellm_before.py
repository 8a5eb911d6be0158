"""bench/litellm_before.py: the slots come in balanced blocks and the report's medians are
the slots' own (by what came before, by which target went first)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import litellm_before as lb  # noqa: E402


def test_every_block_holds_each_kind_of_slot_once() -> None:
    slots = lb.plan(3)
    assert len(slots) == 12
    for i in range(3):
        block = Counter((c, o) for c, o in slots[4 * i : 4 * i + 4])
        assert set(block.values()) == {1} and len(block) == 4
    assert slots[:4] != slots[4:8] or slots[4:8] != slots[8:]  # shuffled, not one fixed order


def slot(cond: str, first: str, p: float, f: float) -> lb.Slot:
    return lb.Slot(cond, first, "12:00:00", {"provocapi": p, "floor": f},
                   {"provocapi": 0.15, "floor": 0.15})  # fmt: skip


def test_the_report_gives_each_condition_its_own_median() -> None:
    slots = [
        slot("litellm", "provocapi", 5000, 5000),  # 1.0
        slot("litellm", "floor", 4000, 5000),  # 0.8
        slot("litellm", "provocapi", 6000, 5000),  # 1.2
        slot("pause", "floor", 6000, 4000),  # 1.5
        slot("pause", "provocapi", 5500, 5000),  # 1.1
    ]
    text = lb.report(slots, "bench/litellm_before.py --reps 1", "2026-12-07 19:00", ("0", "1"))
    assert "| litellm | either | 3 |  | 1.000x | 1.000x |" in text
    assert "| litellm | provocapi | 2 | 1.000, 1.200 | 1.100x | 1.100x |" in text
    assert "| pause | either | 2 |  | 1.300x | 1.300x |" in text
    assert "| 4 | 12:00:00 | pause | floor | 6,000 | 4,000 | 0.150 | 0.150 | 1.500x |" in text
    assert "Every slot: median 1.100x" in text
