"""bench/idle_wakeups.py's reading: CPU in ns and wake-ups (voluntary switches) of every
thread of a tree, named by the process's role, summed by name and turned into rates."""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType

import pytest
from harness.scripts import load_script


@pytest.fixture(scope="module")
def iw() -> ModuleType:
    return load_script("bench/idle_wakeups.py", "bench_idle_wakeups")


def test_a_sleeping_thread_shows_its_wake_ups(iw: ModuleType) -> None:
    stop = threading.Event()

    def sleeper() -> None:
        while not stop.wait(0.01):
            pass

    t = threading.Thread(target=sleeper, daemon=True)
    t.start()
    try:
        before = iw.threads(os.getpid())
        time.sleep(0.5)
        after = iw.threads(os.getpid())
    finally:
        stop.set()
        t.join()
    key = next(k for k in after if k.endswith(f":{t.native_id}"))
    assert key.startswith("launcher/"), key  # the tree's root is the launcher
    wakes = after[key][1] - before[key][1]
    assert 20 <= wakes <= 60, wakes  # ~50 sleeps of 10 ms in 0.5 s
    assert after[key][0] > before[key][0]  # it ran, in ns


def test_threads_of_one_name_are_summed_and_made_rates(iw: ModuleType) -> None:
    before = {"worker/python (main):1": (0, 10), "worker/x:2": (0, 0), "worker/x:3": (0, 5)}
    after = {
        "worker/python (main):1": (4_000_000, 30),
        "worker/x:2": (1_000_000, 4),
        "worker/x:3": (1_000_000, 9),
        "worker/x:4": (2_000_000, 2),  # started in the window: counted from zero
    }
    got = iw.per_role(before, after, 2.0)
    assert got == {"worker/python (main)": (2.0, 10.0), "worker/x": (2.0, 5.0)}
