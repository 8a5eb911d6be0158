"""The schema of `batch.db`, as numbered migrations (see storage/migrations.py)."""

from __future__ import annotations

from ..storage.migrations import Migrations, Step
from ..storage.sqlite_migrations import SqliteApply, ddl

MIGRATIONS: Migrations[SqliteApply] = Migrations(
    "batch",
    (
        Step(
            1,
            "files, batches and each batch line's outcome",
            ddl(
                """CREATE TABLE IF NOT EXISTS files (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    filename    TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
)""",
                "CREATE INDEX IF NOT EXISTS files_by_tenant ON files (tenant, created_at, id)",
                """CREATE TABLE IF NOT EXISTS batches (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    input_file_id  TEXT NOT NULL,
    window         TEXT NOT NULL,
    status         TEXT NOT NULL,
    metadata       TEXT,
    errors         TEXT,
    total          INTEGER NOT NULL DEFAULT 0,
    completed      INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    output_file_id TEXT,
    error_file_id  TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    in_progress_at INTEGER,
    finalizing_at  INTEGER,
    completed_at   INTEGER,
    failed_at      INTEGER,
    expired_at     INTEGER,
    cancelling_at  INTEGER,
    cancelled_at   INTEGER,
    lease_owner    TEXT,
    lease_until    REAL
)""",
                "CREATE INDEX IF NOT EXISTS batches_by_tenant ON batches (tenant, created_at, id)",
                "CREATE INDEX IF NOT EXISTS batches_by_status ON batches (status, created_at)",
                # one row per answered line: a re-run after a crash skips these
                """CREATE TABLE IF NOT EXISTS lines (
    batch_id  TEXT NOT NULL,
    line      INTEGER NOT NULL,
    ok        INTEGER NOT NULL,
    outcome   BLOB NOT NULL,
    PRIMARY KEY (batch_id, line)
)""",
            ),
        ),
        Step(
            2,
            "a batch's model, token usage (NULL: a batch from before) and output expiry",
            ddl(
                "ALTER TABLE batches ADD COLUMN model TEXT",
                "ALTER TABLE batches ADD COLUMN input_tokens INTEGER",
                "ALTER TABLE batches ADD COLUMN cached_tokens INTEGER",
                "ALTER TABLE batches ADD COLUMN output_tokens INTEGER",
                "ALTER TABLE batches ADD COLUMN reasoning_tokens INTEGER",
                "ALTER TABLE batches ADD COLUMN output_expiry_s INTEGER",
            ),
        ),
    ),
)
