"""bench/rounds.py's summary of alternated rounds: what the side-by-side report's tail
tables print (medians per round, added over the upstream, CPU per request, core busy)."""

from __future__ import annotations

import itertools
from types import ModuleType

import pytest
from harness.scripts import load_script


@pytest.fixture(scope="module")
def rounds() -> ModuleType:
    return load_script("bench/rounds.py", "bench_rounds")


def run(p50: float, p99: float, cpu_s: float | None, n: int = 1000, rate: float = 500.0) -> dict:
    cpu_per_1k = None if cpu_s is None else cpu_s / n * 1000  # as sidebyside's _lat adds it
    return {"rate": rate, "n": n, "failed": 0, "p50": p50, "p90": p50, "p99": p99,
            "p999": p99, "cpu_s": cpu_s, "cpu_per_1k": cpu_per_1k}  # fmt: skip


def test_medians_added_cpu_and_busy(rounds: ModuleType) -> None:
    target = [run(2.0, 9.0, 0.9), run(3.0, 30.0, 1.0), run(2.5, 10.0, 0.8)]
    direct = [run(1.0, 2.0, None), run(1.0, 20.0, None), run(1.0, 3.0, None)]
    s = rounds.summarise(target, direct)
    assert s["p99"] == 10.0 and s["added_p99"] == 7.0  # per-round differences 7, 10, 7
    assert s["direct_p99_range"] == (2.0, 20.0)
    assert s["cpu_per_1k"] == pytest.approx(0.9)  # 0.9 s over 1,000 requests
    # 1,000 requests at 500 req/s are 2 s scheduled; 0.9 s of CPU in them: 45% of a core
    assert s["busy"] == pytest.approx(0.45)


def test_no_cpu_figure_for_the_upstream(rounds: ModuleType) -> None:
    s = rounds.summarise([run(1.0, 2.0, None)], [])
    assert s["cpu_per_1k"] is None and s["busy"] is None


def tput(rnd: int, rate: float, cpu_per_1k: float | None = None) -> dict:
    busy = None if cpu_per_1k is None else cpu_per_1k * rate / 1000
    return {"round": rnd, "rate": rate, "requests": int(rate * 10), "failed": 1,
            "seconds": 10.0, "cpu_per_1k": cpu_per_1k, "busy": busy}  # fmt: skip


def test_max_rounds_take_the_median_and_sum_the_counts(rounds: ModuleType) -> None:
    runs = [tput(1, 3000, 0.30), tput(2, 1000, 0.25), tput(3, 3200, 0.31)]
    s = rounds.summarise_max(runs)
    assert s["rate"] == 3000 and s["rates"] == [3000, 1000, 3200]  # the slow round dropped
    assert s["cpu_per_1k"] == pytest.approx(0.30)
    assert s["busy"] == pytest.approx(0.9)  # median of 0.9, 0.25, 0.992
    assert s["requests"] == 72000 and s["failed"] == 3 and s["rounds"] == 3
    assert rounds.summarise_max([tput(1, 500)])["cpu_per_1k"] is None  # the upstream alone


def test_per_round_pairs_by_round_not_by_position(rounds: ModuleType) -> None:
    ours = [tput(1, 990), tput(3, 1200)]  # round 2 failed for this target
    theirs = [tput(1, 1000), tput(2, 5000), tput(3, 1000)]
    assert rounds.per_round(ours, theirs) == {1: pytest.approx(0.99), 3: pytest.approx(1.2)}
    assert rounds.per_round(ours, [tput(1, 0)]) == {}  # no rate to divide by: no ratio


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_each_target_goes_first_and_follows_each_other_in_turn(rounds: ModuleType, n: int) -> None:
    names = [f"t{i}" for i in range(n)]
    rows = [rounds.order(names, r) for r in range(n if n % 2 == 0 else 2 * n)]
    assert all(sorted(row) == names for row in rows)
    firsts = [row[0] for row in rows]
    assert all(firsts.count(t) == len(rows) // n for t in names)
    follows = [(a, b) for row in rows for a, b in itertools.pairwise(row)]
    # every ordered pair of targets equally often: none keeps the same predecessor for good
    assert {follows.count((a, b)) for a in names for b in names if a != b} == {len(rows) // n}


def test_the_order_of_the_side_by_side_rounds(rounds: ModuleType) -> None:
    names = ["direct", "provocapi", "floor", "litellm"]
    got = [rounds.order(names, r) for r in range(5)]
    assert got[0] == ["direct", "provocapi", "litellm", "floor"]
    # provocapi's predecessor changes: the upstream alone, none, LiteLLM, the pass-through
    before = [row[row.index("provocapi") - 1] if row[0] != "provocapi" else None for row in got]
    assert before[:4] == ["direct", None, "litellm", "floor"]
    assert got[4] == got[0]


def test_added_by_round_pairs_by_round_and_numbers_old_runs_by_position(
    rounds: ModuleType,
) -> None:
    target = [{**run(2.0, 9.0, None), "round": 1}, {**run(2.0, 30.0, None), "round": 3}]
    direct = [{**run(1.0, 2.0, None), "round": r} for r in (1, 2, 3)]  # round 2: target failed
    assert rounds.added_by_round(target, direct, "p99") == {1: 7.0, 3: 28.0}
    # runs kept before they carried a round number: paired by position
    old = rounds.added_by_round([run(2.0, 5.0, None)], [run(1.0, 4.0, None)], "p99")
    assert old == {1: 1.0}


def test_rounds_met_counts_only_rounds_both_have(rounds: ModuleType) -> None:
    ours = {1: 3.0, 2: 9.0, 3: 2.5, 5: 0.0}  # round 5: the other target failed
    theirs = {1: 2.5, 2: 4.0, 3: 2.0, 4: 1.0}
    # round 1: 3.0 <= 3.5 yes; round 2: 9.0 <= 5.0 no; round 3: 2.5 <= 3.0 yes (slack 1)
    assert rounds.rounds_met(ours, theirs, 1.0) == (2, 3)
    assert rounds.rounds_met(ours, theirs, 0.0) == (0, 3)  # no slack: every round missed
    assert rounds.rounds_met({}, theirs, 1.0) == (0, 0)
