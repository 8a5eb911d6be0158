"""PROVOCAPI_STALL_MS: a blocked event loop is noticed, with the stack that blocked it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from provocapi import stallwatch


def block_the_loop() -> None:
    time.sleep(0.06)


async def test_a_stall_is_counted_and_its_stack_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PROVOCAPI_STALL_MS", "10")
    monkeypatch.setattr(stallwatch, "REPORT_EVERY_S", 0.3)
    task = stallwatch.start_if_asked()
    assert task is not None
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="provocapi.stalls"):
        block_the_loop()
        await asyncio.sleep(0.5)  # the report comes within REPORT_EVERY_S
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    report = "\n".join(r.getMessage() for r in caplog.records)
    assert "loop stalls over 10 ms" in report
    assert "block_the_loop" in report


def test_off_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVOCAPI_STALL_MS", raising=False)
    assert stallwatch.start_if_asked() is None
