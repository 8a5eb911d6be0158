"""The recorder, spool and flusher together, on the embedded store and on ClickHouse:
every call that reached admission ends up in the store exactly once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from provocapi._core import Metrics, StateTable
from provocapi.config import UsageConfig
from provocapi.errors import ApiError
from provocapi.usage.event import begin_row, encode, new_event_id
from provocapi.usage.recorder import SpoolRecorder
from provocapi.usage.spool import SpoolWriter, list_series
from provocapi.usage.stores import UsageQuery, UsageStore
from provocapi.usage.stores.clickhouse import ClickHouseStore, HttpTransport
from provocapi.usage.stores.sqlite import SqliteStore
from provocapi.usage.telemetry import UsageMetrics

from .calls import call, finish
from .clickhouse_server import PASSWORD, USER, ClickHouse

TODAY = time.strftime("%Y-%m-%d", time.gmtime())
Q = UsageQuery("acme", TODAY, TODAY)


def metrics(tmp: Path) -> UsageMetrics:
    return UsageMetrics(Metrics(StateTable(str(tmp / "state.bin"))))


def recorder(tmp: Path, store: UsageStore, **kw: object) -> SpoolRecorder:
    cfg = UsageConfig(**kw)  # type: ignore[arg-type]
    return SpoolRecorder(cfg, tmp / "spool", store, metrics(tmp))


def spooled(tmp: Path) -> int:
    return sum(p.stat().st_size for p in (tmp / "spool").glob("*.spool"))


async def test_begin_end_flush(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    rec = recorder(tmp_path, store)
    calls = [call(), call("llama-3.1-8b-instruct:sql-expert", stream=True), call()]
    for c in calls:
        rec.begin(c)
    finish(calls[0])
    finish(calls[1])
    finish(calls[2], status=429, prompt=0, completion=0)
    for c in calls:
        rec.end(c)
    assert spooled(tmp_path) > 0
    await rec.flusher.tick()
    (got,) = await store.usage(Q)
    assert (got.model, got.requests, got.prompt_tokens, got.completion_tokens) == (
        "llama-3.1-8b-instruct", 3, 24, 14,
    )  # fmt: skip
    assert got.ttft_ms[0] == 4.0  # the one stream
    assert got.latency_ms[0] is not None
    await rec.close()


async def test_a_dead_process_is_replayed_with_interrupted_calls(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    dead = SpoolWriter(tmp_path / "spool", 1 << 20, 1 << 20)
    gone, done = call(stream=True), finish(call())
    dead.write(encode(begin_row(gone, "ev_gone")))
    row = begin_row(done, "ev_done")
    dead.write(encode(row))
    from provocapi.usage.event import end_row

    dead.write(encode(end_row(done, row)))
    dead.write(b'{"event_id": "ev_torn", "vers')  # the crash cut this line
    dead.close()  # the lock goes as it would with the process
    rec = recorder(tmp_path, store)
    rec.writer  # noqa: B018 - this process's series exists too
    await rec.flusher.tick()
    (got,) = await store.usage(Q)
    assert got.requests == 2
    assert got.prompt_tokens == 12
    conn = store._db()
    outcomes = dict(conn.execute("SELECT event_id, outcome FROM usage_events").fetchall())
    assert outcomes == {"ev_gone": "interrupted", "ev_done": "completed"}
    assert dead.token not in list_series(tmp_path / "spool")  # replayed, then removed
    assert not (tmp_path / "spool" / f"{dead.token}.lock").exists()
    await rec.close()


async def test_a_live_series_is_left_to_its_owner(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    other = SpoolWriter(tmp_path / "spool", 1 << 20, 1 << 20)  # alive: holds its lock
    other.write(encode(begin_row(call(), new_event_id())))
    rec = recorder(tmp_path, store)
    await rec.flusher.tick()
    assert await store.usage(Q) == []  # an open begin of a live process is in flight
    assert other.token in list_series(tmp_path / "spool")
    other.close()
    await rec.flusher.tick()
    (got,) = await store.usage(Q)
    assert got.requests == 1  # now it is known to be cut off
    await rec.close()


async def test_store_outage_keeps_events_and_retries(
    tmp_path: Path, clickhouse: ClickHouse
) -> None:
    from provocapi.netutil import free_ports

    (dead_port,) = free_ports(1)
    transport = HttpTransport(f"http://127.0.0.1:{dead_port}", USER, PASSWORD, 5.0)
    store = ClickHouseStore(transport, "outage_" + os.urandom(3).hex())
    rec = recorder(tmp_path, store, segment_bytes=4096)
    for _ in range(40):
        c = call()
        rec.begin(c)
        rec.end(finish(c))
    from provocapi.usage.stores import StoreError

    with pytest.raises(StoreError):
        await rec.flusher.tick()
    with pytest.raises(StoreError):
        await rec.flusher.tick()
    assert spooled(tmp_path) > 0  # nothing dropped
    transport.url = clickhouse.url + "/"  # the store is back
    await rec.flusher.tick()
    (got,) = await store.usage(Q)
    assert got.requests == 40
    # a restart replays whatever is still spooled: still 40 after the duplicates collapse
    await rec.writer.sync_once()
    rec.writer.close()
    rec2 = recorder(tmp_path, store)
    await rec2.flusher.tick()
    (got,) = await store.usage(Q)
    assert got.requests == 40
    await rec2.close()


async def test_a_real_clickhouse_outage(tmp_path: Path) -> None:
    """The server itself goes down between flushes and comes back on the same data."""
    from provocapi.usage.stores import StoreError

    server = ClickHouse(tmp_path / "ch")
    server.start()
    try:
        store = ClickHouseStore(HttpTransport(server.url, USER, PASSWORD, 5.0), "outage")
        rec = recorder(tmp_path, store)

        def calls(n: int) -> None:
            for _ in range(n):
                c = call()
                rec.begin(c)
                rec.end(finish(c))

        calls(5)
        await rec.flusher.tick()
        server.stop(kill=True)  # crashed
        calls(7)  # the server is down: these wait in the spool
        for _ in range(2):
            with pytest.raises(StoreError):
                await rec.flusher.tick()
        assert spooled(tmp_path) > 0
        server.start()
        await rec.flusher.tick()
        (got,) = await store.usage(Q)
        assert got.requests == 12
        await rec.close()
    finally:
        server.stop(kill=True)


async def test_full_spool_refuses_new_calls_until_flushed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    rec = recorder(tmp_path, store, spool_max_bytes=8192, segment_bytes=4096)
    accepted = 0
    with pytest.raises(ApiError) as err:
        for _ in range(1000):
            c = call()
            rec.begin(c)
            rec.end(finish(c))
            accepted += 1
    assert err.value.status == 503
    assert err.value.code == "usage_spool_full"
    assert 0 < accepted < 1000
    await rec.writer.sync_once()  # seals the full segment
    await rec.flusher.tick()
    rec.flusher.report()
    (got,) = await store.usage(Q)
    assert got.requests == accepted  # every accepted call is there, none of the refused
    c = call()
    rec.begin(c)  # room again
    rec.end(finish(c))
    await rec.close()


async def test_a_begin_keeps_its_segment_until_its_end(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    rec = recorder(tmp_path, store, segment_bytes=4096)
    long = call(stream=True)
    rec.begin(long)
    for _ in range(30):  # enough to rotate past the first segment
        c = call()
        rec.begin(c)
        rec.end(finish(c))
    await rec.writer.sync_once()
    await rec.flusher.tick()
    token = rec.writer.token
    assert list_series(tmp_path / "spool")[token][0] == 0  # kept: long is in flight
    rec.end(finish(long))
    await rec.writer.sync_once()
    await rec.flusher.tick()
    assert 0 not in list_series(tmp_path / "spool")[token]
    (got,) = await store.usage(Q)
    assert got.requests == 31
    await rec.close()


async def test_a_full_disk_refuses_and_keeps_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC part-way through a write: 503 usage_spool_full, the torn bytes cut off,
    the queued end lines kept for the next try; with room again, nothing is lost."""
    import errno

    store = SqliteStore(tmp_path / "u.db")
    rec = recorder(tmp_path, store)
    done = call()
    rec.begin(done)
    real_write = os.write
    full = True

    def write(fd: int, data: bytes) -> int:
        if full and fd == rec.writer._fd:
            if len(data) > 10:
                return real_write(fd, data[:10])  # a part, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    rec.end(finish(done))  # queued: written with the next begin
    with pytest.raises(ApiError) as err:
        rec.begin(call())
    assert (err.value.status, err.value.code) == (503, "usage_spool_full")
    full = False
    await rec.writer.sync_once()  # room again: the kept end line goes out
    await rec.flusher.tick()
    (got,) = await store.usage(Q)
    assert got.requests == 1  # the accepted call, whole; the refused one not at all
    assert spooled(tmp_path) == rec.writer.own_bytes  # no torn bytes left behind
    await rec.close()
