"""The embedded store: one SQLite file, for `provocapi serve` without config.

Writes upsert by event_id keeping the higher version, or of equal versions the one
written last (as ClickHouse's ReplacingMergeTree does); the query computes the
nearest-rank percentiles with window functions. Calls run in a thread so the
event loop never waits on the disk.

The schema is sqlite_schema.py's numbered migrations, run forward on open
(storage/sqlite_migrations.py); a file of a newer release is refused.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

from ...storage.migrations import SchemaTooNew
from ...storage.sqlite_migrations import open_db
from ..event import COLUMNS, Values
from .base import PERCENTILES, StoreError, UsageQuery, UsageRow, usage_row
from .sqlite_schema import MIGRATIONS

# Positional parameters (the rows come as values in COLUMNS order): binding by name made
# the sqlite3 module build and look up a key string per column per row (10 → 7 µs a row).
# Rows go ROWS_PER_STATEMENT to a statement: one step and reset of the statement per row
# cost ~1 µs of the ~6 µs a row (bench/results/flusher-rows-2026-12-06.md).
# The rows of one statement are inserted in order, each upsert seeing the rows before
# it, as executemany's would. 22 columns x 100 rows is under SQLite's 32,766 variables.
ROWS_PER_STATEMENT = 100


@functools.lru_cache(maxsize=4)
def _insert(rows: int) -> str:
    one = f"({', '.join('?' for _ in COLUMNS)})"
    return (
        f"INSERT INTO usage_events ({', '.join(COLUMNS)}) "
        f"VALUES {', '.join([one] * rows)} "
        "ON CONFLICT (event_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "event_id")
        # ">=": of two ends of one event, the later is a batch line's run that answered
        # after a refusal it replaces (the same event id, the same version)
        + " WHERE excluded.version >= usage_events.version"
    )


_INSERT = _insert(1)

COMPLETED = "status >= 200 AND status < 300 AND error_code = ''"


def _pct_select(value: str, where: str) -> str:
    picks = ", ".join(
        f"MAX(CASE WHEN rn = ({p} * n + 99) / 100 THEN v END) AS p{p}" for p in PERCENTILES
    )
    return f"""
        SELECT day, model, {picks} FROM (
            SELECT day, model, {value} AS v,
                   ROW_NUMBER() OVER (PARTITION BY day, model ORDER BY {value}) AS rn,
                   COUNT(*) OVER (PARTITION BY day, model) AS n
            FROM ev WHERE {where}
        ) GROUP BY day, model"""


def usage_sql(with_model: bool) -> str:
    model_filter = " AND model = :model" if with_model else ""
    return f"""
    WITH ev AS (
        SELECT * FROM usage_events
        WHERE tenant = :tenant AND day >= :start AND day <= :end{model_filter}
    ),
    totals AS (
        SELECT day, model, COUNT(*) AS requests, SUM(prompt_tokens) AS pt,
               SUM(completion_tokens) AS ct
        FROM ev GROUP BY day, model
    ),
    lat AS ({_pct_select("latency_ms", COMPLETED)}),
    tt AS ({_pct_select("ttft_ms", COMPLETED + " AND stream = 1 AND ttft_ms IS NOT NULL")})
    SELECT t.day, t.model, t.requests, t.pt, t.ct,
           lat.p50, lat.p90, lat.p99, tt.p50, tt.p90, tt.p99
    FROM totals t
    LEFT JOIN lat ON lat.day = t.day AND lat.model = t.model
    LEFT JOIN tt ON tt.day = t.day AND tt.model = t.model
    ORDER BY t.day, t.model
    """


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one connection, used from worker threads in turn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_db(self.path, MIGRATIONS, timeout_s=30, check_same_thread=False)
        return self._conn

    def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        with self._lock:
            try:
                return fn(self._db(), *args)
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite {self.path}: {exc}") from exc
            except SchemaTooNew as exc:  # the spool keeps the events for that release
                raise StoreError(str(exc)) from exc

    async def setup(self) -> None:
        await asyncio.to_thread(self._run, lambda db: None)

    async def write(self, rows: Sequence[Values]) -> None:
        k = ROWS_PER_STATEMENT
        whole = len(rows) - len(rows) % k if k > 1 else 0  # the rows that fill statements
        many = _insert(k) if whole else ""

        def insert(db: sqlite3.Connection) -> None:
            db.execute("BEGIN")
            try:
                for i in range(0, whole, k):
                    db.execute(many, list(chain.from_iterable(rows[i : i + k])))
                db.executemany(_INSERT, rows[whole:])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        await asyncio.to_thread(self._run, insert)

    async def usage(self, q: UsageQuery) -> list[UsageRow]:
        params = {"tenant": q.tenant, "start": q.start, "end": q.end, "model": q.model}

        def select(db: sqlite3.Connection) -> list[tuple]:
            return db.execute(usage_sql(q.model is not None), params).fetchall()

        rows = await asyncio.to_thread(self._run, select)
        return [usage_row(r) for r in rows]

    async def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
