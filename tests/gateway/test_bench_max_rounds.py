"""bench/sidebyside.py's maximum-throughput rounds: the round-by-round report (which rounds
count, the median of provocapi / pass-through, the fresh-prompt goal) and the wait for a
target to go idle before the next one is loaded on the same core."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import sidebyside  # noqa: E402

NOBODY = "http://127.0.0.1:9"  # no simulator there: nothing in flight


def tput(rnd: int, rate: float) -> dict:
    return {"round": rnd, "rate": rate, "requests": int(rate * 10), "failed": 0,
            "seconds": 10.0, "cpu_s": None, "cpu_per_1k": None, "busy": None}  # fmt: skip


def results(rates: dict[str, list[float]], unique: bool) -> sidebyside.Results:
    res = sidebyside.Results("2026-12-06 00:00", quick=False, load_before="0")
    res.unique_prompts = unique
    kept = {n: [tput(i + 1, r) for i, r in enumerate(rs)] for n, rs in rates.items()}
    res.rounds["max"] = kept
    res.max = {n: sidebyside.summarise_max(runs) for n, runs in kept.items()}
    return res


def test_rounds_without_the_upstream_3x_ahead_do_not_count() -> None:
    res = results(
        {
            "direct": [20000, 9000, 20000],  # round 2: 1.8x the pass-through
            "provocapi": [4800, 2000, 5200],
            "floor": [5000, 5000, 5000],
        },
        unique=True,
    )
    text = "\n".join(sidebyside.report_max_rounds(res))
    assert "| 2 | provocapi, floor, direct | 9,000 | 2,000 | 5,000 | 1.8x | 0.400x | no |" in text
    # rounds 1 and 3 count: 0.96 and 1.04, median 1.0 (round 2's 0.4 left out)
    assert "median of the rounds that count: **1.000x** (range 0.960-1.040, 2 of 3" in text
    assert "by the median rates: 0.960x" in text  # 4,800 / 5,000
    assert "- goal, fresh prompts: provocapi >= 1.0x the pass-through: yes (1.000x" in text


def test_the_report_names_the_command_as_run() -> None:
    rates = {"direct": [30000] * 3, "provocapi": [5000] * 3, "floor": [5000] * 3}
    res = results(rates, unique=True)
    res.durations = {k: float(v) for k, v in asdict(sidebyside.FULL).items()}
    assert "- command: `.venv/bin/python bench/sidebyside.py --unique-prompts`" in (
        sidebyside.report(res)
    )
    # a partial run says what it left out: its figures are not a full run's
    res.command = "bench/sidebyside.py --unique-prompts --skip-target litellm --skip stream"
    text = sidebyside.report(res)
    assert "- command: `.venv/bin/python " + res.command + "`" in text


def test_the_goal_reads_no_below_parity_and_only_for_fresh_prompts() -> None:
    rates = {"direct": [30000] * 3, "provocapi": [4900, 4950, 5100], "floor": [5000] * 3}
    text = "\n".join(sidebyside.report_max_rounds(results(rates, unique=True)))
    assert "provocapi >= 1.0x the pass-through: NO (0.990x" in text
    text = "\n".join(sidebyside.report_max_rounds(results(rates, unique=False)))
    assert "0.990x" in text and "goal, fresh prompts" not in text


def test_settle_waits_for_a_busy_target_and_not_for_an_idle_one() -> None:
    t0 = time.monotonic()
    assert sidebyside.settle(None, NOBODY) < 1.5  # the upstream alone, idle: one look
    busy = "import time\nt = time.monotonic() + 1.5\nwhile time.monotonic() < t: pass"
    child = subprocess.Popen([sys.executable, "-c", busy])
    try:
        waited = sidebyside.settle(child.pid, NOBODY, limit_s=10)
    finally:
        child.wait(timeout=10)
    assert 1.0 <= waited < 5.0, waited  # until the spin ended (its CPU stopped), not the limit
    assert time.monotonic() - t0 < 8


def test_a_failed_run_is_reported_and_still_waited_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fails part way (wrk dies, a target stops answering) leaves its round
    out and the error in the report, and the next target is still loaded only once this
    one is idle: a failed run may have left requests queued as a finished one does."""
    settled: list[int | None] = []
    monkeypatch.setattr(sidebyside, "settle", lambda pid, upstream: settled.append(pid) or 0.0)

    class Run:
        d = sidebyside.QUICK

        def throughput(self, url: str, script: Path, pid: int | None, label: str) -> object:
            if label == "provocapi max r2":
                raise RuntimeError("wrk exited with 1")
            return sidebyside.Throughput(requests=1000, failed=0, seconds=2.0, cpu_s=0.2)

    env = sidebyside.Env(procs=None, work=tmp_path, litellm_bin=tmp_path)  # type: ignore[arg-type]
    up = {"direct": (NOBODY, None), "provocapi": (NOBODY, 11), "floor": (NOBODY, 12)}
    res = sidebyside.Results("2026-12-06 00:00", quick=True, load_before="0")
    sidebyside.maximum_rounds(res, Run(), env, up, unique=False, clock=lambda: "00:00")  # type: ignore[arg-type]
    assert res.errors == ["maximum throughput round 2, provocapi: wrk exited with 1"]
    assert [r["round"] for r in res.rounds["max"]["provocapi"]] == [1, 3]
    assert len(settled) == 3 * 3  # every run, the failed one included
    assert settled.count(11) == 3
