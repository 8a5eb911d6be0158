"""Worker pools: which worker of a model takes a request.

A first, honest policy: least requests in flight in this process, ties broken
round-robin. The routing issue moves the pick into the core's shared state
(load across processes, adapter and prefix affinity, health, failover).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ModelConfig


@dataclass
class Worker:
    url: str
    in_flight: int = 0


@dataclass
class Pool:
    model_id: str
    workers: list[Worker]
    _next: int = field(default=0)

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


def build_pools(models: list[ModelConfig]) -> dict[str, Pool]:
    return {m.id: Pool(m.id, [Worker(u.rstrip("/")) for u in m.workers]) for m in models}
