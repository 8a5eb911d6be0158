"""Periodic work on a shared beat: an idle process wakes once a beat, not once per loop.

Each background loop (key and adapter refresh, reload watch, health, progress lines, the
scheduling sampler, the batch runner's poll) used to sleep its own period from whenever it
last woke, so their wake-ups drifted apart: an idle worker woke 6-9 times a second and the
batch runner 7-9, and on a virtual machine a wake-up costs ~190 µs of CPU however little it
does (bench/idle_wakeups.py). Sleeping to the next multiple of the period on the monotonic
clock puts every loop whose period is a multiple of the shortest on the same instants:
uvloop fires the timers due in one millisecond in one turn, and CLOCK_MONOTONIC is one
clock for every process, so the processes of a serve wake together. (The launcher's
supervisors wait on their child instead: exit_watch.py.)
"""

from __future__ import annotations

import asyncio


def delay_to_beat(period: float, now: float) -> float:
    """Seconds from `now` to the next multiple of `period` at least half a period away
    (a timer that fired a millisecond early must not wake again at once): between half a
    period and one and a half, one period from a beat."""
    return (round(now / period) + 1) * period - now


async def sleep_to_beat(period: float) -> None:
    """`asyncio.sleep` to the next beat of `period` on the running loop's clock."""
    await asyncio.sleep(delay_to_beat(period, asyncio.get_running_loop().time()))
