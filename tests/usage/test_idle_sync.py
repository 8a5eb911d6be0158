"""The spool's group-fsync loop sleeps while nothing is written: an idle worker
must not wake 20 times a second, yet a write after an idle spell is still
fsynced within `fsync_interval_ms`, and a spool over budget keeps re-reading its
size (no write would come to wake it)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from provocapi.usage.spool import SpoolWriter

INTERVAL_S = 0.01


def count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """fsyncs of spool segments (a new segment's directory sync is not counted:
    tests/storage/test_durable_names.py checks those)."""
    calls: list[int] = []
    real = os.fsync

    def spy(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


async def test_an_idle_writer_parks_its_sync_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = SpoolWriter(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16)
    scans: list[int] = []
    real_scan = w.rescan_all
    monkeypatch.setattr(w, "rescan_all", lambda: (scans.append(1), real_scan())[1])
    fsyncs = count_fsyncs(monkeypatch)
    task = asyncio.create_task(w.sync_loop(INTERVAL_S, rescan_s=INTERVAL_S))
    try:
        await asyncio.sleep(30 * INTERVAL_S)
        assert (fsyncs, scans) == ([], [])  # the old loop: ~30 of each by now
        assert getattr(w, "_wake", None) is not None  # parked, waiting for a write

        w.write(b"begin\n")
        for _ in range(100):  # fsynced one interval after the write, not at a poll
            await asyncio.sleep(INTERVAL_S)
            if fsyncs:
                break
        assert len(fsyncs) == 1
        assert scans  # the size is re-read while writes go on
        await asyncio.sleep(10 * INTERVAL_S)
        assert len(fsyncs) == 1  # and it parks again once synced
        assert w._wake is not None
    finally:
        task.cancel()
        w.close()


async def test_a_writer_over_budget_keeps_reading_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = SpoolWriter(tmp_path, max_bytes=4, segment_bytes=1 << 16)
    w.write(b"0123456789\n")  # over budget: has_room() refuses new calls
    assert not w.has_room()
    task = asyncio.create_task(w.sync_loop(INTERVAL_S, rescan_s=INTERVAL_S))
    try:
        await asyncio.sleep(5 * INTERVAL_S)
        # a flusher elsewhere stores and deletes the segment: room comes back
        # without any write, because the loop never parked over budget
        for seg in tmp_path.glob("*.spool"):
            seg.unlink()
        for _ in range(100):
            await asyncio.sleep(INTERVAL_S)
            if w.has_room():
                break
        assert w.has_room()
    finally:
        task.cancel()
        w.close()
