"""Event-loop lag samples, for bench/looplag.py: off unless `PROVOCAPI_LOOPLAG_FILE`.

When set, each worker process runs a 1 ms ticker and appends, about once a
second, its samples to `<PROVOCAPI_LOOPLAG_FILE>.<pid>`: triples of float64
(wall-clock time of the tick, lag in seconds past its due time, seconds the
loop thread waited on a run queue during the tick). The last is the kernel's:
field 2 of /proc/thread-self/schedstat (time runnable but not running), so
`lag - wait` is the part of a late tick the process itself caused (a neighbour
holding the core shows up as wait, not as our stall). Unset, nothing is started
and nothing runs per request: the cost is one environment lookup when the
background tasks start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from array import array

from . import schedstat

ENV = "PROVOCAPI_LOOPLAG_FILE"
TICK_S = 0.001
FLUSH_EVERY = 1000  # ticks: about a second
SCHEDSTAT = schedstat.PATH


def _open_schedstat() -> int | None:
    return schedstat.open_own(SCHEDSTAT)


def _run_delay_s(fd: int) -> float | None:
    got = schedstat.read(fd)
    return got[1] / 1e9 if got is not None else None


async def record(path: str) -> None:
    samples = array("d")
    clock, wall = time.perf_counter, time.time
    fd = _open_schedstat()  # opened on the loop thread: its own run-queue wait

    def waited() -> float:
        return (_run_delay_s(fd) or 0.0) if fd is not None else 0.0

    try:
        while True:
            w0 = waited()
            due = clock() + TICK_S
            await asyncio.sleep(TICK_S)
            lag = clock() - due
            samples.extend((wall(), lag, waited() - w0))
            if len(samples) >= 3 * FLUSH_EVERY:
                _append(path, samples)
                samples = array("d")
    finally:
        _append(path, samples)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


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


def read(path: str) -> list[tuple[float, float, float]]:
    """A samples file as (wall time, lag seconds, run-queue wait seconds) triples."""
    data = array("d")
    with open(path, "rb") as f:
        data.frombytes(f.read())
    n = len(data) // 3 * 3
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, n, 3)]
