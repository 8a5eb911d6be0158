"""Online calls first: when a batch line may start.

- A batch holds at most `[batch] batch_max_share` of its model's pool capacity
  (the sum of the workers' `max_concurrency`, when every worker has one).
- Within that ceiling, batch lines use only what online calls leave idle: the
  lines of a model in flight stay under capacity x (1 - `batch_headroom`) minus
  the online calls in flight (now, or their recent average if higher; always
  at least one line, so a batch progresses). A line already started cannot be taken back, so the cap
  must look ahead: the headroom covers the online burst of one line's lifetime.
- A line starts only while no online call waits in that pool's queue (a count
  the routers of every process keep in the shared state table).
- A tenant's batch lines use at most its tier's `batch_tpm` tokens a minute;
  over it, lines wait: they are never failed for it.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass

from .._core import RoutePool
from ..config import Config
from ..gateway import Gateway

WINDOW_S = 60.0
# The online load's average forgets with this time constant: a few answers' lifetimes.
SMOOTH_S = 1.0


def share_cap(gw: Gateway, model_name: object, line_concurrency: int) -> int:
    """Lines of one batch in flight at once."""
    cap = max(1, line_concurrency)
    m = gw.catalog.by_name.get(model_name) if isinstance(model_name, str) else None
    pool = gw.router.pools.get(m.id) if m is not None else None
    if pool is None or not pool.workers:
        return cap
    caps = [w.max_concurrency for w in pool.workers]
    if any(c <= 0 for c in caps):  # an uncapped worker: its own queue decides
        return cap
    return max(1, min(cap, int(gw.cfg.batch.batch_max_share * sum(caps))))


@dataclass(frozen=True)
class PoolLoad:
    """A capped pool's units, as the routers of every process count them."""

    capacity: int  # the sum of the workers' max_concurrency
    in_flight: int  # units held, online and batch
    batch: int  # units batch lines hold

    @property
    def online(self) -> int:
        return max(0, self.in_flight - self.batch)


def pool_load(gw: Gateway, model_name: object) -> PoolLoad | None:
    """None when the pool has no cap to share (unknown model, an uncapped worker)."""
    m = gw.catalog.by_name.get(model_name) if isinstance(model_name, str) else None
    pool = gw.router.pools.get(m.id) if m is not None else None
    if pool is None or not pool.workers:
        return None
    caps = [w.max_concurrency for w in pool.workers]
    if any(c <= 0 for c in caps):
        return None
    table = gw.state
    in_flight = sum(table.get(w.load_slot, RoutePool.F_IN_FLIGHT) for w in pool.workers)
    return PoolLoad(sum(caps), in_flight, table.get(pool.batch_slot, 0))


def adaptive_cap(capacity: int, max_share: float, headroom: float, online: int) -> int:
    """Batch lines a pool may hold now: never over `max_share` of it, never into the
    `headroom` above the online load, and at least one."""
    ceiling = math.floor(max_share * capacity)
    room = math.floor(capacity * (1.0 - headroom)) - online
    return max(1, min(ceiling, room))


class OnlineLoad:
    """Online calls in flight per model, as the cap reads them: the higher of now and
    a smoothed average (time constant `smooth_s`). The average keeps batch lines back
    for a while after a burst; taking now as well stops them at the burst's start.
    The headroom, not this measure, absorbs the bursts that come while lines run."""

    def __init__(self, smooth_s: float = SMOOTH_S) -> None:
        self.smooth_s = smooth_s
        self._avg: dict[str, tuple[float, float]] = {}  # model -> (when, average)

    def observe(self, model: str, online: int, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        seen = self._avg.get(model)
        if seen is None:
            avg = float(online)
        else:
            when, prev = seen
            weight = math.exp(-max(0.0, now - when) / self.smooth_s)
            avg = prev * weight + online * (1.0 - weight)
        self._avg[model] = (now, avg)
        return max(online, math.floor(avg + 0.5))


def online_waiting(gw: Gateway, model_name: object) -> bool:
    m = gw.catalog.by_name.get(model_name) if isinstance(model_name, str) else None
    pool = gw.router.pools.get(m.id) if m is not None else None
    return pool is not None and gw.state.get(pool.queue_slot, 0) > 0


def batch_tpm(cfg: Config, tenant: str) -> int | None:
    t = cfg.tenants.get(tenant)
    tier = cfg.tiers.get(t.tier if t is not None else "default")
    return tier.batch_tpm if tier is not None else None


class TokenWindow:
    """Tokens each tenant's batch lines used over the last minute, in this runner."""

    def __init__(self) -> None:
        self._used: dict[str, collections.deque[tuple[float, int]]] = {}

    def used(self, tenant: str) -> int:
        q = self._used.get(tenant)
        if not q:
            return 0
        _drop_old(q)
        return sum(n for _, n in q)

    def add(self, tenant: str, tokens: int) -> None:
        """Counts the tokens an answered line used."""
        if tokens:
            q = self._used.setdefault(tenant, collections.deque())
            q.append((time.monotonic(), tokens))
            _drop_old(q)  # also here: `used` is only asked of tenants with a batch_tpm


def _drop_old(q: collections.deque[tuple[float, int]]) -> None:
    cut = time.monotonic() - WINDOW_S
    while q and q[0][0] < cut:
        q.popleft()
