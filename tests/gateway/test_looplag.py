"""PROVOCAPI_LOOPLAG_FILE: the lag recorder bench/looplag.py reads (off by default)."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from provocapi import looplag


async def test_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(looplag.ENV, raising=False)
    assert looplag.start_if_asked() is None


async def test_a_blocked_loop_shows_as_one_late_tick(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(looplag.ENV, str(tmp_path / "lag"))
    task = looplag.start_if_asked()
    assert task is not None
    await asyncio.sleep(0.05)
    before = time.time()
    time.sleep(0.08)  # the loop is held: the tick due meanwhile runs 80 ms late or more
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    samples = looplag.read(str(tmp_path / f"lag.{os.getpid()}"))  # written when cancelled
    assert len(samples) > 5
    # a loop held by its own thread is our stall: no run-queue wait explains it away
    assert any(t >= before and lag - wait >= 0.07 for t, lag, wait in samples)
    assert all(t1 <= t2 for (t1, _, _), (t2, _, _) in itertools.pairwise(samples))
    assert all(wait >= 0 for _, _, wait in samples)


@pytest.mark.skipif(not Path(looplag.SCHEDSTAT).exists(), reason="no schedstat here")
async def test_a_neighbour_on_the_core_shows_as_run_queue_wait(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A process spinning on our core delays ticks through the run queue: the recorder
    attributes that time to the kernel (wait), not to the loop."""
    cpu = min(os.sched_getaffinity(0))
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    hog = subprocess.Popen(
        ["taskset", "-c", str(cpu), sys.executable, "-c", "while True: pass"],
        stdin=subprocess.DEVNULL,
    )
    monkeypatch.setenv(looplag.ENV, str(tmp_path / "lag"))
    try:
        task = looplag.start_if_asked()
        assert task is not None
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        hog.kill()
        hog.wait()
        os.sched_setaffinity(0, old)
    samples = looplag.read(str(tmp_path / f"lag.{os.getpid()}"))
    assert samples
    assert sum(wait for _, _, wait in samples) > 0
