"""Routing's metric families, in the core's cross-process registry."""

from __future__ import annotations

from .._core import Metrics

QUEUE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
TOKEN_BUCKETS: list[float] = [16, 64, 256, 1024, 4096, 16384, 65536, 262144]

FAMILIES: list[tuple[str, str, str, list[float] | None]] = [
    (
        "provocapi_queue_seconds",
        "histogram",
        "Time a call waited for a worker, by model.",
        QUEUE_BUCKETS,
    ),
    (
        "provocapi_ttft_seconds",
        "histogram",
        "Time to the first byte of the answer (first token when streaming), by model.",
        TTFT_BUCKETS,
    ),
    (
        "provocapi_prompt_tokens",
        "histogram",
        "Prompt tokens per answered call, by model.",
        TOKEN_BUCKETS,
    ),
    (
        "provocapi_tokens_total",
        "counter",
        "Tokens in (prompt) and out (completion), by model.",
        None,
    ),
    ("provocapi_worker_in_flight", "gauge", "Calls in flight on a worker, all processes.", None),
    (
        "provocapi_worker_up",
        "gauge",
        "Worker health: 1 ready, 0 starting, down or ejected (see provocapi_worker_state).",
        None,
    ),
    (
        "provocapi_worker_state",
        "gauge",
        "Worker health code: 0 up, 1 starting, 2 down, 3 ejected.",
        None,
    ),
    (
        "provocapi_failovers_total",
        "counter",
        "Attempts that failed before the first byte and moved on, by model and reason.",
        None,
    ),
    ("provocapi_ejections_total", "counter", "Workers ejected by passive checks, by model.", None),
    (
        "provocapi_adapter_routes_total",
        "counter",
        "Adapter calls by whether the chosen worker held the adapter (hit) or not (miss).",
        None,
    ),
    (
        "provocapi_queue_rejections_total",
        "counter",
        "Calls refused because the model's queue was full or its wait ran out, by reason.",
        None,
    ),
    ("provocapi_refusals_total", "counter", "429 answers, by model and error code.", None),
    (
        "provocapi_split_routes_total",
        "counter",
        "Calls sent to a model's split (rollout) pool, by model.",
        None,
    ),
    (
        "provocapi_fallbacks_total",
        "counter",
        "Calls sent to a model's fallback provider, by model and the pool's failure.",
        None,
    ),
    (
        "provocapi_wakes_total",
        "counter",
        "Wake hooks triggered for pools with no ready worker.",
        None,
    ),
]


class RoutingMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics
        for name, kind, help_text, buckets in FAMILIES:
            metrics.describe(name, kind, help_text, buckets)
        self._series: dict[tuple[str, ...], int] = {}
        self._answered: dict[str, tuple[int, int, int, int, int]] = {}

    def answered(self, model: str) -> tuple[int, int, int, int, int]:
        """The handles an answered call updates, one lookup per call: queue seconds, TTFT,
        tokens in, prompt tokens (histogram), tokens out."""
        hs = self._answered.get(model)
        if hs is None:
            hs = self._answered[model] = (
                self.h("provocapi_queue_seconds", model=model),
                self.h("provocapi_ttft_seconds", model=model),
                self.h("provocapi_tokens_total", model=model, dir="in"),
                self.h("provocapi_prompt_tokens", model=model),
                self.h("provocapi_tokens_total", model=model, dir="out"),
            )
        return hs

    def h(self, name: str, **labels: str) -> int:
        key = (name, *labels.values())
        got = self._series.get(key)
        if got is None:
            got = self._series[key] = self.m.series(name, labels)
        return got

    def inc(self, name: str, by: int = 1, **labels: str) -> None:
        self.m.inc(self.h(name, **labels), by)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.m.observe(self.h(name, **labels), value)

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.m.gauge_set(self.h(name, **labels), value)
