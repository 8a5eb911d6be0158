"""Deadlines that nearly never fire, one loop timer for all of them.

Every call sets two: its upstream request's deadline (http1) and the moment its
disconnect guard starts watching the client (disconnect.py); nearly every call ends
before either. A loop timer per deadline costs about 2 µs on uvloop (armed, then
cancelled and closed); a deadline here is a dict entry (about 0.3 µs with its
removal). Each loop keeps one timer, at the earliest deadline it knew when it last
looked: it fires the ones that passed and looks again. Deadlines fire when the loop
timer would have fired them, not later.

An alarm is any hashable object with an `alarm()` method: set again, its deadline
moves; stopped, it is forgotten. The loop's entry (and its timer) goes when nothing
is left to watch, so a closed loop is not kept alive by this module.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("provocapi")

# A timer may run a hair early (uvloop counts milliseconds): what is this close is due.
SLACK_S = 0.001
NEVER = float("inf")


class Alarm(Protocol):
    def alarm(self) -> None: ...


class _Alarms:
    __slots__ = ("due", "handle", "loop", "wake_at")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.due: dict[Alarm, float] = {}  # alarm → loop time
        self.handle: asyncio.TimerHandle | None = None
        self.wake_at = NEVER  # when `handle` fires

    def arm(self, when: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.wake_at = when
        self.handle = self.loop.call_at(when, self.fire)

    def fire(self) -> None:
        self.handle = None
        self.wake_at = NEVER
        now = self.loop.time() + SLACK_S
        due = self.due
        late = [a for a, when in due.items() if when <= now]
        for a in late:
            del due[a]
        if due:
            self.arm(min(due.values()))
        elif _by_loop.get(self.loop) is self:
            del _by_loop[self.loop]
        for a in late:  # after the bookkeeping: an alarm may set a new deadline
            try:
                a.alarm()
            except Exception:
                log.exception("an alarm failed")


_by_loop: dict[asyncio.AbstractEventLoop, _Alarms] = {}


def start(loop: asyncio.AbstractEventLoop, alarm: Alarm, when: float) -> None:
    """`alarm.alarm()` runs once `loop.time()` reaches `when`, unless stopped first."""
    alarms = _by_loop.get(loop)
    if alarms is None:
        alarms = _by_loop[loop] = _Alarms(loop)
    alarms.due[alarm] = when
    if when < alarms.wake_at:
        alarms.arm(when)


def stop(loop: asyncio.AbstractEventLoop, alarm: Alarm) -> None:
    """Forgets `alarm`'s deadline (nothing if it has none)."""
    alarms = _by_loop.get(loop)
    if alarms is not None and alarms.due.pop(alarm, None) is not None and not alarms.due:
        # nothing left to watch: no timer, no entry (a closed loop is not kept alive)
        if alarms.handle is not None:
            alarms.handle.cancel()
        del _by_loop[loop]
