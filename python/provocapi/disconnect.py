"""Cancel the request's work when its client goes away.

ASGI servers deliver `http.disconnect` through `receive()` once the body has
been read. A watcher awaits it and cancels the handler's task, which closes
the upstream connection: the worker sees the cancellation at once and stops
generating tokens nobody will read.

The watcher starts only after `WATCH_AFTER_S`: most answers are done by then,
and a watcher task per request costs more than the rest of the gateway's
bookkeeping. A client that leaves is still noticed well within a second. The
moment to start is an entry in the loop's alarms (alarms.py), not a loop timer
of the guard's own.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from . import alarms
from .asgi import Receive

WATCH_AFTER_S = 0.2


class DisconnectGuard:
    __slots__ = ("_closed", "_loop", "_receive", "_task", "_waiting", "_watcher", "gone")

    def __init__(
        self,
        receive: Receive,
        watch_after_s: float = WATCH_AFTER_S,
        task: asyncio.Task[object] | None = None,
    ) -> None:
        """`task`: the running task when the caller knows it (asking asyncio for it and
        for the loop costs a getpid() system call each on CPython 3.11)."""
        self.gone = False
        self._closed = False
        self._receive = receive
        self._task = task = task or asyncio.current_task()
        loop = task.get_loop() if task is not None else asyncio.get_running_loop()
        self._loop = loop
        self._watcher: asyncio.Future[object] | None = None
        # where the moment to watch is set (alarms.py); None: it came, or the guard closed
        self._waiting: dict[alarms.Alarm, float] | None = alarms.start(
            loop, self, loop.time() + watch_after_s
        )

    def alarm(self) -> None:
        """Time to watch the client (alarms.py)."""
        self._waiting = None
        if self._closed:
            return
        watcher: asyncio.Future[object] = asyncio.ensure_future(self._receive())
        watcher.add_done_callback(self._on_message)
        self._watcher = watcher

    def _on_message(self, fut: asyncio.Future[object]) -> None:
        if self._closed or fut.cancelled() or fut.exception() is not None:
            return
        msg = fut.result()
        if isinstance(msg, dict) and msg.get("type") == "http.disconnect" and self._task:
            self.gone = True
            self._task.cancel()

    def __enter__(self) -> DisconnectGuard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._closed = True
        due = self._waiting
        if due is not None:
            self._waiting = None
            alarms.stop(self._loop, self, due)
        if self._watcher is not None:
            self._watcher.remove_done_callback(self._on_message)
            self._watcher.cancel()
        if exc_type is asyncio.CancelledError and self.gone:
            # Our own cancellation: swallow it and leave the task usable.
            if self._task is not None:
                self._task.uncancel()
            return True
        return False
