"""Waiting for processes and conditions, without fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from provocapi import netutil

from .procs import Proc

T = TypeVar("T")


def wait_healthy(url: str, proc: Proc, timeout_s: float = 30.0) -> None:
    """Poll ``GET url`` until 200; fail with the process's output if it dies or times out."""
    try:
        netutil.wait_healthy(url, timeout_s, proc.popen)
    except RuntimeError as exc:
        raise RuntimeError(f"{proc.name}: {exc}\n{proc.describe()}") from None


def poll(fn: Callable[[], T], until: Callable[[T], object] = bool, timeout_s: float = 60) -> T:
    """`fn()` every 0.1 s until `until` holds of it; then, or after `timeout_s`, the last
    value (the caller's assertion shows what was there)."""
    deadline = time.monotonic() + timeout_s
    value = fn()
    while not until(value):
        if time.monotonic() > deadline:
            return value
        time.sleep(0.1)
        value = fn()
    return value


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll an async condition (every 50 ms) until true; fail after timeout_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
