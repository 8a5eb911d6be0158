"""Usage stores behind one interface, chosen by `[usage].store`."""

from __future__ import annotations

from pathlib import Path

from ...config import UsageConfig
from .base import StoreError, UsageQuery, UsageRow, UsageStore
from .clickhouse import ClickHouseStore, HttpTransport
from .sqlite import SqliteStore

__all__ = ["StoreError", "UsageQuery", "UsageRow", "UsageStore", "open_store"]


def open_store(cfg: UsageConfig, data_dir: Path) -> UsageStore:
    if cfg.store == "clickhouse":
        transport = HttpTransport(
            cfg.clickhouse_url, cfg.clickhouse_user, cfg.clickhouse_password,
            cfg.clickhouse_timeout_s,
        )  # fmt: skip
        return ClickHouseStore(transport, cfg.clickhouse_database)
    return SqliteStore(cfg.sqlite_path or data_dir / "usage.db")
