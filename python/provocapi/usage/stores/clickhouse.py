"""ClickHouse over its HTTP interface (the production store).

The SQL lives in clickhouse_sql.py; this module only moves it. `Transport` is
the seam: HTTP here, chdb in the tests (the same SQL on the current engine).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Protocol

import aiohttp
import orjson

from ...storage.clickhouse_migrations import SchemaUnreadable, migrate, recorded_version
from ...storage.migrations import SchemaTooNew
from ..event import Values, as_row
from . import clickhouse_sql as sql
from .base import StoreError, UsageQuery, UsageRow, usage_row
from .clickhouse_schema import MIGRATIONS, SCHEMA_TABLE


class Transport(Protocol):
    async def execute(self, query: str, data: bytes | None = None) -> bytes:
        """Run one statement; `data` is the body of an INSERT ... FORMAT."""
        ...

    async def close(self) -> None: ...


class HttpTransport:
    def __init__(self, url: str, user: str, password: str, timeout_s: float) -> None:
        self.url = url.rstrip("/") + "/"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def execute(self, query: str, data: bytes | None = None) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout, headers=self.headers)
        # an INSERT's statement rides in the URL and its rows in the body
        params = {"query": query} if data is not None else None
        body = data if data is not None else query.encode()
        try:
            async with self._session.post(self.url, params=params, data=body) as resp:
                text = await resp.read()
                if resp.status != 200:
                    raise StoreError(f"clickhouse HTTP {resp.status}: {text[:500]!r}")
                return text
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(f"clickhouse at {self.url}: {exc!r}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ClickHouseStore:
    def __init__(self, transport: Transport, database: str) -> None:
        self.t = transport
        self.db = database

    async def setup(self) -> None:
        """Migrates the database forward (clickhouse_schema.py)."""
        try:
            await migrate(self.t.execute, self.db, SCHEMA_TABLE, MIGRATIONS)
        except SchemaTooNew as exc:  # the spool keeps the events for that release
            raise StoreError(str(exc)) from exc
        except SchemaUnreadable as exc:
            raise StoreError(f"clickhouse answered something unexpected: {exc}") from exc

    async def schema_version(self) -> int:
        try:
            return await recorded_version(self.t.execute, self.db, SCHEMA_TABLE)
        except SchemaUnreadable as exc:
            raise StoreError(f"clickhouse answered something unexpected: {exc}") from exc

    async def write(self, rows: Sequence[Values]) -> None:
        if rows:
            body = b"".join(orjson.dumps(as_row(v)) + b"\n" for v in rows)
            await self.t.execute(sql.insert(self.db), body)

    async def usage(self, q: UsageQuery) -> list[UsageRow]:
        # as the SQLite store: a newer release's schema is not read (its rows may mean
        # something else, and the spool holds what this release could not write)
        found = await self.schema_version()
        if found > MIGRATIONS.latest:
            where = f"{self.db}.{SCHEMA_TABLE}"
            raise StoreError(str(SchemaTooNew("usage", where, found, MIGRATIONS.latest)))
        raw = await self.t.execute(sql.usage(self.db, q))
        try:
            data = orjson.loads(raw)["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise StoreError(f"clickhouse answered something unexpected: {raw[:200]!r}") from exc

        return [usage_row(r) for r in data]

    async def close(self) -> None:
        await self.t.close()
