"""Upgrading over data written by the previous version (schema 1, spool format 1):
the stores migrate forward on start and every row stays intact and queryable; a
spool left behind still replays. Today's DDL of schema 1 is copied here, frozen."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from pathlib import Path

import orjson
import pytest
from provocapi.storage.clickhouse_migrations import ClickHouseApply, migrate, statements
from provocapi.storage.migrations import Migrated, Migrations, Step
from provocapi.usage.event import BEGIN, END, LEGACY_END, PROGRESS, encode, interrupted_row
from provocapi.usage.spool import SpoolWriter
from provocapi.usage.stores import StoreError, UsageQuery, UsageStore
from provocapi.usage.stores.clickhouse import ClickHouseStore, HttpTransport, Transport
from provocapi.usage.stores.clickhouse_schema import MIGRATIONS, SCHEMA_TABLE
from provocapi.usage.stores.sqlite import SqliteStore
from storage.processes import open_at_once

from .clickhouse_server import PASSWORD, USER, ClickHouse
from .conftest import STORE_KINDS, _KeepOpen, chdb_transport, make_store
from .events import expected, mixed, row, values_of

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
            assert db.execute("PRAGMA user_version").fetchone() == (3,)
            # step 3: old rows were no batch's lines
            assert db.execute("SELECT DISTINCT batch_id FROM usage_events").fetchall() == [("",)]
            versions = dict(db.execute("SELECT version, count() FROM usage_events GROUP BY 1"))
            assert set(versions) == {BEGIN, END}  # the ends renumbered, the begins kept
        else:
            assert isinstance(store, ClickHouseStore)
            assert await store.schema_version() == 3
        # a replay of the old spool (its ends read as END) counts nothing twice
        ends = [dict(r, version=END) for r in rows if r["version"] == LEGACY_END]
        await store.write(values_of(ends[:60]))
        assert await store.usage(Q) == expected(rows, Q)
        # new events rank as they should on the migrated table
        begin = row("new_1", version=BEGIN, stream=True, day="2026-11-20")
        cut = interrupted_row(begin, (40, 9, "http://w:1", 3.0, begin["started_ms"] + 500))
        await store.write(values_of([cut, begin]))
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


def test_processes_opening_a_schema_1_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    rows = schema_1_rows()
    _sqlite_schema_1(tmp_path / "usage.db", rows)
    got = open_at_once("usage", tmp_path / "usage.db")
    assert got == [(0, len(rows)), (3, len(rows)), (3, len(rows)), (3, len(rows))]
    conn = sqlite3.connect(tmp_path / "usage.db")
    versions = dict(conn.execute("SELECT version, count(*) FROM usage_events GROUP BY 1"))
    assert versions == {
        BEGIN: sum(r["version"] == BEGIN for r in rows),
        END: sum(r["version"] == LEGACY_END for r in rows),
    }


def _same_database(
    kind: str, store: ClickHouseStore, ch: ClickHouse | None, root: Path
) -> ClickHouseStore:
    """Another store on the same database, as a second gateway would open it."""
    if kind == "clickhouse":
        assert ch is not None
        return ClickHouseStore(HttpTransport(ch.url, USER, PASSWORD, 30.0), store.db)
    return ClickHouseStore(_KeepOpen(chdb_transport(root)), store.db)


async def _schema_table(store: ClickHouseStore) -> list[int]:
    raw = await store.t.execute(f"SELECT version FROM {store.db}.usage_schema FORMAT TSV")
    return sorted(int(v) for v in raw.split())


@pytest.mark.parametrize("kind", ["clickhouse", "chdb"])
async def test_clickhouse_stores_starting_at_once_on_a_schema_1_table(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    """No transactions in ClickHouse: both may apply the steps, which are idempotent."""
    ch = request.getfixturevalue("clickhouse") if kind == "clickhouse" else None
    root = tmp_path_factory.getbasetemp()
    rows = schema_1_rows()
    a = await _schema_1_store(kind, tmp_path, ch, root, rows)
    assert isinstance(a, ClickHouseStore)
    b = _same_database(kind, a, ch, root)
    try:
        await asyncio.gather(a.setup(), b.setup())
        assert await a.schema_version() == await b.schema_version() == 3
        assert set(await _schema_table(a)) == {1, 2, 3}
        assert await a.usage(Q) == await b.usage(Q) == expected(rows, Q)
        recorded = await _schema_table(a)
        await b.setup()  # opening again: nothing applied, nothing recorded
        assert await _schema_table(a) == recorded
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("kind", ["clickhouse", "chdb"])
async def test_a_later_clickhouse_step_is_applied_once_and_recorded(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    """A step 4 defined here, as the next change of the usage table would add one."""
    ch = request.getfixturevalue("clickhouse") if kind == "clickhouse" else None
    rows = schema_1_rows()
    store = await _schema_1_store(kind, tmp_path, ch, tmp_path_factory.getbasetemp(), rows)
    assert isinstance(store, ClickHouseStore)
    step_4: Step[ClickHouseApply] = Step(4, "a side table", statements(
        lambda db: f"CREATE TABLE IF NOT EXISTS {db}.side (x UInt8) ENGINE = TinyLog",
        lambda db: f"INSERT INTO {db}.side VALUES (4)",
    ))  # fmt: skip
    later = Migrations("usage", (*MIGRATIONS.steps, step_4))
    try:
        assert await migrate(store.t.execute, store.db, SCHEMA_TABLE, later) == Migrated(0, 4)
        assert await migrate(store.t.execute, store.db, SCHEMA_TABLE, later) == Migrated(4, 4)
        assert await _schema_table(store) == [1, 2, 3, 4]
        assert await store.t.execute(f"SELECT x FROM {store.db}.side FORMAT TSV") == b"4\n"
        count = f"SELECT count() FROM (SELECT * FROM {store.db}.usage_events FINAL) FORMAT TSV"
        assert await store.t.execute(count) == b"%d\n" % len(rows)  # the step kept them
        with pytest.raises(StoreError, match="schema version 4"):
            await store.usage(Q)  # this release knows 3: it does not read version 4
        with pytest.raises(
            StoreError, match="schema version 4, but this provocapi knows versions up to 3"
        ):
            await store.setup()  # this release knows 3
        assert await _schema_table(store) == [1, 2, 3, 4]
    finally:
        await store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_store_of_a_newer_release_is_refused_with_a_clear_error(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    ch = request.getfixturevalue("clickhouse") if kind == "clickhouse" else None
    root = tmp_path_factory.getbasetemp()
    made = await make_store(kind, tmp_path, ch, root)
    await made.write(values_of(mixed(seed=5)[:20]))
    if isinstance(made, SqliteStore):
        made._db().execute("PRAGMA user_version = 5")
        again: UsageStore = SqliteStore(made.path)
    else:
        assert isinstance(made, ClickHouseStore)
        await made.t.execute(f"INSERT INTO {made.db}.usage_schema VALUES (5, 0)")
        again = _same_database(kind, made, ch, root)
    await made.close()
    try:
        with pytest.raises(StoreError) as err:
            await again.setup()
        text = str(err.value)
        assert "usage store at" in text and "schema version 5" in text and "up to 3" in text
        assert "never migrate backwards" in text
        if isinstance(again, SqliteStore):  # nor written to: the spool keeps the events
            with pytest.raises(StoreError, match="schema version 5"):
                await again.write(values_of(mixed(seed=6)[:1]))
        with pytest.raises(StoreError, match="schema version 5"):
            await again.usage(Q)  # nor read, by either store: GET /v1/usage answers 503
    finally:
        await again.close()


CLICKHOUSE_SCHEMA_TABLE_2 = """CREATE TABLE IF NOT EXISTS {db}.usage_schema (
    version UInt32,
    applied_ms UInt64
) ENGINE = TinyLog"""


@pytest.mark.parametrize("kind", STORE_KINDS)
async def test_a_schema_2_store_from_before_numbered_steps_opens_as_it_is(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    """Schema 2 as the release before numbered steps stamped it (user_version 2; a
    TinyLog usage_schema holding 2): steps 1 and 2 are not run again, only step 3."""
    ch = request.getfixturevalue("clickhouse") if kind == "clickhouse" else None
    rows = mixed(seed=13)  # ends at version 3 already
    store = await _schema_1_store(kind, tmp_path, ch, tmp_path_factory.getbasetemp(), rows)
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
        conn.close()
    else:
        assert isinstance(store, ClickHouseStore)
        await store.t.execute(CLICKHOUSE_SCHEMA_TABLE_2.format(db=store.db))
        await store.t.execute(f"INSERT INTO {store.db}.usage_schema VALUES (2, 1764000000000)")
    try:
        await store.setup()
        await store.setup()
        assert await store.usage(Q) == expected(rows, Q)
        if isinstance(store, SqliteStore):
            db = store._db()
            assert db.execute("PRAGMA user_version").fetchone() == (3,)
            assert dict(db.execute("SELECT version, count(*) FROM usage_events GROUP BY 1")) == {
                v: sum(r["version"] == v for r in rows) for v in {r["version"] for r in rows}
            }
        else:
            assert isinstance(store, ClickHouseStore)
            assert await _schema_table(store) == [2, 3]
    finally:
        await store.close()
