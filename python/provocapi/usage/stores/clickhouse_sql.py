"""The ClickHouse schema and queries, as text: the same SQL runs on the HTTP
server (Debian's 18.16) and on chdb (the current engine), so it keeps to what
both understand: no query parameters, no DateTime64, no LowCardinality.

Duplicates collapse by event_id: ReplacingMergeTree(version) keeps the highest
version (of equal versions the row inserted last, as the SQLite store does), and
reads use FINAL so unmerged parts never count twice.

The schema itself is clickhouse_schema.py's numbered migrations.
"""

from __future__ import annotations

from .base import PERCENTILES, UsageQuery

TABLE = "usage_events"


def quote(value: str) -> str:
    """A ClickHouse string literal (backslash escapes, as its parser reads them)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
