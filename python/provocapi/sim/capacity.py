"""The engine's batch limit (``--max-batch N``): at most N requests run at once, the rest
wait, as trtllm's scheduler holds requests beyond max_batch_size: in FIFO order, or with
``--priority`` (``waiting_queue_policy=priority``) highest ``priority`` first, FIFO among
equals.

Only installed when N > 0, so a worker without the flag pays nothing per request."""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
from collections.abc import Awaitable, Callable

from .server import Handler, Result, SimConnection, SimRequest

Waiter = tuple[float, int, asyncio.Future[None]]  # (-priority, arrival, its turn)


class Capacity:
    __slots__ = ("limit", "peak", "peak_queued", "priority_of", "running", "seq", "waiting")

    def __init__(
        self, limit: int, priority_of: Callable[[SimRequest], float] | None = None
    ) -> None:
        self.limit = limit
        self.running = 0
        self.peak = 0  # most requests ever running at once (the tests read it)
        self.peak_queued = 0
        # None: FIFO. Read only for a request that has to wait (it parses the body).
        self.priority_of = priority_of
        self.seq = itertools.count()
        self.waiting: list[Waiter] = []  # a heap

    @property
    def queued(self) -> int:
        return len(self.waiting)

    def wrap(self, handler: Handler) -> Handler:
        """``handler`` run only while holding one of the N slots."""

        def limited(req: SimRequest, conn: SimConnection) -> Result:
            if self.running < self.limit and not self.waiting:
                self._take()
                return self._run(handler, req, conn)
            return self._queue(handler, req, conn)

        return limited

    def _take(self) -> None:
        self.running += 1
        if self.running > self.peak:
            self.peak = self.running

    def _release(self) -> None:
        # The slot passes straight to the first waiter still waiting.
        while self.waiting:
            _, _, fut = heapq.heappop(self.waiting)
            if not fut.done():
                fut.set_result(None)
                return
        self.running -= 1

    def _run(self, handler: Handler, req: SimRequest, conn: SimConnection) -> Result:
        try:
            result = handler(req, conn)
        except BaseException:
            self._release()
            raise
        if inspect.isawaitable(result):
            return self._hold(result)
        self._release()
        return result

    async def _hold(self, work: Awaitable[bytes | None]) -> bytes | None:
        try:
            return await work
        finally:
            self._release()

    async def _queue(self, handler: Handler, req: SimRequest, conn: SimConnection) -> bytes | None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        rank = -self.priority_of(req) if self.priority_of is not None else 0.0
        entry = (rank, next(self.seq), fut)
        heapq.heappush(self.waiting, entry)
        if len(self.waiting) > self.peak_queued:
            self.peak_queued = len(self.waiting)
        try:
            await fut
        except asyncio.CancelledError:
            # Gone while waiting: it never held a slot, unless one was handed over just now.
            if fut.done() and not fut.cancelled():
                self._release()
            else:
                try:
                    self.waiting.remove(entry)
                    heapq.heapify(self.waiting)
                except ValueError:
                    pass
            raise
        # The slot was handed over by _release (running already counts it).
        if self.running > self.peak:
            self.peak = self.running
        result = self._run(handler, req, conn)
        if inspect.isawaitable(result):
            return await result
        return result
