"""The schema of `adapters.db` (next to keys.db), as numbered migrations."""

from __future__ import annotations

from ..storage.migrations import Migrations, Step
from ..storage.sqlite_migrations import SqliteApply, ddl

MIGRATIONS: Migrations[SqliteApply] = Migrations(
    "adapters",
    (
        Step(
            1,
            "the adapters table and the lora_int_id counter",
            ddl(
                """CREATE TABLE IF NOT EXISTS adapters (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    name           TEXT NOT NULL,
    base_model     TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    status         TEXT NOT NULL,
    error          TEXT,
    rank           INTEGER,
    target_modules TEXT,
    bytes          INTEGER NOT NULL DEFAULT 0,
    source         TEXT NOT NULL,
    lora_int_id    INTEGER NOT NULL UNIQUE,
    deleted_at     INTEGER,
    purged         INTEGER NOT NULL DEFAULT 0
)""",
                # one live adapter per name within a tenant; deleted ones keep their row
                "CREATE UNIQUE INDEX IF NOT EXISTS adapters_live_name"
                " ON adapters (tenant, name) WHERE status != 'deleted'",
                "CREATE INDEX IF NOT EXISTS adapters_by_tenant ON adapters (tenant, id)",
                # the last lora_int_id handed out: only ever grows, so never reused
                "CREATE TABLE IF NOT EXISTS lora_ids (one INTEGER PRIMARY KEY CHECK (one = 1),"
                " last INTEGER NOT NULL)",
            ),
        ),
    ),
)
