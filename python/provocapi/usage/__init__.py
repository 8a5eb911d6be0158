"""Usage accounting: every call that reaches admission is recorded.

The gateway calls `begin(call)` before admission decides and `end(call)` when
the answer ended (any status). `SpoolRecorder` makes that durable (spool.py)
and drains it into a store (flusher.py, stores/); `NoUsage` records nothing.
"""

from __future__ import annotations

from pathlib import Path

from .._core import Metrics
from ..config import UsageConfig
from .interface import NoUsage, UsageRecorder
from .recorder import SpoolRecorder
from .stores import UsageStore, open_store
from .telemetry import UsageMetrics

__all__ = ["NoUsage", "SpoolRecorder", "UsageRecorder", "UsageStore", "build"]


def build(cfg: UsageConfig, data_dir: Path, metrics: Metrics) -> SpoolRecorder:
    spool_dir = Path(cfg.spool_dir) if cfg.spool_dir else data_dir / "usage-spool"
    return SpoolRecorder(cfg, spool_dir, open_store(cfg, data_dir), UsageMetrics(metrics))
