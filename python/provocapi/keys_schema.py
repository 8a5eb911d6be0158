"""The schema of `keys.db`, as numbered migrations (see storage/migrations.py).

Step 1 is the table exactly as the code before versions created it, so a data
directory of that release opens unchanged and is stamped version 1. A change of
schema is a new step appended here; a released step never changes.
"""

from __future__ import annotations

from .storage.migrations import Migrations, Step
from .storage.sqlite_migrations import SqliteApply, ddl

MIGRATIONS: Migrations[SqliteApply] = Migrations(
    "keys",
    (
        Step(
            1,
            "the keys table (hashed secrets)",
            ddl(
                """CREATE TABLE IF NOT EXISTS keys (
    id       TEXT PRIMARY KEY,
    hash     TEXT NOT NULL UNIQUE,
    hint     TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    models   TEXT,
    rpm      INTEGER,
    tpm      INTEGER,
    created  INTEGER NOT NULL,
    revoked  INTEGER
)"""
            ),
        ),
    ),
)
