"""A streamed answer's send must make progress within `[server].write_timeout_s`.

Granian's `send()` waits while the client's socket is full (about 320 KiB in Granian
over the kernel's send buffer, 2.7 MiB on loopback: bench/slow_reader.py), and puts no
time limit on that wait. A client that stops reading would hold its request's task,
its worker slot, its tenant's concurrency and the worker's generation for ever.

No timer per chunk: a send stamps its start on the reply (a clock read, about 0.1 µs
per chunk) and clears it when done. A streamed reply is registered once, and one
sweeper per process, alive while streams are open, cancels every `tick_s` the tasks
whose send has waited longer than the timeout; the reply turns that cancellation
into `ClientGone` (asgi.Reply.write), as when the client leaves, and asks for its
connection to be reset (conn_reset.py): the resets of one loop turn share one pass
over the process's descriptors, on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from asyncio import current_task
from collections.abc import Mapping
from typing import Any, Protocol

from . import conn_reset

log = logging.getLogger("provocapi")


class Writer(Protocol):
    """What the sweeper reads of a reply: when its send in progress started (0: none)."""

    sending: float
    write_expired: bool


class WriteDeadlines:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # a stalled send ends between timeout_s and timeout_s + tick_s after it started
        self.tick_s = min(1.0, timeout_s / 8)
        self._open: dict[Writer, asyncio.Task[object]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._to_reset: set[conn_reset.Key] = set()

    def watch(self, writer: Writer) -> None:
        """Registers a streamed reply of the running task (once, at its start); it is
        forgotten when that task ends."""
        if self._sweeper is None:
            self._loop = asyncio.get_running_loop()
            self._sweeper = self._loop.create_task(self._sweep())
        task = current_task(self._loop)
        if task is not None:
            self._open[writer] = task

    @property
    def watched(self) -> int:
        return len(self._open)

    async def _sweep(self) -> None:
        try:
            while self._open:
                await asyncio.sleep(self.tick_s)
                self.sweep(time.perf_counter())
        finally:
            self._sweeper = None

    def sweep(self, now: float) -> None:
        """Cancels the sends started before `now - timeout_s`; forgets ended tasks."""
        oldest = now - self.timeout_s
        for writer, task in list(self._open.items()):
            if task.done():
                del self._open[writer]
                continue
            since = writer.sending
            if since and since <= oldest and not writer.write_expired:
                writer.write_expired = True
                del self._open[writer]
                task.cancel()

    def reset_soon(self, scope: Mapping[str, Any]) -> None:
        """Resets the connection of a request cut by the deadline, at the end of this
        loop turn (with the others cut in it)."""
        key = conn_reset.scope_key(scope.get("server"), scope.get("client"))
        if key is None:
            return
        if not self._to_reset:
            asyncio.get_running_loop().call_soon(self._reset)
        self._to_reset.add(key)

    def _reset(self) -> None:
        # A pass over the descriptors costs about 10 µs each on a busy machine (20 ms
        # at 2,048 connections): on a thread of its own, not on the event loop.
        keys, self._to_reset = self._to_reset, set()
        threading.Thread(target=self._reset_now, args=(keys,), daemon=True).start()

    def _reset_now(self, keys: set[conn_reset.Key]) -> None:
        n = conn_reset.reset(keys)
        log.info(
            "write deadline: reset %d connection(s) whose client took nothing for %g s",
            n,
            self.timeout_s,
        )
