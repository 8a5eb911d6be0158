"""The metric families the gateway reports, over the core's cross-process registry.

Every Granian worker process maps the same state table, so `/metrics` from any
process shows the sum over all of them. Series handles are cached per process.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._core import Metrics, StateTable

UNRESOLVED = "-"  # the model label of a request no model was resolved for (app.py)
LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

FAMILIES: list[tuple[str, str, str, list[float] | None]] = [
    (
        "provocapi_requests_total",
        "counter",
        "Requests answered, by endpoint, resolved model and HTTP status.",
        None,
    ),
    (
        "provocapi_request_duration_seconds",
        "histogram",
        "Time from request arrival to the end of the answer, by endpoint and model.",
        LATENCY_BUCKETS,
    ),
    (
        "provocapi_upstream_errors_total",
        "counter",
        "Worker failures seen by the gateway, by model and kind.",
        None,
    ),
    (
        "provocapi_stream_chunks_total",
        "counter",
        "Streamed chunks relayed to clients, by model.",
        None,
    ),
    (
        "provocapi_ratelimit_refusals_total",
        "counter",
        "Requests refused with 429 by the rate limits, by level (key, tenant, model) and unit.",
        None,
    ),
    (
        "provocapi_token_estimates_total",
        "counter",
        "Prompts counted with the fallback estimate (no tokenizer for the model), by model.",
        None,
    ),
    (
        "provocapi_ratelimit_redis_fallback_total",
        "counter",
        "Times a replica fell back to its local share of the limits because Redis failed.",
        None,
    ),
]


class Telemetry:
    def __init__(self, table: StateTable) -> None:
        self.table = table
        self.metrics = Metrics(table)
        for name, kind, help_text, buckets in FAMILIES:
            self.metrics.describe(name, kind, help_text, buckets)
        self._series: dict[tuple[str, ...], int] = {}
        # (endpoint, model, status) → (requests_total, request_duration) handles
        self._done: dict[tuple[str, str, int], tuple[int, int]] = {}

    def _handle(self, name: str, labels: tuple[tuple[str, str], ...]) -> int:
        key = (name, *(v for _, v in labels))
        h = self._series.get(key)
        if h is None:
            h = self.metrics.series(name, dict(labels))
            self._series[key] = h
        return h

    def request_done(self, endpoint: str, model: str, status: int, seconds: float) -> None:
        # once per request: one dict lookup for both handles (no label tuples built)
        key = (endpoint, model, status)
        hs = self._done.get(key)
        if hs is None:
            hs = self._done[key] = (
                self._handle(
                    "provocapi_requests_total",
                    (("endpoint", endpoint), ("model", model), ("status", str(status))),
                ),
                self._handle(
                    "provocapi_request_duration_seconds",
                    (("endpoint", endpoint), ("model", model)),
                ),
            )
        self.metrics.count_observe(hs[0], hs[1], seconds)

    def upstream_error(self, model: str, kind: str) -> None:
        self.metrics.inc(
            self._handle("provocapi_upstream_errors_total", (("model", model), ("kind", kind)))
        )

    def chunks(self, model: str, n: int) -> None:
        if n:
            self.metrics.inc(self._handle("provocapi_stream_chunks_total", (("model", model),)), n)

    def admission_refused(self, level: str, unit: str) -> None:
        labels = (("level", level), ("unit", unit))
        self.metrics.inc(self._handle("provocapi_ratelimit_refusals_total", labels))

    def token_estimate(self, model: str) -> None:
        self.metrics.inc(self._handle("provocapi_token_estimates_total", (("model", model),)))

    def redis_fallback(self) -> None:
        self.metrics.inc(self._handle("provocapi_ratelimit_redis_fallback_total", ()))

    def show_only(self, models: Iterable[str], workers: Iterable[str]) -> None:
        """Series of other models and workers (removed by a reload) are no longer
        rendered, as Prometheus expects of a label set that is gone; they come back
        if the config does. `-` is the model of a request that resolved none."""
        self.metrics.show_only("model", [*models, UNRESOLVED])
        self.metrics.show_only("worker", list(workers))

    def render(self) -> str:
        return self.metrics.render()
