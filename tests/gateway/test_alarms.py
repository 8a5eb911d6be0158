"""alarms.py: deadlines kept in a dict, one loop timer for them all."""

from __future__ import annotations

import asyncio

import pytest
import uvloop
from provocapi import alarms
from provocapi.disconnect import DisconnectGuard


class Bell:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.at: float | None = None

    def alarm(self) -> None:
        self.at = self.loop.time()


async def test_each_fires_at_its_deadline_and_not_before() -> None:
    loop = asyncio.get_running_loop()
    now = loop.time()
    late, early = Bell(loop), Bell(loop)
    alarms.start(loop, late, now + 0.15)
    alarms.start(loop, early, now + 0.05)  # earlier than the armed timer: re-armed
    await asyncio.sleep(0.1)
    assert early.at is not None and early.at >= now + 0.05 - alarms.SLACK_S
    assert late.at is None
    await asyncio.sleep(0.1)
    assert late.at is not None and late.at >= now + 0.15 - alarms.SLACK_S
    assert loop not in alarms._by_loop  # nothing left: the loop's entry went


async def test_stopped_or_moved_alarms() -> None:
    loop = asyncio.get_running_loop()
    now = loop.time()
    stopped, moved, kept = Bell(loop), Bell(loop), Bell(loop)
    due = alarms.start(loop, stopped, now + 0.02)
    alarms.start(loop, moved, now + 0.02)
    alarms.start(loop, kept, now + 0.3)
    alarms.stop(loop, stopped, due)
    alarms.stop(loop, Bell(loop), due)  # never set: nothing happens
    alarms.start(loop, moved, now + 0.08)
    await asyncio.sleep(0.05)
    assert stopped.at is None and moved.at is None
    await asyncio.sleep(0.06)
    assert moved.at is not None and stopped.at is None and kept.at is None
    alarms.stop(loop, kept, due)  # the last one: no timer, no entry
    assert loop not in alarms._by_loop


async def test_an_alarm_stopped_by_an_earlier_one_of_its_turn_stays_quiet() -> None:
    """Both due in the same timer's turn: the first stops the second, which never runs
    (a loop timer cancelled from a callback would not run either)."""
    loop = asyncio.get_running_loop()
    second = Bell(loop)
    due: dict[alarms.Alarm, float] = {}

    class First:
        def alarm(self) -> None:
            alarms.stop(loop, second, due)

    now = loop.time()
    due = alarms.start(loop, First(), now + 0.01)
    alarms.start(loop, second, now + 0.01)
    await asyncio.sleep(0.05)
    assert second.at is None
    assert loop not in alarms._by_loop


async def test_a_failing_alarm_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()

    class Broken:
        def alarm(self) -> None:
            raise RuntimeError("boom")

    bell = Bell(loop)
    alarms.start(loop, Broken(), loop.time())
    alarms.start(loop, bell, loop.time())
    await asyncio.sleep(0.02)
    assert bell.at is not None
    assert "an alarm failed" in caplog.text


def test_on_uvloop_too() -> None:
    async def run() -> Bell:
        loop = asyncio.get_running_loop()
        bell = Bell(loop)
        alarms.start(loop, bell, loop.time() + 0.03)
        await asyncio.sleep(0.06)
        return bell

    assert uvloop.run(run()).at is not None


async def test_disconnect_guard_cancels_when_the_client_leaves() -> None:
    """The guard watches after its delay and cancels its task on http.disconnect."""
    got = asyncio.Event()

    async def receive() -> dict[str, str]:
        got.set()
        return {"type": "http.disconnect"}

    async def work() -> str:
        with DisconnectGuard(receive, watch_after_s=0.05):
            await asyncio.sleep(5)
        return "cancelled by the guard"

    assert await asyncio.wait_for(work(), 2) == "cancelled by the guard"
    assert got.is_set()


async def test_disconnect_guard_done_before_its_delay_never_watches() -> None:
    called = False

    async def receive() -> dict[str, str]:
        nonlocal called
        called = True
        return {"type": "http.disconnect"}

    loop = asyncio.get_running_loop()
    with DisconnectGuard(receive, watch_after_s=0.05):
        await asyncio.sleep(0)
    assert loop not in alarms._by_loop
    await asyncio.sleep(0.1)
    assert not called


async def test_a_thousand_deadlines_fire_in_few_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thousand open calls whose deadlines fall 0.1 ms apart: every one fires, none
    early, and the loop's timer walks them at most once per MIN_GAP_S, not once each."""
    loop = asyncio.get_running_loop()
    walks = 0
    fire = alarms._Alarms.fire

    def counted(self: alarms._Alarms) -> None:
        nonlocal walks
        walks += 1
        fire(self)

    monkeypatch.setattr(alarms._Alarms, "fire", counted)
    now = loop.time()
    bells = [Bell(loop) for _ in range(1000)]
    for i, bell in enumerate(bells):
        alarms.start(loop, bell, now + 0.02 + i * 0.0001)  # over 0.1 s
    await asyncio.sleep(0.4)
    assert all(b.at is not None for b in bells)
    assert all(b.at >= now + 0.02 + i * 0.0001 - alarms.SLACK_S for i, b in enumerate(bells))
    assert walks <= 0.1 / alarms.MIN_GAP_S + 3
    assert loop not in alarms._by_loop
