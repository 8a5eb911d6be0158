"""A request's body must arrive within `[server].body_read_timeout_s`.

Granian bounds the time to read a request's headers, not its body: a client that
sends its headers and then trickles the body (slowloris) would hold its connection,
and one of the worker process's `backpressure` permits, for ever. A read past its
deadline is cancelled and the client gets 408 `request_timeout`.

No timer per request: `asyncio.timeout` adds about 4 µs to a read (a loop timer
armed and cancelled), and nearly every body is there when the handler asks for it.
A read registers its task in a dict instead (about 0.3 µs more), and one sweeper per
process, alive only while reads are in progress, cancels the reads past their
deadline every `tick_s`.
"""

from __future__ import annotations

import asyncio
import time
from asyncio import current_task

_EXPIRED = -1.0  # the deadline of a read the sweeper cancelled


class BodyDeadlines:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # a read ends between timeout_s and timeout_s + tick_s after its request arrived
        self.tick_s = min(1.0, timeout_s / 8)
        self._reading: dict[asyncio.Task[object], float] = {}  # task → deadline
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def enter(self, started: float) -> asyncio.Task[object] | None:
        """Registers the running task's read of a request that arrived at `started`
        (`time.perf_counter()`); returns the token for `leave`."""
        if self._sweeper is None:
            self._start()
        task = current_task(self._loop)
        if task is not None:
            self._reading[task] = started + self.timeout_s
        return task

    def leave(self, task: asyncio.Task[object] | None) -> None:
        if task is not None:
            del self._reading[task]

    def expired(self, task: asyncio.Task[object] | None) -> bool:
        """True when the sweeper cancelled this read: the CancelledError is ours.

        The task's cancellation request is withdrawn, so that the handler can
        still answer."""
        if task is None or self._reading.get(task) != _EXPIRED:
            return False
        task.uncancel()
        return True

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sweeper = self._loop.create_task(self._sweep())

    async def _sweep(self) -> None:
        try:
            while self._reading:
                await asyncio.sleep(self.tick_s)
                now = time.perf_counter()
                late = [t for t, d in self._reading.items() if d != _EXPIRED and d <= now]
                for task in late:
                    self._reading[task] = _EXPIRED
                    task.cancel()
        finally:
            self._sweeper = None
