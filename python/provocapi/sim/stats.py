"""Counters the tests read at /sim/stats, and the iteration stats /metrics drains."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

TOKENS_PER_BLOCK = 32
MAX_NUM_BLOCKS = 8192
MAX_BATCH = 256
# the fields of the last request /sim/stats shows (`last_sampling`), as they came
SAMPLING = ("temperature", "top_p", "seed", "n", "stop", "frequency_penalty", "presence_penalty")


class SimStats:
    __slots__ = (
        "active_blocks",
        "cancelled",
        "completed",
        "dropped",
        "errors",
        "in_flight",
        "iteration",
        "iterations",
        "last_body",
        "loras",
        "priorities",
        "requests",
        "served",
    )

    def __init__(self) -> None:
        self.requests = 0  # API requests received
        self.served = 0  # answered in full
        self.cancelled = 0  # client went away before the answer ended
        self.dropped = 0  # closed on purpose (faults)
        self.errors = 0  # answered with an error status
        self.in_flight = 0
        self.completed = 0  # since the last /metrics read
        self.active_blocks = 0
        self.iteration = 0
        # One entry per simulated engine iteration, as trtllm keeps them (bounded).
        self.iterations: deque[tuple[float, float, int, int, int, int]] = deque(maxlen=1000)
        # per lora_int_id: the lora_path served and how many requests used it
        self.loras: dict[int, dict[str, Any]] = {}
        # the last generation request's parsed body: tests read what a worker was sent
        self.last_body: dict[str, Any] = {}
        # generation requests per `priority` value sent ("none": the field was absent)
        self.priorities: dict[str, int] = {}

    def lora_served(self, lora_request: dict[str, Any]) -> None:
        """A request ran with this adapter (trtllm-serve's answer says nothing of it)."""
        lid = lora_request.get("lora_int_id")
        if not isinstance(lid, int) or (lid not in self.loras and len(self.loras) >= 10_000):
            return
        entry = self.loras.setdefault(lid, {"lora_path": None, "requests": 0})
        entry["lora_path"] = lora_request.get("lora_path")
        entry["requests"] += 1

    def priority_seen(self, value: Any) -> None:
        name = "none" if value is None else str(value)
        if name in self.priorities or len(self.priorities) < 1000:
            self.priorities[name] = self.priorities.get(name, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        body = self.last_body
        return {
            "last_sampling": {k: body[k] for k in SAMPLING if k in body},
            "loras": {str(k): dict(v) for k, v in self.loras.items()},
            "priorities": dict(self.priorities),
            "requests": self.requests,
            "served": self.served,
            "cancelled": self.cancelled,
            "dropped": self.dropped,
            "errors": self.errors,
            "in_flight": self.in_flight,
        }

    def begin(self, blocks: int) -> None:
        self.in_flight += 1
        self.active_blocks += blocks

    def at_once(self, blocks: int, started: float) -> None:
        """begin(), served += 1 and end() of an answer given at once, in one call."""
        self.served += 1
        self.completed += 1
        self.iteration += 1
        now = time.time()
        self.iterations.append(
            (
                now,
                (now - started) * 1000.0,
                self.in_flight + 1,
                self.completed,
                blocks,
                self.active_blocks + blocks,
            )
        )

    def end(self, blocks: int, started: float) -> None:
        """Record the iteration that finished a request (cheap: a tuple, no dict)."""
        self.in_flight -= 1
        self.active_blocks -= blocks
        self.completed += 1
        self.iteration += 1
        now = time.time()
        self.iterations.append(
            (
                now,
                (now - started) * 1000.0,
                self.in_flight + 1,
                self.completed,
                blocks,
                self.active_blocks + blocks,
            )
        )

    def tick(self) -> None:
        """An iteration that finished nothing: the current state, for /metrics."""
        self.iteration += 1
        used = self.active_blocks
        self.iterations.append((time.time(), 0.0, self.in_flight, self.completed, 0, used))

    def drain_iterations(self, queued: int, max_batch: int = MAX_BATCH) -> list[dict[str, Any]]:
        """The JSON list trtllm-serve's /metrics returns; reading empties it."""
        out = []
        first = self.iteration - len(self.iterations) + 1
        for i, (ts, latency, active, completed, blocks, used) in enumerate(self.iterations):
            out.append(
                {
                    "cpuMemUsage": 0,
                    "gpuMemUsage": 1 << 30,
                    "pinnedMemUsage": 0,
                    "iter": first + i,
                    "iterLatencyMS": latency,
                    "newActiveRequestsQueueLatencyMS": 0.0,
                    "numActiveRequests": active,
                    "numNewActiveRequests": 0,
                    "numQueuedRequests": queued,
                    "numCompletedRequests": completed,
                    "maxNumActiveRequests": max_batch,
                    "maxBatchSizeStatic": max_batch,
                    "maxBatchSizeRuntime": max_batch,
                    "maxNumTokensStatic": 8192,
                    "maxNumTokensRuntime": 8192,
                    "timestamp": time.strftime("%m-%d-%Y %H:%M:%S", time.localtime(ts)),
                    "inflightBatchingStats": {
                        "numScheduledRequests": active,
                        "numContextRequests": 0,
                        "numGenRequests": active,
                        "numPausedRequests": 0,
                        "numCtxTokens": 0,
                        "microBatchId": 0,
                        "avgNumDecodedTokensPerIter": 1.0,
                    },
                    "kvCacheStats": {
                        "maxNumBlocks": MAX_NUM_BLOCKS,
                        "freeNumBlocks": MAX_NUM_BLOCKS - used,
                        "usedNumBlocks": used,
                        "tokensPerBlock": TOKENS_PER_BLOCK,
                        "allocTotalBlocks": used,
                        "allocNewBlocks": blocks,
                        "reusedBlocks": 0,
                        "missedBlocks": blocks,
                        "cacheHitRate": 0.0,
                    },
                }
            )
        self.iterations.clear()
        self.completed = 0
        return out
