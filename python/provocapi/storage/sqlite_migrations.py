"""The SQLite runner: the version in `PRAGMA user_version`, steps in one
`BEGIN IMMEDIATE` transaction.

The version is read inside the write transaction, so when several processes
open the same file at once (the server's workers, the flusher, the CLI) one of
them migrates and the others wait on the lock, then find the file current.
Version 0 is a file no runner has stamped yet: a new file, or one made before
versions were recorded, which is why a store's step 1 creates its tables
`IF NOT EXISTS`, exactly as the code before versions did.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from .migrations import Migrated, Migrations

SqliteApply = Callable[[sqlite3.Connection], None]


def ddl(*statements: str) -> SqliteApply:
    """A step made of statements run one by one inside the migration's transaction
    (`executescript` would commit it halfway)."""

    def apply(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return apply


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Migrations[SqliteApply], where: str) -> Migrated:
    """Brings the file to `migrations.latest`; a no-op once there. `conn` is in
    autocommit mode (isolation_level=None)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = user_version(conn)
        for step in migrations.pending(found, where):
            step.apply(conn)
        if found < migrations.latest:
            conn.execute(f"PRAGMA user_version = {int(migrations.latest)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return Migrated(found, max(found, migrations.latest))


def _wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL. Several processes creating the same file at once can see
    "database is locked" here at once: SQLite does not call the busy handler for
    every step of a journal-mode change, so the switch is retried until timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def open_db(
    path: Path,
    migrations: Migrations[SqliteApply],
    *,
    timeout_s: float,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """Opens (creating) the file in WAL mode and autocommit, migrated to the latest
    schema; raises `SchemaTooNew` for a file of a newer release."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, timeout=timeout_s, isolation_level=None, check_same_thread=check_same_thread
    )
    try:
        _wal(conn, timeout_s)
        migrate(conn, migrations, str(path))
    except BaseException:
        conn.close()
        raise
    return conn
