"""Deadlines that nearly never fire, one loop timer for all of them.

Every call sets two: its upstream request's deadline (http1) and the moment its
disconnect guard starts watching the client (disconnect.py); nearly every call ends
before either. A loop timer per deadline costs about 2 µs on uvloop (armed, then
cancelled and closed); a deadline here is a dict entry (about 0.3 µs with its
removal). Each loop keeps one timer, at the earliest deadline it knew when it last
looked: it fires the ones that passed and looks again. Deadlines fire when the loop
timer would have fired them, or at most `MIN_GAP_S` later: finding the due ones walks
every deadline, so with a thousand streams open (each watching its client 0.2 s after
it starts) the timer must not fire once per stream. Nothing here needs finer timing
(upstream deadlines are seconds, the watch a fifth of one).

An alarm is any hashable object with an `alarm()` method: set again, its deadline
moves; stopped, it is forgotten. `start` returns the loop's dict of deadlines, so
that `stop` forgets an alarm with a dict's pop, no lookup of the loop's entry.
The loop's entry (and its timer) goes when nothing is left to watch, so a closed
loop is not kept alive by this module. An alarm runs in the context of whichever call
armed the loop's timer, not its own (the gateway keeps nothing in contextvars).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("provocapi")

# A timer may run a hair early (uvloop counts milliseconds): what is this close is due.
SLACK_S = 0.001
NEVER = float("inf")
# The walks over every deadline happen at most this often (~80 ns a deadline).
MIN_GAP_S = 0.01


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
        self.wake_at = NEVER  # an alarm that sets a deadline now arms the timer
        at = self.loop.time()
        now = at + SLACK_S
        due = self.due
        for a in [a for a, when in due.items() if when <= now]:
            # still due: an earlier alarm of this turn may have stopped or moved it
            if due.get(a, NEVER) <= now:
                del due[a]
                try:
                    a.alarm()
                except Exception:
                    log.exception("an alarm failed")
        if due:
            self.arm(max(min(due.values()), at + MIN_GAP_S))
        elif _by_loop.get(self.loop) is self:
            del _by_loop[self.loop]


_by_loop: dict[asyncio.AbstractEventLoop, _Alarms] = {}


def start(loop: asyncio.AbstractEventLoop, alarm: Alarm, when: float) -> dict[Alarm, float]:
    """`alarm.alarm()` runs once `loop.time()` reaches `when`, unless stopped first.
    Returns the dict to stop it in (`stop`)."""
    alarms = _by_loop.get(loop)
    if alarms is None:
        alarms = _by_loop[loop] = _Alarms(loop)
    alarms.due[alarm] = when
    if when < alarms.wake_at:
        alarms.arm(when)
    return alarms.due


def stop(loop: asyncio.AbstractEventLoop, alarm: Alarm, due: dict[Alarm, float]) -> None:
    """Forgets `alarm`'s deadline; `due`: what `start` returned for it."""
    if due.pop(alarm, None) is not None and not due:
        idle(loop, due)


def idle(loop: asyncio.AbstractEventLoop, due: dict[Alarm, float]) -> None:
    """`due` is empty: no timer, no entry for the loop (a closed loop is not kept alive)."""
    alarms = _by_loop.get(loop)
    if alarms is not None and alarms.due is due and not due:
        if alarms.handle is not None:
            alarms.handle.cancel()
        del _by_loop[loop]
