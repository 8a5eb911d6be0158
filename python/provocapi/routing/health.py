"""Worker health: active probes, the `/metrics` poller, and passive ejection.

The probes and the poller run in one process per machine (the lease holder,
the batch runner when there is one: lease.py) and write into the shared table,
so every process routes on the same view.
Passive checks run wherever a call fails: a refused connection takes the
worker out at once; errors and timeouts in a row eject it for `eject_s`, and
only a successful probe after that brings it back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import aiohttp

from .._core import RoutePool, StateTable, worker_stats
from ..beat import sleep_to_beat
from ..config import RoutingConfig
from ..errors import ApiError
from .lease import Lease
from .ledger import Ledger
from .metrics import RoutingMetrics
from .pool import ModelPool, Worker

log = logging.getLogger("provocapi.routing")

UP, STARTING, DOWN, EJECTED = (
    RoutePool.HEALTH_UP,
    RoutePool.HEALTH_STARTING,
    RoutePool.HEALTH_DOWN,
    RoutePool.HEALTH_EJECTED,
)
F_HEALTH, F_FAILS, F_UNTIL = (
    RoutePool.F_HEALTH,
    RoutePool.F_FAILS,
    RoutePool.F_EJECTED_UNTIL_MS,
)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Health:
    def __init__(
        self, table: StateTable, metrics: RoutingMetrics, ledger: Ledger | None = None
    ) -> None:
        self.table = table
        self.metrics = metrics
        self.ledger = ledger
        self.cfg = RoutingConfig()
        self.lease = Lease(table, "rt/lease/health", 3 * self.cfg.probe_interval_s)
        self._slow: dict[int, int] = {}  # load slot -> probes in a row without an answer

    def prefer(self) -> None:
        """This process answers no clients (the batch runner): it leads whenever it runs,
        so the probes' round trips and wake-ups stay off the serving loops."""
        self.lease.preferred = True

    def configure(self, cfg: RoutingConfig) -> None:
        self.cfg = cfg
        tick = min(cfg.probe_interval_s, cfg.metrics_interval_s)
        self.lease.ttl_ds = max(2, round(3 * tick * 10))

    # passive checks

    def failed(self, pool: ModelPool, worker: Worker, err: ApiError) -> None:
        slot = worker.load_slot
        if worker.external:  # never probed: out for eject_s, then tried again
            if err.code != "worker_overloaded":
                self.table.set(slot, F_UNTIL, _now_ms() + int(self.cfg.eject_s * 1000))
                self.table.set(slot, F_HEALTH, EJECTED)
            return
        if err.code == "no_healthy_worker":  # refused or starting: no traffic until a probe
            self.table.set(slot, F_HEALTH, DOWN)
            return
        if err.code == "worker_overloaded":  # its queue is full, it is not broken
            return
        fails = self.table.add(slot, F_FAILS, 1)
        # Never eject the last ready worker: its errors then reach the client as they are.
        if fails >= self.cfg.eject_after_failures and pool.ready() > 1:
            self.table.set(slot, F_UNTIL, _now_ms() + int(self.cfg.eject_s * 1000))
            if self.table.compare_and_swap(slot, F_HEALTH, UP, EJECTED):
                self.metrics.inc("provocapi_ejections_total", model=pool.model_id)
                log.warning("%s: ejected %s after %d failures", pool.model_id, worker.url, fails)

    def succeeded(self, worker: Worker) -> None:
        if self.table.get(worker.load_slot, F_FAILS):
            self.table.set(worker.load_slot, F_FAILS, 0)

    # the leader's loop

    async def run(
        self, pools: Callable[[], Iterable[ModelPool]], session: Callable[[], aiohttp.ClientSession]
    ) -> None:
        last_probe = last_metrics = 0.0
        while True:
            cfg = self.cfg
            tick = min(cfg.probe_interval_s, cfg.metrics_interval_s)
            try:
                if self.lease.hold():
                    now = time.monotonic()
                    todo = [(p, w) for p in pools() for w in p.workers]
                    # woken on the beat (beat.py): a multiple of the tick apart, give or
                    # take the wake-up's lateness, which must not skip a round
                    slack = tick / 10
                    if now - last_probe >= cfg.probe_interval_s - slack:
                        last_probe = now
                        await asyncio.gather(*(self._probe(session(), w) for _, w in todo))
                    if now - last_metrics >= cfg.metrics_interval_s - slack:
                        last_metrics = now
                        trt = [w for _, w in todo if not w.external]
                        await asyncio.gather(*(self._poll(session(), w) for w in trt))
                    if self.ledger is not None:
                        self.ledger.sweep()  # units of processes that died
                    self._gauges(pools())
            except Exception:  # one bad round must not stop health keeping
                log.exception("health round failed")
            await sleep_to_beat(tick)

    async def _probe(self, session: aiohttp.ClientSession, w: Worker) -> None:
        if w.external:  # a provider has no /health: its ejection simply runs out
            slot = w.load_slot
            if self.table.get(slot, F_HEALTH) != UP and _now_ms() >= self.table.get(slot, F_UNTIL):
                self.table.set(slot, F_HEALTH, UP)
            return
        timeout = aiohttp.ClientTimeout(total=self.cfg.probe_timeout_s)
        status = 0
        refused = False
        try:
            async with session.get(w.url + "/health", timeout=timeout) as r:
                status = r.status
        except aiohttp.ClientConnectorError:
            refused = True
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        slot = w.load_slot
        health = self.table.get(slot, F_HEALTH)
        if status == 200:
            self._slow.pop(slot, None)
            if health == EJECTED and _now_ms() < self.table.get(slot, F_UNTIL):
                return
            if health != UP:
                self.table.set(slot, F_FAILS, 0)
                self.table.set(slot, F_HEALTH, UP)
                log.info("worker %s is ready", w.url)
        elif status == 503:  # trtllm-serve while it loads the model
            self.table.set(slot, F_HEALTH, STARTING)
        elif health != DOWN:
            # A refusal is certain; one slow answer may be a busy moment: wait for two.
            misses = self._slow[slot] = self._slow.get(slot, 0) + 1
            if refused or status or misses >= 2:
                self.table.set(slot, F_HEALTH, DOWN)
                log.warning("worker %s is down (%s)", w.url, status or "no answer")

    async def _poll(self, session: aiohttp.ClientSession, w: Worker) -> None:
        timeout = aiohttp.ClientTimeout(total=self.cfg.probe_timeout_s)
        try:
            async with session.get(w.url + "/metrics", timeout=timeout) as r:
                if r.status != 200:
                    return
                body = await r.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return
        # A list of iteration stats since the last read (up to ~1000 under load, empty
        # when nothing ran); only the last one matters, read in the core without the GIL.
        stats = worker_stats(body)
        if stats is None:
            return
        queued, used, total = stats
        if queued >= 0:
            self.table.set(w.load_slot, RoutePool.F_QUEUED, queued)
        if used >= 0 and total > 0:
            permille = max(0, min(1000, used * 1000 // total))
            self.table.set(w.load_slot, RoutePool.F_KV_PERMILLE, permille)

    def _gauges(self, pools: Iterable[ModelPool]) -> None:
        for p in pools:
            for w in p.workers:
                health = self.table.get(w.load_slot, F_HEALTH)
                in_flight = self.table.get(w.load_slot, RoutePool.F_IN_FLIGHT)
                labels = {"model": p.model_id, "worker": w.url}
                self.metrics.gauge("provocapi_worker_in_flight", in_flight, **labels)
                self.metrics.gauge("provocapi_worker_up", float(health == UP), **labels)
                self.metrics.gauge("provocapi_worker_state", health, **labels)
