"""bench/openloop_threads.py's per-thread reading: a process's main thread (a worker's event
loop) kept apart from its other threads of the same name, and switches a request by thread,
voluntary and involuntary, with a thread started in the window counted from zero."""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType

import pytest
from harness.scripts import load_script


@pytest.fixture(scope="module")
def olt() -> ModuleType:
    # (it puts bench/ on sys.path for its own imports)
    return load_script("bench/openloop_threads.py", "bench_openloop_threads")


def test_the_main_thread_is_told_from_its_namesakes(olt: ModuleType) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        got = olt.threads(os.getpid())
    finally:
        stop.set()
        other.join()
    main = [k for k in got if k.endswith(f":{os.getpid()}")]
    side = [k for k in got if k.endswith(f":{other.native_id}")]
    assert len(main) == 1 and main[0].rsplit(":", 1)[0].endswith(" (main)"), main
    assert len(side) == 1 and "(main)" not in side[0], side


def test_sleeps_count_as_voluntary_switches(olt: ModuleType) -> None:
    me = next(k for k in olt.threads(os.getpid()) if k.endswith(f":{os.getpid()}"))
    before = olt.threads(os.getpid())
    for _ in range(20):
        time.sleep(0.001)
    after = olt.threads(os.getpid())
    assert after[me][1] - before[me][1] >= 20


def test_switches_by_role_sums_names_and_counts_new_threads_from_zero(olt: ModuleType) -> None:
    before = {"python/python (main):10": (1.0, 100, 50), "python/python:11": (0.1, 5, 40)}
    after = {
        "python/python (main):10": (1.2, 300, 70),  # +200 voluntary, +20 involuntary
        "python/python:11": (0.2, 15, 100),  # +10, +60
        "python/python:12": (0.0, 10, 20),  # started in the window: +10, +20
        "python/tokio-rt-worker:13": (0.0, 0, 0),  # unchanged: left out
    }
    got = olt.switches_by_role(before, after, 100)
    assert got["python/python (main)"] == pytest.approx((2.0, 0.2))
    assert got["python/python"] == pytest.approx((0.2, 0.8))
    assert "python/tokio-rt-worker" not in got
    assert olt.by_role(before, after, 100)["python/python (main)"] == pytest.approx(2000.0)
