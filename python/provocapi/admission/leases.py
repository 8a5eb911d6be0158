"""Limits across replicas: units leased from Redis in batches.

Each machine keeps what it leased in plain counters of the shared state table
(field + POOL of each bucket), so its processes admit from memory; a request
goes to Redis only when the machine's lease runs short (about once per batch,
and the lease loop usually refills first). Redis holds one GCRA arrival time
per bucket, on Redis's own clock, so every replica draws on one budget.

When Redis fails, the replica stops using it for `RETRY_S`, logs it, counts it
in `provocapi_ratelimit_redis_fallback_total`, and admits from local buckets
holding the limit divided by the replica count it last saw. A request never
fails because of Redis.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import redis

from .._core import BucketSet
from ..telemetry import Telemetry
from .limits import Limits

log = logging.getLogger("provocapi")

POOL = 2  # leased units: field + 2 of each bucket's slot (0 requests, 1 tokens → 2, 3)
FALLBACK = 4  # local share while Redis is down: fields 4, 5
BATCH_SHARE = 100  # a lease is 1% of the limit (at least one unit)
TICK_S = 0.05
HEARTBEAT_S = 1.0
REPLICA_TTL_S = 10.0
RETRY_S = 2.0
TIMEOUT_S = 0.05  # a Redis call on the request path gives up after this

# KEYS[1]: the bucket's TAT (µs, Redis clock). ARGV: limit per minute, units wanted.
# Grants what fits now (maybe fewer than wanted); returns {granted, TAT - now}.
_LEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = 60000000 / tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local fit = math.floor((now + 60000000 - tat) / cost + 1e-6)
local grant = math.max(0, math.min(want, fit))
if grant > 0 then
  tat = tat + grant * cost
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', 61000)
end
return {grant, string.format('%.0f', tat - now)}
"""


class RedisDown(Exception):
    pass


def shown_url(url: str) -> str:
    """`url` fit for a log line: a password in it (`redis://:PASS@host`) becomes `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@dataclass
class Leases:
    url: str
    telemetry: Telemetry
    replica: str = field(default_factory=lambda: f"{socket.gethostname()}:{time.time_ns()}")
    replicas: int = 1  # last seen; the fallback divides limits by it
    down_until: float = 0.0
    active: dict[int, Limits] = field(default_factory=dict)
    _fallback: dict[tuple[int, int], BucketSet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = redis.Redis.from_url(
            self.url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        self.script = self.client.register_script(_LEASE)

    def up(self) -> bool:
        return time.monotonic() >= self.down_until

    def _failed(self, exc: Exception) -> RedisDown:
        if self.up():
            log.warning(
                "redis %s unreachable (%s): admitting 1/%d of each limit locally",
                shown_url(self.url), exc, self.replicas,  # logs are no place for a password
            )  # fmt: skip
            self.telemetry.redis_fallback()
        self.down_until = time.monotonic() + RETRY_S
        return RedisDown(str(exc))

    def _lease(self, limits: Limits, i: int, want: int) -> tuple[int, int]:
        """(granted, ns until the bucket is full) from Redis."""
        limit = limits.buckets.limits[i][0]
        try:
            granted, debt_us = self.script(keys=[limits.redis_keys[i]], args=[limit, want])
        except redis.RedisError as exc:
            raise self._failed(exc) from None
        granted = int(granted)
        if granted:
            limits.buckets.add_pool(POOL, i, granted)
        return granted, int(debt_us) * 1000

    def take(self, limits: Limits, cost: int) -> tuple[int | None, int]:
        """Take 1 request and `cost` tokens from the machine's leases, leasing more
        when short. (index of a bucket Redis refused, ns until it fits) or (None, 0)."""
        self.active[id(limits)] = limits
        for _ in range(len(limits.names) + 1):
            short = limits.buckets.take_pool(POOL, 1, cost)
            if short is None:
                return None, 0
            limit, tokens = limits.buckets.limits[short]
            need = cost if tokens else 1
            have = limits.buckets.add_pool(POOL, short, 0)
            want = max(need - have, _batch(limit))
            granted, debt_ns = self._lease(limits, short, want)
            if have + granted < need:
                # Redis has less than this request needs: refuse until it would fit
                wait = debt_ns + (need - have - granted) * 60_000_000_000 // limit - 60_000_000_000
                return short, max(wait, 1_000_000)
        return limits.buckets.take_pool(POOL, 1, cost), 1_000_000

    def give_back(self, limits: Limits, tokens: int) -> None:
        for i, (_, is_tokens) in enumerate(limits.buckets.limits):
            if is_tokens:
                limits.buckets.add_pool(POOL, i, tokens)

    def fallback(self, limits: Limits) -> BucketSet:
        """Local buckets at limit / replicas, for while Redis is down."""
        key = (id(limits), self.replicas)
        got = self._fallback.get(key)
        if got is None:
            spec = [
                (slot, f + FALLBACK, max(1, limit // self.replicas), tokens)
                for (slot, f), (limit, tokens) in zip(
                    limits.cells, limits.buckets.limits, strict=True
                )
            ]
            got = self._fallback[key] = BucketSet(limits.table, spec)
        return got

    # ------------------------------------------------------------- background

    async def run(self) -> None:
        """Refill leases before they run out; count replicas; retry a failed Redis."""
        last_beat = 0.0
        while True:
            await asyncio.sleep(TICK_S)
            if not self.up():
                continue
            try:
                if time.monotonic() - last_beat >= HEARTBEAT_S:
                    await asyncio.to_thread(self._heartbeat)
                    last_beat = time.monotonic()
                await asyncio.to_thread(self._refill)
            except RedisDown:
                pass
            except Exception:  # the loop must outlive any bug in one round
                log.exception("lease refill failed")

    def _heartbeat(self) -> None:
        now = time.time()
        try:
            pipe = self.client.pipeline()
            pipe.zadd("pvc:replicas", {self.replica: now})
            pipe.zremrangebyscore("pvc:replicas", "-inf", now - REPLICA_TTL_S)
            pipe.zcard("pvc:replicas")
            self.replicas = max(1, int(pipe.execute()[-1]))
        except redis.RedisError as exc:
            raise self._failed(exc) from None

    def _refill(self) -> None:
        for limits in list(self.active.values()):
            for i, (limit, _) in enumerate(limits.buckets.limits):
                batch = _batch(limit)
                have = limits.buckets.add_pool(POOL, i, 0)
                if have * 2 < batch or have <= 0:
                    self._lease(limits, i, batch - max(have, 0))


def _batch(limit: int) -> int:
    return max(1, limit // BATCH_SHARE)
