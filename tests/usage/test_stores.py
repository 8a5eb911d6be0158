"""Every store answers the usage query exactly as the Python reference does:
SQLite, ClickHouse 18.16 over HTTP, and the same ClickHouse SQL on chdb."""

from __future__ import annotations

from pathlib import Path

import pytest
from provocapi.usage.event import BEGIN, interrupted_row
from provocapi.usage.stores import UsageQuery, UsageStore
from provocapi.usage.stores import sqlite as sqlite_store
from provocapi.usage.stores.base import rank

from .clickhouse_server import ClickHouse
from .conftest import STORE_KINDS, make_store
from .events import expected, mixed, row, values_of

QUERIES = [
    UsageQuery("acme", "2026-11-19", "2026-11-21"),
    UsageQuery("acme", "2026-11-20", "2026-11-20"),
    UsageQuery("acme", "2026-11-19", "2026-11-21", "bge-m3"),
    UsageQuery("o'brien\\co", "2026-11-01", "2026-11-30"),
    UsageQuery("acme' OR '1'='1", "2026-11-01", "2026-11-30"),
    UsageQuery("nobody", "2026-11-19", "2026-11-21"),
]


async def test_mixed_events_match_the_reference(store: UsageStore) -> None:
    rows = mixed()
    # in several batches, with duplicates (a replay) and versions out of order
    await store.write(values_of(rows[:150]))
    await store.write(values_of(rows[100:]))
    await store.write(
        values_of([dict(r, version=BEGIN) for r in rows[:50] if r["version"] != BEGIN])
    )
    for q in QUERIES:
        got = await store.usage(q)
        assert got == expected(rows, q), q
    assert await store.usage(QUERIES[0])  # the data is really there


async def test_interrupted_counts_but_has_no_latency(store: UsageStore) -> None:
    await store.write(values_of([row("a", version=BEGIN), row("b", version=BEGIN)]))
    (only,) = await store.usage(UsageQuery("acme", "2026-11-20", "2026-11-20"))
    assert only.requests == 2
    assert only.latency_ms == (None, None, None)
    assert only.ttft_ms == (None, None, None)
    # the end arrives later (replayed after a restart): it wins over the begin
    await store.write(values_of([row("a", latency_ms=42.0)]))
    (only,) = await store.usage(UsageQuery("acme", "2026-11-20", "2026-11-20"))
    assert only.requests == 2
    assert only.latency_ms == (42.0, 42.0, 42.0)
    # and a late begin never undoes an end
    await store.write(values_of([row("a", version=BEGIN)]))
    (again,) = await store.usage(UsageQuery("acme", "2026-11-20", "2026-11-20"))
    assert again == only


async def test_relayed_tokens_of_an_interrupted_stream_rank_between(store: UsageStore) -> None:
    """A bare begin < an interrupted row with its relayed tokens < the end."""
    q = UsageQuery("acme", "2026-11-20", "2026-11-20")
    begin = row("s", version=BEGIN, stream=True)
    cut = interrupted_row(begin, (30, 11, "http://w:1", 5.0, begin["started_ms"] + 900))
    await store.write(values_of([cut]))
    await store.write(values_of([begin]))  # a replay that lost the progress lines: no effect
    (got,) = await store.usage(q)
    assert (got.requests, got.prompt_tokens, got.completion_tokens) == (1, 30, 11)
    assert got.latency_ms == (None, None, None)  # an interrupted call has no latency
    await store.write(values_of([row("s", stream=True, ttft_ms=5.0, prompt=30, completion=80)]))
    await store.write(values_of([cut]))  # and a late progress row never undoes the end
    (got,) = await store.usage(q)
    assert (got.requests, got.prompt_tokens, got.completion_tokens) == (1, 30, 80)


async def test_of_two_ends_of_one_event_the_later_wins(store: UsageStore) -> None:
    """A batch line refused for now (503 with Retry-After) runs again under the same
    event id: the run that answered is written after the refusal and must replace it."""
    q = UsageQuery("acme", "2026-11-20", "2026-11-20")
    await store.write(
        values_of([row("line", status=503, error_code="worker_overloaded", prompt=0, completion=0)])
    )
    await store.write(values_of([row("line", prompt=36, completion=8)]))
    (got,) = await store.usage(q)
    assert (got.requests, got.prompt_tokens, got.completion_tokens) == (1, 36, 8)
    # and in one write, as the flusher sends a slice of the spool
    refused = row("line2", status=503, error_code="worker_overloaded", prompt=0, completion=0)
    await store.write(values_of([refused, row("line2", prompt=30, completion=4)]))
    (got,) = await store.usage(q)
    assert (got.requests, got.prompt_tokens, got.completion_tokens) == (2, 66, 12)


@pytest.mark.parametrize("n", [1, 2, 10, 11, 100, 101])
async def test_nearest_rank_percentiles(store: UsageStore, n: int) -> None:
    values = [float(v) for v in range(1, n + 1)]
    await store.write(
        values_of(
            [
                row(f"p{n}_{i}", latency_ms=v, stream=True, ttft_ms=v / 10)
                for i, v in enumerate(values)
            ]
        )
    )
    (got,) = await store.usage(UsageQuery("acme", "2026-11-20", "2026-11-20"))
    want = tuple(values[rank(p, n) - 1] for p in (50, 90, 99))
    assert got.latency_ms == want
    assert got.ttft_ms == tuple(v / 10 for v in want)
    if n == 10:
        assert want == (5.0, 9.0, 10.0)  # the definition, spelled out


async def test_adapters_fold_into_their_model(store: UsageStore) -> None:
    await store.write(values_of([row("x1"), row("x2", adapter="sql"), row("x3", adapter="sql")]))
    (got,) = await store.usage(UsageQuery("acme", "2026-11-20", "2026-11-20"))
    assert (got.model, got.requests, got.prompt_tokens) == ("llama-3.1-8b-instruct", 3, 30)


async def test_every_store_gives_the_same_answers(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, clickhouse: ClickHouse
) -> None:
    rows = mixed(seed=11, n=300)
    answers = {}
    for kind in STORE_KINDS:
        store = await make_store(kind, tmp_path, clickhouse, tmp_path_factory.getbasetemp())
        try:
            await store.write(values_of(rows))
            await store.write(values_of(rows[::3]))
            answers[kind] = [await store.usage(q) for q in QUERIES]
        finally:
            await store.close()
    assert answers["sqlite"] == answers["clickhouse"] == answers["chdb"]
    assert any(answers["sqlite"])


@pytest.mark.parametrize("per_statement", [1, 2, 7, 100])
async def test_sqlite_rows_many_to_a_statement_upsert_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_statement: int
) -> None:
    """SQLite takes the rows of a write ROWS_PER_STATEMENT to a statement (the rest one by
    one): an event's rows in one statement, or on both sides of a statement's end, upsert
    in the order written, as one statement a row would."""
    monkeypatch.setattr(sqlite_store, "ROWS_PER_STATEMENT", per_statement)
    rows = mixed()
    replayed = [dict(r, version=BEGIN) for r in rows[:50] if r["version"] != BEGIN]
    batch = rows + replayed  # begins after their ends: no effect
    # a refused batch line and its later answer (one event id, one version): the later wins
    for at, eid in ((0, "line1"), (max(per_statement - 1, 0), "line2")):
        refused = row(eid, tenant="batchco", status=503, error_code="worker_overloaded")
        batch[at:at] = [refused, row(eid, tenant="batchco", prompt=36, completion=8)]
    store = sqlite_store.SqliteStore(tmp_path / "usage.db")
    try:
        await store.write(values_of(batch))
        for q in QUERIES:
            assert await store.usage(q) == expected(rows, q), q
        (lines,) = await store.usage(UsageQuery("batchco", "2026-11-20", "2026-11-20"))
        assert (lines.requests, lines.prompt_tokens, lines.completion_tokens) == (2, 72, 16)
    finally:
        await store.close()
