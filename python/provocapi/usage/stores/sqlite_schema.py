"""The schema of the SQLite usage store (`usage.db`), as numbered migrations
(see storage/migrations.py); the version is the file's `PRAGMA user_version`.

1. the `usage_events` table and its index, as the code before versions made them
   (those files are at version 0: this step finds the table there already);
2. spool format 2: an end is version 3, since 2 now marks an interrupted stream's
   relayed tokens; ends stored at 2 under schema 1 are renumbered (event.py);
3. `batch_id`: the batch a call was a line of ("" for online calls).

A change of schema is a new step appended here; a released step never changes,
which is why they spell their values out instead of importing today's constants.
"""

from __future__ import annotations

from ...storage.migrations import Migrations, Step
from ...storage.sqlite_migrations import SqliteApply, ddl

_EVENTS_1 = """CREATE TABLE IF NOT EXISTS usage_events (
    event_id          TEXT PRIMARY KEY,
    version           INTEGER NOT NULL,
    day               TEXT NOT NULL,
    started_ms        INTEGER NOT NULL,
    request_id        TEXT NOT NULL,
    tenant            TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    model_asked       TEXT NOT NULL,
    model             TEXT NOT NULL,
    adapter           TEXT NOT NULL,
    worker            TEXT NOT NULL,
    endpoint          TEXT NOT NULL,
    stream            INTEGER NOT NULL,
    status            INTEGER NOT NULL,
    outcome           TEXT NOT NULL,
    error_code        TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    queue_ms          REAL NOT NULL,
    ttft_ms           REAL,
    latency_ms        REAL NOT NULL
)"""

_INDEX_1 = "CREATE INDEX IF NOT EXISTS usage_by_tenant_day ON usage_events (tenant, day, model)"

MIGRATIONS: Migrations[SqliteApply] = Migrations(
    "usage",
    (
        Step(1, "usage_events and its (tenant, day, model) index", ddl(_EVENTS_1, _INDEX_1)),
        Step(
            2,
            "ends of spool format 1 (version 2) become 3",
            ddl("UPDATE usage_events SET version = 3 WHERE version = 2"),
        ),
        Step(
            3,
            "batch_id: the batch a call was a line of",
            ddl("ALTER TABLE usage_events ADD COLUMN batch_id TEXT NOT NULL DEFAULT ''"),
        ),
    ),
)
