"""SCHED_BATCH only while saturated: `[server] sched_batch = "auto"`.

SCHED_BATCH on a worker's HTTP runtime thread saves CPU a request when the
event loop is always busy (a woken runtime thread waits for the loop's turn to
end and writes all its answers at once, instead of preempting the loop for
each), but below saturation the same wait is latency (sched_policy.py). So
each worker watches its own loop thread: the share of wall time it was
runnable (running, or waiting on a run queue), from /proc/thread-self/schedstat,
sampled every SAMPLE_S. Runnable ENTER of the time for ENTER_SAMPLES samples in
a row: the runtime's threads (Granian's tokio workers) go to SCHED_BATCH; below
LEAVE once: back to the kernel's default. The gap between the two is wider
than batch's own saving (0.84-0.91x the CPU), so the saving alone does not
switch it back. The loop's own thread keeps its policy: batching it alone saved
nothing in a scratch run (1.006x the CPU; the runtime's alone, 0.869x).

Why 92%: a saturated worker's loop is runnable ~96% of the time, at 80% of
its maximum rate ~90%, one call at a time ~63% (a neighbour's run-queue time
counts too). Batch throughout costs p99 at a third of the maximum and below
and not from about half (bench/results/sched-batch-2026-12-07-auto-rates.md);
80% in, 60% out was measured and came too near one call at a time
(bench/README.md, workers section).

Cost: one pread of a /proc file and a timer every SAMPLE_S per worker; one
sched_setscheduler call per runtime thread per switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from . import schedstat

log = logging.getLogger("provocapi")

SAMPLE_S = 0.1
ENTER = 0.92  # the loop runnable at least this share of the time: saturated
ENTER_SAMPLES = 3  # ...this many samples in a row (a burst is not saturation)
LEAVE = 0.7  # below this share once: back to the default at once
RUNTIME_THREAD_PREFIX = "tokio"  # Granian's runtime threads: "tokio-rt-worker"


class Switch:
    """The decision alone, fed one sample at a time."""

    def __init__(self) -> None:
        self.batch = False
        self._streak = 0

    def observe(self, busy: float) -> bool | None:
        """The policy to switch to (True: batch, False: the default); None: keep."""
        if self.batch:
            if busy < LEAVE:
                self.batch = False
                return False
            return None
        self._streak = self._streak + 1 if busy >= ENTER else 0
        if self._streak >= ENTER_SAMPLES:
            self.batch = True
            self._streak = 0
            return True
        return None


def runtime_threads(task_dir: str = "/proc/self/task") -> list[int]:
    """This process's HTTP runtime threads (read at each switch: threads may come and go)."""
    tids = []
    for name in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{name}/comm") as f:
                comm = f.read()
        except OSError:  # ended since the listing
            continue
        if comm.startswith(RUNTIME_THREAD_PREFIX):
            tids.append(int(name))
    return tids


def set_policy(tids: list[int], batch: bool) -> None:
    """`tids` to SCHED_BATCH or back to SCHED_OTHER."""
    policy = os.SCHED_BATCH if batch else os.SCHED_OTHER
    for tid in tids:
        with contextlib.suppress(OSError):  # ended meanwhile, or refused (a seccomp filter)
            os.sched_setscheduler(tid, policy, os.sched_param(0))


def _runnable_ns(fd: int) -> int | None:
    """Time the thread has run plus waited on a run queue, in ns."""
    got = schedstat.read(fd)
    return sum(got) if got is not None else None


async def adapt() -> None:
    """Run on the worker's loop thread for the worker's life."""
    fd = schedstat.open_own()  # on the loop thread: its own
    if fd is None:
        log.warning('sched_batch = "auto": no %s here, the default policy stays', schedstat.PATH)
        return
    switch = Switch()
    try:
        before, at = _runnable_ns(fd), time.monotonic_ns()
        while True:
            await asyncio.sleep(SAMPLE_S)
            now, now_at = _runnable_ns(fd), time.monotonic_ns()
            if now is None or before is None:
                return
            change = switch.observe((now - before) / (now_at - at))
            before, at = now, now_at
            if change is not None:
                tids = runtime_threads()
                set_policy(tids, change)
                log.debug("runtime threads %s to %s", tids, "batch" if change else "other")
    finally:
        if switch.batch:  # leave the threads as they were found
            set_policy(runtime_threads(), False)
        os.close(fd)


def start_if_asked(mode: bool | str) -> asyncio.Task[None] | None:
    """Called on the loop thread at start-up with `[server] sched_batch`."""
    if mode != "auto" or not hasattr(os, "SCHED_BATCH"):
        return None
    return asyncio.get_running_loop().create_task(adapt())
