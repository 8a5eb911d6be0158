"""The ClickHouse runner: the versions applied are rows of a schema table
(`version`, `applied_ms`) in the store's database; the highest is the store's.

ClickHouse has no transactions to serialise two gateways starting at once: both
may apply the same pending steps. So every ClickHouse step is idempotent
(`CREATE ... IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`, rewrites that read the
same when run twice), and a version recorded twice reads the same. The SQL keeps
to what Debian's clickhouse-server 18.16 and chdb both understand.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from .migrations import Migrated, Migrations

Execute = Callable[[str], Awaitable[bytes]]  # runs one statement, returns the body
ClickHouseApply = Callable[[Execute, str], Awaitable[None]]  # (execute, database)


class SchemaUnreadable(Exception):
    """The schema table answered something that is not a version."""


def statements(*make: Callable[[str], str]) -> ClickHouseApply:
    """A step made of statements, each built from the database's name."""

    async def apply(execute: Execute, db: str) -> None:
        for build in make:
            await execute(build(db))

    return apply


async def nothing(execute: Execute, db: str) -> None:
    """A step that only records its version (the data already reads right)."""


def _create_schema_table(db: str, table: str) -> str:
    # MergeTree takes concurrent INSERTs (TinyLog, used before, fails on them)
    return f"""CREATE TABLE IF NOT EXISTS {db}.{table} (
    version UInt32,
    applied_ms UInt64
) ENGINE = MergeTree ORDER BY version"""


async def recorded_version(execute: Execute, db: str, table: str) -> int:
    """0 when nothing was recorded (a new database, or one from before versions)."""
    raw = await execute(f"SELECT max(version) FROM {db}.{table} FORMAT TSV")
    try:
        return int(raw.strip() or b"0")
    except ValueError as exc:
        raise SchemaUnreadable(f"{db}.{table} answered {raw[:200]!r}") from exc


async def migrate(
    execute: Execute, db: str, table: str, migrations: Migrations[ClickHouseApply]
) -> Migrated:
    """Creates the database and its schema table, then applies the pending steps
    in order, recording each; raises `SchemaTooNew` for a newer release's store."""
    await execute(f"CREATE DATABASE IF NOT EXISTS {db}")
    await execute(_create_schema_table(db, table))
    found = await recorded_version(execute, db, table)
    for step in migrations.pending(found, f"{db}.{table}"):
        await step.apply(execute, db)
        applied_ms = int(time.time() * 1000)
        await execute(f"INSERT INTO {db}.{table} VALUES ({int(step.version)}, {applied_ms})")
    return Migrated(found, max(found, migrations.latest))
