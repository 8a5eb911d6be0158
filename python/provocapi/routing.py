"""Worker pools: which worker of a model takes a call.

A first, honest policy: least requests in flight in this process, ties broken
round-robin, one attempt. The routing issue replaces `Router.dispatch` (the core's
shared-state pick, health, queueing, failover, wake, splits) behind the same call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .call import Call
from .config import Config
from .errors import ApiError


@dataclass
class Worker:
    url: str  # base URL, no trailing slash
    headers: dict[str, str] = field(default_factory=dict)  # e.g. a provider's Authorization
    in_flight: int = 0


@dataclass
class Pool:
    model_id: str
    workers: list[Worker]
    _next: int = 0

    def pick(self) -> Worker | None:
        if not self.workers:
            return None
        n = len(self.workers)
        start = self._next
        self._next = (start + 1) % n
        best = self.workers[start]
        for i in range(1, n):
            w = self.workers[(start + i) % n]
            if w.in_flight < best.in_flight:
                best = w
        return best


Attempt = Callable[[Worker], Awaitable[None]]


class Router:
    def __init__(self, cfg: Config) -> None:
        self.pools = {
            m.id: Pool(m.id, [Worker(u.rstrip("/")) for u in m.workers]) for m in cfg.models
        }

    async def dispatch(self, call: Call, attempt: Attempt) -> None:
        worker = self.pools[call.model_id].pick()
        if worker is None:
            raise ApiError(
                503,
                f"No healthy worker is available for model '{call.model_id}'.",
                code="no_healthy_worker",
                type="server_error",
            )
        call.worker = worker.url
        worker.in_flight += 1
        try:
            await attempt(worker)
        finally:
            worker.in_flight -= 1

    async def close(self) -> None:
        return None
