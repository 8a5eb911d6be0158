"""Event-loop lag samples, for bench/looplag.py: off unless `PROVOCAPI_LOOPLAG_FILE`.

When set, each worker process runs a 1 ms ticker and appends, about once a
second, its samples to `<PROVOCAPI_LOOPLAG_FILE>.<pid>`: pairs of float64
(wall-clock time of the tick, lag in seconds past its due time). Unset, nothing
is started and nothing runs per request: the cost is one environment lookup
when the background tasks start.
"""

from __future__ import annotations

import asyncio
import os
import time
from array import array

ENV = "PROVOCAPI_LOOPLAG_FILE"
TICK_S = 0.001
FLUSH_EVERY = 1000  # ticks: about a second


async def record(path: str) -> None:
    samples = array("d")
    clock, wall = time.perf_counter, time.time
    try:
        while True:
            due = clock() + TICK_S
            await asyncio.sleep(TICK_S)
            samples.append(wall())
            samples.append(clock() - due)
            if len(samples) >= 2 * FLUSH_EVERY:
                _append(path, samples)
                samples = array("d")
    finally:
        _append(path, samples)


def _append(path: str, samples: array[float]) -> None:
    with open(path, "ab") as f:
        samples.tofile(f)


def start_if_asked() -> asyncio.Task[None] | None:
    """Called on the loop thread at start-up."""
    prefix = os.environ.get(ENV)
    if not prefix:
        return None
    path = f"{prefix}.{os.getpid()}"
    return asyncio.get_running_loop().create_task(record(path))


def read(path: str) -> list[tuple[float, float]]:
    """A samples file as (wall time, lag seconds) pairs."""
    data = array("d")
    with open(path, "rb") as f:
        data.frombytes(f.read())
    n = len(data) // 2 * 2
    return [(data[i], data[i + 1]) for i in range(0, n, 2)]
