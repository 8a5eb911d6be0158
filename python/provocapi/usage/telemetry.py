"""The usage metrics, over the gateway's cross-process registry."""

from __future__ import annotations

from .._core import Metrics

FAMILIES: list[tuple[str, str, str]] = [
    ("provocapi_usage_spool_bytes", "gauge", "Bytes in the usage spool (all processes)."),
    ("provocapi_usage_spool_limit_bytes", "gauge", "The spool's bound ([usage].spool_max_bytes)."),
    (
        "provocapi_usage_spool_fill_ratio",
        "gauge",
        "Spool bytes over its bound; at 1 new requests get 503 usage_spool_full.",
    ),
    (
        "provocapi_usage_flush_lag_seconds",
        "gauge",
        "Seconds since a flusher last had every spooled event in the store (0: caught up).",
    ),
    ("provocapi_usage_events_flushed_total", "counter", "Usage events written to the store."),
    ("provocapi_usage_store_errors_total", "counter", "Failed store writes or set-ups."),
    (
        "provocapi_usage_rejected_total",
        "counter",
        "Requests refused with 503 because the usage record could not be kept.",
    ),
    ("provocapi_usage_spool_write_errors_total", "counter", "Spool writes that failed (disk)."),
]


class UsageMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics
        for name, kind, help_text in FAMILIES:
            metrics.describe(name, kind, help_text)
        self.h = {name: metrics.series(name) for name, _, _ in FAMILIES}

    def spool(self, used: int, limit: int, lag_s: float) -> None:
        self.m.gauge_set(self.h["provocapi_usage_spool_bytes"], float(used))
        self.m.gauge_set(self.h["provocapi_usage_spool_limit_bytes"], float(limit))
        self.m.gauge_set(self.h["provocapi_usage_spool_fill_ratio"], used / limit)
        self.m.gauge_set(self.h["provocapi_usage_flush_lag_seconds"], round(lag_s, 3))

    def flushed(self, n: int) -> None:
        self.m.inc(self.h["provocapi_usage_events_flushed_total"], n)

    def store_error(self) -> None:
        self.m.inc(self.h["provocapi_usage_store_errors_total"])

    def rejected(self) -> None:
        self.m.inc(self.h["provocapi_usage_rejected_total"])

    def write_error(self) -> None:
        self.m.inc(self.h["provocapi_usage_spool_write_errors_total"])
