"""A model's pool: its workers, their slots in the shared state table, the core's picker.

A worker's slots are keyed by model and URL, so every Granian process, and a
pool rebuilt by a config reload, count into the same atomics.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field

from .._core import RoutePool, StateTable
from ..config import ModelConfig, RoutingConfig, WakeConfig, WorkerConfig, worker_configs

CLOCK_KEY = "rt/clock"


def slot_key(kind: str, model_id: str, url: str) -> str:
    key = f"rt/{kind}/{model_id}/{url}"
    if len(key.encode()) <= StateTable.KEY_MAX:
        return key
    # long ids or URLs: a digest names the same worker in every process
    return f"rt/{kind}/#" + hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Worker:
    url: str  # base URL, no trailing slash
    headers: dict[str, str] = field(default_factory=dict)  # e.g. a provider's Authorization
    index: int = 0  # in its pool
    load_slot: int = 0
    max_concurrency: int = 0
    # A plain OpenAI-compatible provider: no trtllm /metrics to read.
    external: bool = False
    model: str | None = None  # the model name to send instead of the plan's (a provider's)


class ModelPool:
    def __init__(
        self,
        table: StateTable,
        model_id: str,
        workers: list[Worker],
        lora_slots: list[int],
        weights: list[int],
        max_loras: list[int],
        routing: RoutingConfig,
        name: str | None = None,
    ) -> None:
        self.model_id = model_id
        self.name = name or model_id  # keys its slots: a model may have a split pool too
        self.workers = workers
        self.table = table
        self.core = RoutePool(
            table,
            [
                (w.load_slot, lora, weight, loras)
                for w, lora, weight, loras in zip(
                    workers, lora_slots, weights, max_loras, strict=True
                )
            ],
            table.slot(CLOCK_KEY),
            routing.affinity_load_factor,
            routing.policy,
            [table.slot(f"rt/home/{self.name}/{k}") for k in range(routing.prefix_slots)],
            routing.adapter_load_factor,
        )
        self.queue_slot = table.slot(f"rt/queue/{self.name}")
        # Units batch lines hold (of the workers' in-flight): the rest is online load.
        self.batch_slot = table.slot(f"rt/batch/{self.name}")
        # Set when this process frees a unit, so local waiters look again at once.
        self.freed = asyncio.Event()
        self.wake: WakeConfig | None = None  # the main pool's wake hook, if any
        # the routing ledger's `owned` map the core books this process's units in
        # (RoutePool.hold); None: not yet
        self.held_for: dict[tuple[int, int], int] | None = None

    def release(self, worker: Worker) -> None:
        self.core.release(worker.index)
        self.freed.set()

    def health(self, worker: Worker) -> int:
        return self.table.get(worker.load_slot, RoutePool.F_HEALTH)

    def ready(self) -> int:
        return sum(1 for w in self.workers if self.health(w) == RoutePool.HEALTH_UP)


def build_pool(
    table: StateTable,
    m: ModelConfig,
    routing: RoutingConfig,
    headers: dict[str, str] | None = None,
    external: bool = False,
    name: str | None = None,
    configs: list[WorkerConfig] | None = None,
) -> ModelPool:
    name = name or m.id
    workers: list[Worker] = []
    lora_slots: list[int] = []
    weights: list[int] = []
    loras: list[int] = []
    for i, wc in enumerate(worker_configs(m) if configs is None else configs):
        url = wc.url.rstrip("/")
        load = table.slot(slot_key("w", name, url))
        # The cap lives in the table: a reload changes it for every process at once.
        table.set(load, RoutePool.F_MAX_CONCURRENCY, wc.max_concurrency)
        workers.append(
            Worker(url, dict(headers or {}), i, load, wc.max_concurrency, external=external)
        )
        lora_slots.append(table.slot(slot_key("a", name, url)))
        weights.append(wc.weight)
        loras.append(wc.max_loras)
    pool = ModelPool(table, m.id, workers, lora_slots, weights, loras, routing, name)
    if name == m.id:
        pool.wake = m.wake
    return pool


def build_split(table: StateTable, m: ModelConfig, routing: RoutingConfig) -> ModelPool | None:
    if m.split is None or m.split.percent <= 0:
        return None
    configs = [WorkerConfig(w) if isinstance(w, str) else w for w in m.split.workers]
    return build_pool(table, m, routing, name=f"{m.id}/split", configs=configs)


def build_fallback(table: StateTable, m: ModelConfig, routing: RoutingConfig) -> ModelPool | None:
    """The external provider as a one-worker pool: no probes, no /metrics, no cap."""
    fb = m.fallback
    if fb is None:
        return None
    key = fb.api_key or (os.environ.get(fb.api_key_env) if fb.api_key_env else None)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = fb.base_url.rstrip("/").removesuffix("/v1")  # the proxy adds /v1/...
    pool = build_pool(table, m, routing, headers, True, f"{m.id}/fallback", [WorkerConfig(base)])
    for w in pool.workers:
        w.model = fb.model or m.served_name
    return pool
