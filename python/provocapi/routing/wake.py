"""The cold path: a pool with no ready worker wakes up instead of failing.

A model's wake hook (an HTTP POST or a command) runs once per wake budget for
the whole machine: the first caller to move the model's wake stamp in the
shared state table runs it; everyone else, in any process, only waits. Calls
wait for a ready worker (the probes find it) up to the wake budget, and the
whole call is bounded by the hard cap, so the answer reaches the client
before the SDKs' 600 s read timeout. A streaming call gets SSE comment
keep-alives while it waits: routing asks for them through `KeepAlive`, and never
writes to the client itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp

from .._core import RoutePick, StateTable
from ..config import RoutingConfig, WakeConfig
from ..error_catalog import WAKE_TIMEOUT
from ..errors import ApiError
from .metrics import RoutingMetrics

log = logging.getLogger("provocapi.routing")

WAIT_POLL_S = 0.05  # how often a waiting call looks for a ready worker


class KeepAlive(Protocol):
    """What routing may ask of the response while a call waits: one keep-alive (the
    response side opens its stream first if needed)."""

    async def keepalive(self) -> None: ...


def wake_timeout(model_id: str, waited_s: float) -> ApiError:
    return WAKE_TIMEOUT.build(model=model_id, waited_s=waited_s)


class Waker:
    def __init__(self, table: StateTable, metrics: RoutingMetrics) -> None:
        self.table = table
        self.metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    def trigger(
        self,
        model_id: str,
        hook: WakeConfig,
        cfg: RoutingConfig,
        session: Callable[[], aiohttp.ClientSession] | None,
    ) -> None:
        """Run the hook unless a wake of this model is already under way (any process)."""
        slot = self.table.slot(f"rt/wake/{model_id}")
        now = int(time.time() * 1000)
        last = self.table.get(slot, 0)
        if last and now - last < cfg.wake_budget_s * 1000:
            return  # one wake per budget: the others share it
        if not self.table.compare_and_swap(slot, 0, last, now):
            return  # another caller won the race
        self.metrics.inc("provocapi_wakes_total", model=model_id)
        log.warning("%s: no ready worker, running its wake hook", model_id)
        task = asyncio.get_running_loop().create_task(self._run(model_id, hook, session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        model_id: str,
        hook: WakeConfig,
        session: Callable[[], aiohttp.ClientSession] | None,
    ) -> None:
        try:
            if hook.url is not None and session is not None:
                timeout = aiohttp.ClientTimeout(total=30)
                body = {"model": model_id}
                async with session().post(hook.url, json=body, timeout=timeout) as r:
                    if r.status >= 400:
                        log.error("%s: wake hook answered HTTP %d", model_id, r.status)
            elif hook.command:
                env = {**os.environ, "PROVOCAPI_WAKE_MODEL": model_id}
                proc = await asyncio.create_subprocess_exec(
                    *hook.command,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    start_new_session=False,
                )
                code = await proc.wait()
                if code:
                    log.error("%s: wake command exited with %d", model_id, code)
        except Exception:  # a failed hook leaves the callers to time out cleanly
            log.exception("%s: wake hook failed", model_id)


async def wait_ready(
    pick: Callable[[], RoutePick],
    deadline: float,
    keepalive: KeepAlive | None,
    keepalive_s: float,
) -> RoutePick | None:
    """Pick until a worker is ready (None past the deadline), asking for keep-alives."""
    next_ping = time.perf_counter() + keepalive_s
    while True:
        got = pick()
        if not got.none_ready:
            return got
        now = time.perf_counter()
        if now >= deadline:
            return None
        if keepalive is not None and now >= next_ping:
            await keepalive.keepalive()
            next_ping = now + keepalive_s
        await asyncio.sleep(min(WAIT_POLL_S, max(0.0, deadline - now)))
