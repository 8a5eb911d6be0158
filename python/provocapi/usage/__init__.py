"""Usage accounting: every call that reaches admission is recorded.

The gateway calls `begin(call)` before admission decides and `end(call)` when
the answer ended (any status). `SpoolRecorder` makes that durable (spool.py)
and drains it into a store (flusher.py, stores/), in its own process under
`provocapi serve` (flusher_process.py); `NoUsage` records nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._core import Metrics
from ..config import UsageConfig
from .interface import NoUsage, UsageRecorder
from .recorder import EXTERNAL, FLUSHER_ENV, SpoolRecorder
from .stores import UsageStore, open_store
from .telemetry import UsageMetrics

__all__ = ["NoUsage", "SpoolRecorder", "UsageRecorder", "UsageStore", "build"]


def spool_dir(cfg: UsageConfig, data_dir: Path) -> Path:
    return Path(cfg.spool_dir) if cfg.spool_dir else data_dir / "usage-spool"


def build(cfg: UsageConfig, data_dir: Path, metrics: Metrics) -> SpoolRecorder:
    # Without the launcher's flusher process (the app built alone), flush inline.
    external = os.environ.get(FLUSHER_ENV) == EXTERNAL
    return SpoolRecorder(
        cfg, spool_dir(cfg, data_dir), open_store(cfg, data_dir), UsageMetrics(metrics), external
    )
