"""PROVOCAPI_LOOPLAG_FILE: the lag recorder bench/looplag.py reads (off by default)."""

from __future__ import annotations

import asyncio
import itertools
import os
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
    assert any(t >= before and lag >= 0.07 for t, lag in samples)
    assert all(t1 <= t2 for (t1, _), (t2, _) in itertools.pairwise(samples))
