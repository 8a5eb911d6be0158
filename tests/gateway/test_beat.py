"""The shared beat (beat.py): background loops of different periods wake on the same instants."""

from __future__ import annotations

import asyncio
import math

import pytest
import uvloop
from provocapi.beat import delay_to_beat, sleep_to_beat


@pytest.mark.parametrize("period", [0.1, 0.25, 0.5, 1.0, 2.0])
def test_a_delay_ends_on_a_multiple_of_the_period(period: float) -> None:
    for now in (0.0, 12.3456, 1000.0004, 98765.4321, period * 7 - 0.001, period * 7 + 0.001):
        due = now + delay_to_beat(period, now)
        assert math.isclose(due / period, round(due / period), abs_tol=1e-6)
        # never a wake-up at once, nor a beat skipped
        assert period / 2 - 1e-9 <= due - now <= period * 1.5 + 1e-9


def test_a_timer_that_fired_a_little_early_waits_a_whole_period() -> None:
    # woken a millisecond before its beat: the next one, not the same beat again
    assert delay_to_beat(0.25, 10.249) == pytest.approx(0.251)
    assert delay_to_beat(0.25, 10.251) == pytest.approx(0.249)


def test_loops_of_different_periods_share_their_wake_ups() -> None:
    # two loops started apart, one at 0.25 s and one at 0.5 s: each wake-up of the slower
    # one falls on one of the faster one's (the same timer millisecond: the same turn)
    async def scenario() -> tuple[list[float], list[float]]:
        loop = asyncio.get_running_loop()
        woke: dict[float, list[float]] = {0.25: [], 0.5: []}

        async def ticking(period: float, times: int) -> None:
            while len(woke[period]) < times:
                await sleep_to_beat(period)
                woke[period].append(loop.time())

        fast = asyncio.create_task(ticking(0.25, 8))
        await asyncio.sleep(0.07)  # out of phase, as loops started by different code are
        await asyncio.gather(ticking(0.5, 2), fast)
        return woke[0.25], woke[0.5]

    fast, slow = uvloop.run(scenario())
    for t in slow:
        assert any(abs(t - f) < 0.002 for f in fast), (t, fast)
