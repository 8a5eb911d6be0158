"""SCHED_BATCH only while saturated: `[server] sched_batch = "auto"`.

SCHED_BATCH on a worker's HTTP runtime thread saves CPU a request when the
event loop is always busy (a woken runtime thread waits for the loop's turn to
end and writes all its answers at once, instead of preempting the loop for
each), but below saturation the same wait is latency (sched_policy.py). So
each worker watches its own loop thread: the shares of wall time it ran and
waited on a run queue, from /proc/thread-self/schedstat, sampled every
SAMPLE_S. Saturated, for ENTER_SAMPLES samples in a row, the runtime's threads
(Granian's tokio workers) go to SCHED_BATCH; saturated is either runnable
(running or waiting) at least ENTER of the time, or waiting at least
WAIT_ENTER: two workers sharing a core each run ~37% and wait ~35-42% of the
time (runnable ~0.75-0.8, under ENTER), and the core is saturated all the
same. Runnable under LEAVE and waiting under WAIT_LEAVE once: back to the
kernel's default, but only if the worker also answers at most RATE_LEAVE of the
requests a second it answered while going in. The shares alone undid the
saving they measured: between half and 80% of the maximum a batched loop is runnable under
LEAVE at the same load that saturated it under the default policy, so it went
back, saturated again and came in, 2-4 times in 6 s, each time with a queue
(bench/README.md, "A leaving rule that holds"). The request rate does not
change with the policy, so it tells a load that went from one that batch made
cheaper; the share is kept as well, for the load that grew heavier a request
(fewer, longer calls: the rate falls, the loop stays busy). The loop's
own thread keeps its policy: batching it alone saved nothing in a scratch run
(1.006x the CPU; the runtime's alone, 0.869x).

Why these figures (scratch readings, the worker pinned to one core, run/wait
shares): one worker saturated with the floor's config 0.74/0.20 (runnable
0.94-0.96), with the embedded default config 0.73/0.18 (runnable 0.90-0.91: it
switches in some runs only); one call at a time 0.47/0.11, with a busy
neighbour on the core 0.31/0.24-0.27; two workers saturated
0.34-0.39/0.34-0.42. 85% runnable was tried (2026-12-07) and cost the side by
side's added p99 at 50% and 80% of the maximum (+7.3 and +12.2 ms against the
pass-through's +3.0 and +5.9; the run with 92%: +2.4 and +7.6), so ENTER stays
92%; 80% in and 60% out came too near one call at a time (bench/README.md,
workers section). Batch throughout costs p99 at a third of the maximum and
below (bench/results/sched-batch-2026-12-07-auto-rates.md).

Cost: one pread of a /proc file and a timer every SAMPLE_S per worker (every
IDLE_SAMPLE_S while it is idle; none in the batch runner's process, which has no
HTTP runtime to switch: Gateway.start_background(serving=False)); one
sched_setscheduler call per runtime thread per switch; one integer incremented
a request (Gateway.answered, ~24 ns).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

from . import schedstat
from .beat import sleep_to_beat

log = logging.getLogger("provocapi")

SAMPLE_S = 0.1
IDLE_SAMPLE_S = 1.0  # the next sample this much later while the loop is idle...
IDLE = 0.05  # ...runnable under this share of the last sample (and not batched)
ENTER = 0.92  # the loop runnable at least this share of the time: saturated
ENTER_SAMPLES = 3  # ...this many samples in a row (a burst is not saturation)
LEAVE = 0.7  # below this share once (and WAIT_LEAVE, and RATE_LEAVE): back to the default
WAIT_ENTER = 0.3  # or waiting on a run queue this share: sharing the core with another busy loop
WAIT_LEAVE = 0.2  # out once waiting less than this share and runnable less than LEAVE
RATE_LEAVE = 0.7  # ...and answering at most this share of the requests a second of going in
RUNTIME_THREAD_PREFIX = "tokio"  # Granian's runtime threads: "tokio-rt-worker"


class Switch:
    """The decision alone, fed one sample at a time."""

    def __init__(self) -> None:
        self.batch = False
        self._streak = 0
        self._streak_rate = 0.0  # requests a second summed over the streak's samples
        self.entry_rate = 0.0  # requests a second while going in (the streak's mean)

    def next_sample_s(self, ran: float, waited: float) -> float:
        """When to sample next: an idle worker wakes once a second for this, not ten
        times (a saturation that starts meanwhile is seen at most IDLE_SAMPLE_S later)."""
        return IDLE_SAMPLE_S if not self.batch and ran + waited < IDLE else SAMPLE_S

    def observe(self, ran: float, waited: float, rate: float = 0.0) -> bool | None:
        """The policy to switch to (True: batch, False: the default), given the shares of
        the last sample the loop ran and waited on a run queue and the requests a second
        the worker answered in it; None: keep."""
        busy = ran + waited
        if self.batch:
            # `<=`: a loop saturated with no requests answered (entry_rate 0) goes by
            # the shares alone
            if busy < LEAVE and waited < WAIT_LEAVE and rate <= RATE_LEAVE * self.entry_rate:
                self.batch = False
                return False
            return None
        saturated = busy >= ENTER or waited >= WAIT_ENTER
        if saturated:
            self._streak += 1
            self._streak_rate += rate
        else:
            self._streak, self._streak_rate = 0, 0.0
        if self._streak >= ENTER_SAMPLES:
            self.batch = True
            self.entry_rate = self._streak_rate / self._streak
            self._streak, self._streak_rate = 0, 0.0
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


async def adapt(answered: Callable[[], int]) -> None:
    """Run on the worker's loop thread for the worker's life; `answered()`: the requests
    the worker has answered so far."""
    fd = schedstat.open_own()  # on the loop thread: its own
    if fd is None:
        log.warning('sched_batch = "auto": no %s here, the default policy stays', schedstat.PATH)
        return
    switch = Switch()
    try:
        before, at, count = schedstat.read(fd), time.monotonic_ns(), answered()
        wait_s = SAMPLE_S
        while True:
            await sleep_to_beat(wait_s)  # shares and rate are per the real interval
            now, now_at = schedstat.read(fd), time.monotonic_ns()
            if now is None or before is None:
                return
            now_count, wall_ns = answered(), now_at - at
            ran, waited = schedstat.shares(before, now, wall_ns)
            change = switch.observe(ran, waited, (now_count - count) * 1e9 / wall_ns)
            before, at, count = now, now_at, now_count
            wait_s = switch.next_sample_s(ran, waited)
            if change is not None:
                tids = runtime_threads()
                set_policy(tids, change)
                log.debug("runtime threads %s to %s", tids, "batch" if change else "other")
    finally:
        if switch.batch:  # leave the threads as they were found
            set_policy(runtime_threads(), False)
        os.close(fd)


def start_if_asked(mode: bool | str, answered: Callable[[], int]) -> asyncio.Task[None] | None:
    """Called on the loop thread at start-up with `[server] sched_batch`."""
    if mode != "auto" or not hasattr(os, "SCHED_BATCH"):
        return None
    return asyncio.get_running_loop().create_task(adapt(answered))
