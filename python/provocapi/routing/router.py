"""Dispatch: pick a worker (queueing when all are at their cap), try it, fail over.

An attempt that fails before anything reached the client (`ApiError.retryable`)
moves on to a worker not yet tried, up to `max_attempts`; the failure feeds the
passive health checks. After the first byte a failure is the stream's own
error event and never comes back here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from .._core import RoutePick, RoutePool, StateTable
from ..call import Call
from ..config import Config
from ..error_catalog import (
    NO_HEALTHY_WORKER,
    POOL_SATURATED,
    QUEUE_FULL,
    QUEUE_TIMEOUT,
)
from ..errors import ApiError
from .health import Health
from .ledger import Ledger
from .metrics import RoutingMetrics
from .pool import ModelPool, Worker, build_fallback, build_pool, build_split
from .prefix import prefix_of
from .wake import KeepAlive, Waker, wait_ready, wake_timeout

Attempt = Callable[[Worker], Awaitable[None]]
F_IN_FLIGHT = RoutePool.F_IN_FLIGHT

# Releases in other processes are not signalled: waiters look again this often.
QUEUE_POLL_S = 0.02
# Failures of the pool itself after which a model with a fallback provider uses it.
FALLBACK_CODES = {"no_healthy_worker", "pool_saturated", "queue_full", "queue_timeout"}


def no_ready_worker(model_id: str) -> ApiError:
    return NO_HEALTHY_WORKER.build(what=f"model '{model_id}'")


class Router:
    def __init__(
        self,
        cfg: Config,
        table: StateTable,
        metrics: RoutingMetrics,
        session: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        self.table = table
        self.metrics = metrics
        # units this process holds in the shared counters, given back if it dies
        self.ledger = Ledger(table, Path(table.path).parent / "routing-seats")
        self.health = Health(table, metrics, self.ledger)
        self.waker = Waker(table, metrics)
        self._session = session
        self.pools: dict[str, ModelPool] = {}
        self.splits: dict[str, tuple[float, ModelPool]] = {}
        self.fallbacks: dict[str, ModelPool] = {}
        self.configure(cfg)

    def configure(self, cfg: Config) -> None:
        """Build the pools of `cfg`; calls already dispatched keep their old pool."""
        self.cfg = cfg.routing
        self.health.configure(cfg.routing)
        pools, splits, fallbacks = {}, {}, {}
        for m in cfg.models:
            pools[m.id] = build_pool(self.table, m, cfg.routing)
            split = build_split(self.table, m, cfg.routing)
            if split is not None and m.split is not None:
                splits[m.id] = (m.split.percent, split)
            fallback = build_fallback(self.table, m, cfg.routing)
            if fallback is not None:
                fallbacks[m.id] = fallback
        self.pools, self.splits, self.fallbacks = pools, splits, fallbacks

    def all_pools(self) -> list[ModelPool]:
        return [
            *self.pools.values(),
            *(p for _, p in self.splits.values()),
            *self.fallbacks.values(),
        ]

    async def run(self) -> None:
        """Background: health probes and the /metrics poller (one process per machine)."""
        if self._session is None:
            return
        await self.health.run(self.all_pools, self._session)

    def dispatch(
        self, call: Call, attempt: Attempt, keepalive: KeepAlive | None = None
    ) -> Awaitable[None]:
        """`keepalive`: asked for one now and then while the call waits for a pool to
        wake (a streaming call's response); routing never writes to the client.

        A plain function returning the awaitable: a model without a fallback (the usual
        call) runs `_dispatch` without a coroutine layer of its own around it."""
        model = call.res.model.id
        pool = self.pools[model]
        split = self.splits.get(model)
        if split is not None and random.random() * 100.0 < split[0]:
            if split[1].ready():  # a rollout pool with nothing ready leaves it to the main one
                pool = split[1]
                self.metrics.inc("provocapi_split_routes_total", model=model)
        # An adapter lives on our workers only: such calls never leave for a provider.
        fallback = None if call.res.adapter else self.fallbacks.get(model)
        if fallback is None:
            return self._dispatch(pool, call, attempt, False, keepalive)
        return self._spill(pool, fallback, call, attempt, keepalive)

    async def _spill(
        self,
        pool: ModelPool,
        fallback: ModelPool,
        call: Call,
        attempt: Attempt,
        keepalive: KeepAlive | None,
    ) -> None:
        """The pool first; its own failures (or a retryable one) go to the fallback."""
        try:
            await self._dispatch(pool, call, attempt, True, keepalive)
        except ApiError as err:
            if not (err.retryable or err.code in FALLBACK_CODES):
                raise
            self.metrics.inc(
                "provocapi_fallbacks_total", model=pool.model_id, reason=err.code or "-"
            )
            await self._dispatch(fallback, call, attempt, False, keepalive)

    async def _dispatch(
        self,
        pool: ModelPool,
        call: Call,
        attempt: Attempt,
        spill: bool,
        keepalive: KeepAlive | None,
    ) -> None:
        cfg = self.cfg
        adapter = call.res.adapter.lora_int_id if call.res.adapter else 0
        prefix = prefix_of(call.request, cfg.prefix_bytes) if cfg.prefix_affinity else 0
        tried = 0
        last: ApiError | None = None
        if pool.held_for is not self.ledger.owned:
            self._hold(pool)
        for n in range(cfg.max_attempts):
            got = pool.core.pick(adapter, prefix, tried)
            if got.full or (got.none_ready and pool.wake is not None):
                got = await self._wait_pick(
                    pool, call, got, adapter, prefix, tried, spill, keepalive
                )
            index = got.index
            if index is None:  # none ready
                if tried:  # every worker was tried
                    break
                raise no_ready_worker(pool.model_id)
            worker = self._take(pool, call, index, adapter, got)
            tried |= 1 << index
            call.worker = worker.url
            try:
                await attempt(worker)
            except ApiError as err:
                if not err.retryable:
                    raise
                last = err
                self.health.failed(pool, worker, err)
                self.metrics.inc(
                    "provocapi_failovers_total", model=pool.model_id, reason=err.code or "error"
                )
                if n + 1 < cfg.max_attempts:
                    continue
                raise
            else:
                self.health.succeeded(worker)
                # what `served` observes as the TTFT: the first byte's, else the answer's end
                ttft = call.ttft_s
                call.answered_s = ttft if ttft is not None else time.perf_counter() - call.started
                return
            finally:
                pool.release(worker)  # and its ledger's unit (_hold)
                if call.batch_id:
                    self._book_batch(pool, -1)
        if last is not None:
            raise last
        raise no_ready_worker(pool.model_id)

    async def _wait_pick(
        self,
        pool: ModelPool,
        call: Call,
        got: RoutePick,
        adapter: int,
        prefix: int,
        tried: int,
        spill: bool,
        keepalive: KeepAlive | None,
    ) -> RoutePick:
        """The pick found the pool asleep or full: wake it, wait, or spill."""
        if got.none_ready and pool.wake is not None:
            self.waker.trigger(pool.model_id, pool.wake, self.cfg, self._session)
            if not spill:  # with a fallback provider the call leaves now; the wake goes on
                got = await self._wake_wait(pool, call, adapter, prefix, keepalive)
        if got.full and spill:  # saturated: the fallback takes it now
            raise POOL_SATURATED.build(model=pool.model_id)
        if got.full:
            got = await self._wait(pool, call, adapter, prefix, tried)
        return got

    def _hold(self, pool: ModelPool) -> None:
        """The pool's picks and releases book this process's units in its ledger
        themselves (one core call each): set once per pool and seat."""
        ledger = self.ledger
        pool.core.hold([ledger.own(w.load_slot, F_IN_FLIGHT) for w in pool.workers])
        pool.held_for = ledger.owned  # read after own(): a first claim makes a new map

    def _take(
        self, pool: ModelPool, call: Call, index: int, adapter: int, got: RoutePick
    ) -> Worker:
        """The picked worker (its unit is booked in this process's ledger: _hold)."""
        if adapter:
            self.metrics.inc(
                "provocapi_adapter_routes_total",
                model=pool.model_id,
                result="hit" if got.adapter_hit else "miss",
            )
        worker = pool.workers[index]
        if call.batch_id:
            self._book_batch(pool, 1)
        return worker

    def _book_batch(self, pool: ModelPool, delta: int) -> None:
        """Counts a batch line's unit apart, so the runner sees the online load alone."""
        self.table.add(pool.batch_slot, 0, delta)
        self.ledger.add(pool.batch_slot, 0, delta)

    async def _wait(
        self, pool: ModelPool, call: Call, adapter: int, prefix: int, tried: int
    ) -> RoutePick:
        """Every ready worker is at its cap: wait in the model's bounded queue."""
        cfg = self.cfg
        waiting = self.table.add(pool.queue_slot, 0, 1)
        self.ledger.add(pool.queue_slot, 0, 1)
        started = time.perf_counter()
        try:
            if waiting > cfg.queue_size:
                self._refuse(pool, "queue_full")
                raise QUEUE_FULL.build(model=pool.model_id)
            deadline = started + cfg.queue_timeout_s
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    self._refuse(pool, "queue_timeout")
                    raise QUEUE_TIMEOUT.build(model=pool.model_id, wait_s=cfg.queue_timeout_s)
                pool.freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pool.freed.wait(), min(QUEUE_POLL_S, remaining))
                got = pool.core.pick(adapter, prefix, tried)
                if not got.full:
                    return got
        finally:
            self.table.add(pool.queue_slot, 0, -1)
            self.ledger.add(pool.queue_slot, 0, -1)
            call.queue_ms += (time.perf_counter() - started) * 1000.0
            self.metrics.observe(
                "provocapi_queue_seconds", call.queue_ms / 1000.0, model=pool.model_id
            )

    async def _wake_wait(
        self, pool: ModelPool, call: Call, adapter: int, prefix: int, keepalive: KeepAlive | None
    ) -> RoutePick:
        cfg = self.cfg
        started = time.perf_counter()
        deadline = min(started + cfg.wake_budget_s, call.started + cfg.hard_cap_s)
        got = await wait_ready(
            lambda: pool.core.pick(adapter, prefix, 0),
            deadline,
            keepalive,
            cfg.keepalive_s,
        )
        waited = time.perf_counter() - started
        call.queue_ms += waited * 1000.0
        if got is None:
            raise wake_timeout(pool.model_id, waited)
        return got

    def refused(self, model_id: str, code: str | None) -> None:
        """A 429 went out (rate limit, token budget, full queue)."""
        self.metrics.inc("provocapi_refusals_total", model=model_id, code=code or "-")

    def _refuse(self, pool: ModelPool, reason: str) -> None:
        self.metrics.inc("provocapi_queue_rejections_total", model=pool.model_id, reason=reason)

    def served(self, call: Call, prompt: int, completion: int) -> None:
        """An answered call's queue and TTFT (`answered_s`, set when an attempt answered)
        and the tokens it served, as its usage row records them (the pipeline passes
        usage's own count, so metrics and usage agree): one core call."""
        answered = call.answered_s
        queue = 0.0 if answered is not None and call.queue_ms == 0.0 else None
        self.metrics.m.served(
            self.metrics.answered(call.res.model.id), queue, answered, prompt, completion
        )
