"""Fixtures for the usage tests: one real ClickHouse server per session, stores
of every kind (SQLite, ClickHouse over HTTP, chdb in-process) on fresh data."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from provocapi.sim.process import SimHandle
from provocapi.usage.stores import UsageStore
from provocapi.usage.stores.clickhouse import ClickHouseStore, HttpTransport
from provocapi.usage.stores.sqlite import SqliteStore

from .clickhouse_server import PASSWORD, USER, ClickHouse
from .gateway_stack import start_fleet


@pytest.fixture(scope="session")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    server = ClickHouse(tmp_path_factory.mktemp("clickhouse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sims() -> Iterator[SimHandle]:
    """The simulated fleet the gateway tests route to, one per test module."""
    handle = start_fleet()
    try:
        yield handle
    finally:
        handle.stop()


class ChdbTransport:
    """The ClickHouse store's SQL on chdb: the current ClickHouse engine, in-process."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        self.session = session.Session(str(path))

    async def execute(self, query: str, data: bytes | None = None) -> bytes:
        text = query if data is None else query + "\n" + data.decode()
        return await asyncio.to_thread(lambda: self.session.query(text, "TSV").bytes())

    async def close(self) -> None:
        self.session.close()


_chdb_transport: ChdbTransport | None = None  # chdb allows one session per process


def chdb_transport(root: Path) -> ChdbTransport:
    global _chdb_transport
    if _chdb_transport is None:
        _chdb_transport = ChdbTransport(root / "chdb")
    return _chdb_transport


class _KeepOpen:
    """Shares the one chdb session between stores without closing it."""

    def __init__(self, inner: ChdbTransport) -> None:
        self.inner = inner

    async def execute(self, query: str, data: bytes | None = None) -> bytes:
        return await self.inner.execute(query, data)

    async def close(self) -> None:
        return None


STORE_KINDS = ["sqlite", "clickhouse", "chdb"]


async def make_store(
    kind: str, tmp_path: Path, clickhouse: ClickHouse | None, root: Path
) -> UsageStore:
    db = "t_" + secrets.token_hex(4)  # a fresh database per test
    if kind == "sqlite":
        store: UsageStore = SqliteStore(tmp_path / "usage.db")
    elif kind == "clickhouse":
        assert clickhouse is not None
        store = ClickHouseStore(HttpTransport(clickhouse.url, USER, PASSWORD, 30.0), db)
    else:
        store = ClickHouseStore(_KeepOpen(chdb_transport(root)), db)
    await store.setup()
    return store


@pytest.fixture(params=STORE_KINDS)
async def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[UsageStore]:
    ch = request.getfixturevalue("clickhouse") if request.param == "clickhouse" else None
    s = await make_store(request.param, tmp_path, ch, tmp_path_factory.getbasetemp())
    try:
        yield s
    finally:
        await s.close()
