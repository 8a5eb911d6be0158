"""The schema of the ClickHouse usage store, as numbered migrations (see
storage/migrations.py), recorded in its `usage_schema` table. ClickHouse steps
must be idempotent (storage/clickhouse_migrations.py says why).

1. the `usage_events` table, as the code before versions made it. Partitioned by
   day (old days can be dropped whole); ordered by the query's filter and
   grouping (tenant, day, model), event_id last to identify duplicates;
2. spool format 2 (progress rows at version 2, ends at 3) rewrites nothing:
   ClickHouse refuses to UPDATE the engine's version column, and needs not,
   since no event has both an end stored at version 2 under schema 1 and a
   progress row (event.py). The step only records the version.

A change of schema is a new step appended here; a released step never changes.
"""

from __future__ import annotations

from ...storage.clickhouse_migrations import ClickHouseApply, Execute, nothing, statements
from ...storage.migrations import Migrations, Step

SCHEMA_TABLE = "usage_schema"


def _events_1(db: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {db}.usage_events (
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


async def _has_column(execute: Execute, db: str, name: str) -> bool:
    raw = await execute(
        f"SELECT count() FROM system.columns WHERE database = '{db}' "
        f"AND table = 'usage_events' AND name = '{name}' FORMAT TSV"
    )
    return raw.strip() not in (b"", b"0")


async def _batch_id_3(execute: Execute, db: str) -> None:
    # 18.16 has no ADD COLUMN IF NOT EXISTS: look first, and a gateway migrating at
    # the same moment that added it first is not an error
    if await _has_column(execute, db, "batch_id"):
        return
    try:
        await execute(f"ALTER TABLE {db}.usage_events ADD COLUMN batch_id String DEFAULT ''")
    except Exception:
        if not await _has_column(execute, db, "batch_id"):
            raise


MIGRATIONS: Migrations[ClickHouseApply] = Migrations(
    "usage",
    (
        Step(1, "usage_events (ReplacingMergeTree by version)", statements(_events_1)),
        Step(2, "spool format 2: nothing to rewrite", nothing),
        Step(3, "batch_id: the batch a call was a line of", _batch_id_3),
    ),
)
