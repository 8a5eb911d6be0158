"""Upgrading over data written by the previous version (schema 1, spool format 1):
the stores migrate forward on start and every row stays intact and queryable; a
spool left behind still replays. Today's DDL of schema 1 is copied here, frozen."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import orjson
import pytest
from provocapi.usage.event import BEGIN, END, LEGACY_END, PROGRESS, encode, interrupted_row
from provocapi.usage.spool import SpoolWriter
from provocapi.usage.stores import UsageQuery, UsageStore
from provocapi.usage.stores.clickhouse import ClickHouseStore, HttpTransport, Transport
from provocapi.usage.stores.sqlite import SqliteStore

from .clickhouse_server import PASSWORD, USER, ClickHouse
from .conftest import STORE_KINDS, _KeepOpen, chdb_transport
from .events import expected, mixed, row

SQLITE_SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS usage_events (
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
);
CREATE INDEX IF NOT EXISTS usage_by_tenant_day ON usage_events (tenant, day, model);
"""

CLICKHOUSE_SCHEMA_1 = """CREATE TABLE IF NOT EXISTS {db}.usage_events (
    event_id String,
    version UInt8,
    day Date,
    started_ms UInt64,
    request_id String,
    tenant String,
    key_id String,
    model_asked String,
    model String,
    adapter String,
    worker String,
    endpoint String,
    stream UInt8,
    status UInt16,
    outcome String,
    error_code String,
    prompt_tokens UInt32,
    completion_tokens UInt32,
    queue_ms Float64,
    ttft_ms Nullable(Float64),
    latency_ms Float64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY day
ORDER BY (tenant, day, model, event_id)"""

Q = UsageQuery("acme", "2026-11-19", "2026-11-21")


def schema_1_rows() -> list[dict[str, object]]:
    """What the previous version stored: ends at version 2, interrupted begins at 1."""
    return [dict(r, version=LEGACY_END) if r["version"] == END else r for r in mixed(seed=11)]


def _sqlite_schema_1(path: Path, rows: list[dict[str, object]]) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SQLITE_SCHEMA_1)
    cols = list(rows[0])
    conn.executemany(
        f"INSERT INTO usage_events ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        [tuple(r[c] for c in cols) for r in rows],
    )
    conn.commit()
    conn.close()


async def _schema_1_store(
    kind: str, tmp: Path, ch: ClickHouse | None, root: Path, rows: list[dict[str, object]]
) -> UsageStore:
    """The previous version's table with its rows, then the new store opened on it."""
    if kind == "sqlite":
        _sqlite_schema_1(tmp / "usage.db", rows)
        return SqliteStore(tmp / "usage.db")
    db = "mig_" + secrets.token_hex(4)
    t: Transport
    if kind == "clickhouse":
        assert ch is not None
        t = HttpTransport(ch.url, USER, PASSWORD, 30.0)
    else:
        t = _KeepOpen(chdb_transport(root))
    await t.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    await t.execute(CLICKHOUSE_SCHEMA_1.format(db=db))
    body = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    await t.execute(f"INSERT INTO {db}.usage_events FORMAT JSONEachRow", body)
    return ClickHouseStore(t, db)


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_schema_1_store_migrates_with_its_rows_intact(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    ch = request.getfixturevalue("clickhouse") if kind == "clickhouse" else None
    rows = schema_1_rows()
    store = await _schema_1_store(kind, tmp_path, ch, tmp_path_factory.getbasetemp(), rows)
    try:
        await store.setup()  # the migration runs here
        await store.setup()  # and once only
        assert await store.usage(Q) == expected(rows, Q)
        if isinstance(store, SqliteStore):
            db = store._db()
            assert db.execute("PRAGMA user_version").fetchone() == (2,)
            versions = dict(db.execute("SELECT version, count() FROM usage_events GROUP BY 1"))
            assert set(versions) == {BEGIN, END}  # the ends renumbered, the begins kept
        else:
            assert isinstance(store, ClickHouseStore)
            assert await store.schema_version() == 2
        # a replay of the old spool (its ends read as END) counts nothing twice
        ends = [dict(r, version=END) for r in rows if r["version"] == LEGACY_END]
        await store.write(ends[:60])
        assert await store.usage(Q) == expected(rows, Q)
        # new events rank as they should on the migrated table
        begin = row("new_1", version=BEGIN, stream=True, day="2026-11-20")
        cut = interrupted_row(begin, (40, 9, "http://w:1", 3.0, begin["started_ms"] + 500))
        await store.write([cut, begin])
        got = {(r.day, r.model): r for r in await store.usage(Q)}
        before = {(r.day, r.model): r for r in expected(rows, Q)}
        key = ("2026-11-20", "llama-3.1-8b-instruct")
        assert got[key].requests == before[key].requests + 1
        assert got[key].completion_tokens == before[key].completion_tokens + 9
        assert cut["version"] == PROGRESS
    finally:
        await store.close()


async def test_a_spool_of_format_1_still_replays(tmp_path: Path) -> None:
    """A series the previous version left (its process killed): ends at version 2."""
    from provocapi._core import Metrics, StateTable
    from provocapi.config import UsageConfig
    from provocapi.usage.recorder import SpoolRecorder
    from provocapi.usage.telemetry import UsageMetrics

    old = SpoolWriter(tmp_path / "spool", 1 << 20, 1 << 20)
    done = row("old_done", day="2026-11-20", version=LEGACY_END)
    cut = row("old_cut", day="2026-11-20", version=BEGIN)
    for r in (dict(done, version=BEGIN), cut, done):
        old.write(encode(r))
    old.close()
    store = SqliteStore(tmp_path / "u.db")
    metrics = UsageMetrics(Metrics(StateTable(str(tmp_path / "state.bin"))))
    rec = SpoolRecorder(UsageConfig(), tmp_path / "spool", store, metrics)
    await rec.flusher.tick()
    got = dict(store._db().execute("SELECT event_id, version || ' ' || outcome FROM usage_events"))
    assert got == {"old_done": f"{END} completed", "old_cut": f"{BEGIN} interrupted"}
    await rec.close()
