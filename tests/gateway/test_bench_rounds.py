"""bench/rounds.py's summary of alternated rounds: what the side-by-side report's tail
tables print (medians per round, added over the upstream, CPU per request, core busy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROUNDS = Path(__file__).resolve().parents[2] / "bench" / "rounds.py"


@pytest.fixture(scope="module")
def rounds() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_rounds", ROUNDS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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
