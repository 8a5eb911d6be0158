"""The ClickHouse schema and queries, as text: the same SQL runs on the HTTP
server (Debian's 18.16) and on chdb (the current engine), so it keeps to what
both understand: no query parameters, no DateTime64, no LowCardinality.

Duplicates collapse by event_id: ReplacingMergeTree(version) keeps the highest
version, and reads use FINAL so unmerged parts never count twice.

`usage_schema` records the schema versions applied (the highest is the table's).
Schema 2 (progress rows at version 2, ends at 3) rewrites nothing: ClickHouse
refuses to UPDATE the engine's version column, and needs not, since no event has
both an end stored at version 2 under schema 1 and a progress row (event.py).
"""

from __future__ import annotations

from .base import PERCENTILES, UsageQuery

TABLE = "usage_events"
SCHEMA_TABLE = "usage_schema"
SCHEMA_VERSION = 2


def quote(value: str) -> str:
    """A ClickHouse string literal (backslash escapes, as its parser reads them)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def create_database(db: str) -> str:
    return f"CREATE DATABASE IF NOT EXISTS {db}"


def create_table(db: str) -> str:
    # Partitioned by day (old days can be dropped whole); ordered by the query's
    # filter and grouping (tenant, day, model), event_id last to identify duplicates.
    return f"""CREATE TABLE IF NOT EXISTS {db}.{TABLE} (
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


def create_schema_table(db: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {db}.{SCHEMA_TABLE} (
    version UInt32,
    applied_ms UInt64
) ENGINE = TinyLog"""


def schema_version(db: str) -> str:
    # 0 when nothing was recorded (schema 1, or a table created just now)
    return f"SELECT max(version) FROM {db}.{SCHEMA_TABLE} FORMAT TSV"


def record_schema(db: str, version: int, applied_ms: int) -> str:
    return f"INSERT INTO {db}.{SCHEMA_TABLE} VALUES ({int(version)}, {int(applied_ms)})"


def insert(db: str) -> str:
    return f"INSERT INTO {db}.{TABLE} FORMAT JSONEachRow"


COMPLETED = "status >= 200 AND status < 300 AND error_code = ''"


def _pcts(arr: str, name: str) -> str:
    # nearest rank ceil(p*n/100) in integers; an empty set is NULL
    return ", ".join(
        f"if(length({arr}) = 0, NULL, {arr}[intDiv({p} * length({arr}) + 99, 100)]) AS {name}_p{p}"
        for p in PERCENTILES
    )


def usage(db: str, q: UsageQuery) -> str:
    where = (
        f"tenant = {quote(q.tenant)} AND day >= toDate({quote(q.start)}) "
        f"AND day <= toDate({quote(q.end)})"
    )
    if q.model is not None:
        where += f" AND model = {quote(q.model)}"
    return f"""SELECT toString(day), model, requests, pt, ct,
    {_pcts("lat", "lat")},
    {_pcts("tt", "tt")}
FROM (
    SELECT day, model, count() AS requests, sum(prompt_tokens) AS pt,
        sum(completion_tokens) AS ct,
        arraySort(groupArrayIf(latency_ms, {COMPLETED})) AS lat,
        arraySort(groupArrayIf(assumeNotNull(ttft_ms),
            {COMPLETED} AND stream = 1 AND isNotNull(ttft_ms))) AS tt
    FROM {db}.{TABLE} FINAL
    WHERE {where}
    GROUP BY day, model
)
ORDER BY day, model
FORMAT JSONCompact"""
