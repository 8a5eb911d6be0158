"""Online calls first: when a batch line may start.

- A batch holds at most `[batch] batch_max_share` of its model's pool capacity
  (the sum of the workers' `max_concurrency`, when every worker has one).
- A line starts only while no online call waits in that pool's queue (a count
  the routers of every process keep in the shared state table).
- A tenant's batch lines use at most its tier's `batch_tpm` tokens a minute;
  over it, lines wait: they are never failed for it.
"""

from __future__ import annotations

import collections
import time

import orjson

from ..config import Config
from ..gateway import Gateway

WINDOW_S = 60.0


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

    def add(self, tenant: str, body: bytes) -> None:
        """Counts the tokens an answer's `usage` says it used."""
        try:
            usage = orjson.loads(body).get("usage") or {}
            tokens = int(usage.get("total_tokens") or 0)
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return
        if tokens:
            q = self._used.setdefault(tenant, collections.deque())
            q.append((time.monotonic(), tokens))
            _drop_old(q)  # also here: `used` is only asked of tenants with a batch_tpm


def _drop_old(q: collections.deque[tuple[float, int]]) -> None:
    cut = time.monotonic() - WINDOW_S
    while q and q[0][0] < cut:
        q.popleft()
