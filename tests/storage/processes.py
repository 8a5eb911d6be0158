"""One store opened by several processes at once: spawned, released together by
one event, each reporting the schema version its own opening found."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path
from typing import Any

from provocapi.storage.migrations import Migrated, Migrations, Step
from provocapi.storage.sqlite_migrations import SqliteApply, ddl, open_db

# A store of the test's own: step 2 leaves one row per time it ran.
COUNTED: Migrations[SqliteApply] = Migrations(
    "counted",
    (
        Step(1, "the tables", ddl("CREATE TABLE IF NOT EXISTS runs (step INTEGER NOT NULL)")),
        Step(2, "a trace of each run", ddl("INSERT INTO runs VALUES (2)")),
    ),
)


def _open(kind: str, path: str, start: Any, out: Any) -> None:
    import provocapi.storage.sqlite_migrations as runner

    real = runner.migrate
    found: list[int] = []

    def spy(conn: sqlite3.Connection, migrations: Any, where: str) -> Migrated:
        got = real(conn, migrations, where)
        found.append(got.found)
        return got

    runner.migrate = spy  # open_db looks it up when called
    start.wait()
    try:
        if kind == "keys":
            from provocapi.keys import KeyStore

            rows = len(KeyStore(path).list())
        elif kind == "usage":
            from provocapi.usage.stores.sqlite import SqliteStore

            db = SqliteStore(path)._db()
            rows = db.execute("SELECT count(*) FROM usage_events").fetchone()[0]
        else:
            rows = open_db(Path(path), COUNTED, timeout_s=30).execute("SELECT 1").fetchone()[0]
        out.put((found[0], rows))
    except Exception as exc:  # reported to the test, which fails on it
        out.put(repr(exc))


def open_at_once(kind: str, path: Path, procs: int = 4) -> list[tuple[int, int]]:
    """(version found, rows seen) per process, sorted."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    ps = [ctx.Process(target=_open, args=(kind, str(path), start, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    try:
        start.set()
        got = [out.get(timeout=60) for _ in ps]
    finally:
        for p in ps:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert all(isinstance(g, tuple) for g in got), got
    return sorted(got)
