"""Usage accounting: what it adds to one request, and how fast the spool drains.

    .venv/bin/python -m pytest bench/test_usage_bench.py --benchmark-enable
    taskset -c 1 .venv/bin/python -m pytest bench/test_usage_bench.py --benchmark-enable

- `test_accounting_per_call`: `begin` + `end` of one call on the request path (two spool
  lines, no fsync: that is grouped off the loop), in µs per call.
- `test_read_per_row[scan|line_by_line]`: `SeriesReader.read` of FLUSH_EVENTS spooled
  calls in the flusher's slices (READ_SLICE), with the core's scan of plain lines and with
  the line by line Python path it falls back to; `extra_info.us_per_row` (thread CPU).
- `test_write_sqlite_per_row`: `SqliteStore.write` of those rows (values, as the flusher
  hands them over) in `flush_batch` slices, each round into a fresh file;
  `extra_info.cpu_us_per_row` (process CPU, the thread included) beside the wall time,
  which waits on the disk.
- `test_flush_*`: a spool of FLUSH_EVENTS finished calls drained by the flusher into a store
  (ClickHouse 18.16 over HTTP, started here like the tests do; SQLite), in events/s
  (`extra_info.events_per_s`). Each run checks that every event arrived.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from provocapi._core import Metrics, StateTable
from provocapi.config import UsageConfig
from provocapi.usage.flusher import READ_SLICE
from provocapi.usage.interface import NoUsage
from provocapi.usage.reader import SeriesReader
from provocapi.usage.recorder import SpoolRecorder
from provocapi.usage.stores import UsageQuery, UsageStore
from provocapi.usage.stores.clickhouse import ClickHouseStore, HttpTransport
from provocapi.usage.stores.sqlite import SqliteStore
from provocapi.usage.telemetry import UsageMetrics
from usage.calls import call, finish
from usage.clickhouse_server import PASSWORD, USER, ClickHouse

FLUSH_EVENTS = 50_000
Values = Sequence[Any]  # event.Values (not imported: the bench also runs an older checkout)
TODAY = time.strftime("%Y-%m-%d", time.gmtime())


def recorder(root: Path, store: UsageStore, **kw: Any) -> SpoolRecorder:
    root.mkdir(parents=True, exist_ok=True)
    metrics = UsageMetrics(Metrics(StateTable(str(root / "state.bin"))))
    return SpoolRecorder(UsageConfig(**kw), root / "spool", store, metrics)


@pytest.fixture(scope="module")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    server = ClickHouse(tmp_path_factory.mktemp("clickhouse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_no_accounting_per_call(benchmark: Any) -> None:
    """The floor: the same loop with the no-op recorder."""
    rec = NoUsage()
    c = finish(call())

    def one() -> None:
        rec.begin(c)
        rec.end(c)

    benchmark(one)


def test_accounting_per_call(benchmark: Any, tmp_path: Path) -> None:
    rec = recorder(tmp_path, SqliteStore(tmp_path / "u.db"), segment_bytes=1 << 30)
    c = finish(call(stream=True))

    def one() -> None:
        rec.begin(c)
        rec.end(c)

    benchmark(one)
    lines = sum(p.read_bytes().count(b"\n") for p in (tmp_path / "spool").glob("*.spool"))
    assert lines >= 2 and lines % 2 == 0  # a begin and an end per call


def _flush(benchmark: Any, root: Path, make_store: Any) -> None:
    runs = iter(range(1000))

    def setup() -> tuple[tuple[SpoolRecorder, UsageStore], dict[str, Any]]:
        base = root / f"run{next(runs)}"
        store = make_store(base)
        rec = recorder(base, store, flush_batch=10_000)
        for _ in range(FLUSH_EVENTS):
            c = call()
            rec.begin(c)
            rec.end(finish(c))
        asyncio.run(rec.writer.sync_once())
        return (rec, store), {}

    def flush(rec: SpoolRecorder, store: UsageStore) -> None:
        async def go() -> None:
            await rec.flusher.tick()
            (row,) = await store.usage(UsageQuery("acme", TODAY, TODAY))
            assert row.requests == FLUSH_EVENTS
            await store.close()

        asyncio.run(go())

    benchmark.pedantic(flush, setup=setup, rounds=3, iterations=1)
    benchmark.extra_info["events"] = FLUSH_EVENTS
    if benchmark.stats is not None:  # None under --benchmark-disable (one checked run)
        benchmark.extra_info["events_per_s"] = round(FLUSH_EVENTS / benchmark.stats.stats.median)


def test_flush_into_clickhouse(benchmark: Any, tmp_path: Path, clickhouse: ClickHouse) -> None:
    def make(_: Path) -> UsageStore:
        t = HttpTransport(clickhouse.url, USER, PASSWORD, 60.0)
        return ClickHouseStore(t, "bench_" + secrets.token_hex(4))

    _flush(benchmark, tmp_path, make)


def test_flush_into_sqlite(benchmark: Any, tmp_path: Path) -> None:
    _flush(benchmark, tmp_path, lambda base: SqliteStore(base / "u.db"))


def _spooled(root: Path) -> SpoolRecorder:
    rec = recorder(root, SqliteStore(root / "u.db"), flush_batch=10_000)
    for _ in range(FLUSH_EVENTS):
        c = call()
        rec.begin(c)
        rec.end(finish(c))
    asyncio.run(rec.writer.sync_once())
    return rec


def _read_all(rec: SpoolRecorder, scan: bool) -> list[Values]:
    reader = SeriesReader(rec.writer.dir, rec.writer.token, rec.writer)
    if not scan:
        reader._scanner = None
    # as the flusher reads (an older checkout, for a before: dicts, its `read`)
    read = getattr(reader, "read_values", reader.read)
    rows: list[Values] = []
    while True:
        got = read(READ_SLICE)
        rows.extend(got)
        if len(got) < READ_SLICE:
            return rows


@pytest.mark.parametrize("path", ["scan", "line_by_line"])
def test_read_per_row(benchmark: Any, tmp_path: Path, path: str) -> None:
    rec = _spooled(tmp_path)
    times: list[float] = []

    def read() -> None:
        t0 = time.thread_time()
        rows = _read_all(rec, path == "scan")
        times.append(time.thread_time() - t0)
        assert len(rows) == FLUSH_EVENTS

    benchmark.pedantic(read, rounds=5, iterations=1)
    benchmark.extra_info["us_per_row"] = round(
        sorted(times)[len(times) // 2] / FLUSH_EVENTS * 1e6, 3
    )


def test_write_sqlite_per_row(benchmark: Any, tmp_path: Path) -> None:
    rows = _read_all(_spooled(tmp_path), scan=True)
    runs = iter(range(1000))
    cpu: list[float] = []

    def setup() -> tuple[tuple[SqliteStore], dict[str, Any]]:
        store = SqliteStore(tmp_path / f"w{next(runs)}.db")
        asyncio.run(store.setup())
        return (store,), {}

    def write(store: SqliteStore) -> None:
        async def go() -> None:
            for i in range(0, len(rows), 5000):  # UsageConfig.flush_batch's default
                await store.write(rows[i : i + 5000])
            await store.close()

        t0 = time.process_time()
        asyncio.run(go())
        cpu.append(time.process_time() - t0)

    benchmark.pedantic(write, setup=setup, rounds=5, iterations=1)
    benchmark.extra_info["cpu_us_per_row"] = round(sorted(cpu)[len(cpu) // 2] / len(rows) * 1e6, 3)
