"""The flusher process's view of the spool: series still being written by other
processes (live), the switch to dead when their writer dies, and the writer
learning that its spool shrank without being told."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from provocapi._core import Metrics, StateTable
from provocapi.config import UsageConfig
from provocapi.errors import ApiError
from provocapi.usage.event import Row, Values, as_row, begin_row, encode, end_row, new_event_id
from provocapi.usage.flusher import Flusher
from provocapi.usage.reader import SeriesReader
from provocapi.usage.recorder import SpoolRecorder
from provocapi.usage.spool import SpoolWriter, list_series, segment_path
from provocapi.usage.stores import StoreError
from provocapi.usage.stores.sqlite import SqliteStore
from provocapi.usage.telemetry import UsageMetrics

from .calls import call, finish


class ListStore:
    """Keeps every row it is given, duplicates included (the real stores collapse them)."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    async def setup(self) -> None:
        return None

    async def write(self, rows: Sequence[Values]) -> None:
        self.rows.extend(map(as_row, rows))

    async def usage(self, q: object) -> list[object]:
        return []

    async def close(self) -> None:
        return None

    def ids(self, outcome: str | None = None) -> list[str]:
        return [r["event_id"] for r in self.rows if outcome is None or r["outcome"] == outcome]


def metrics(tmp: Path) -> UsageMetrics:
    return UsageMetrics(Metrics(StateTable(str(tmp / "state.bin"))))


def pair() -> tuple[bytes, bytes, str]:
    """A finished call's begin and end lines, and its event id."""
    c = call()
    eid = new_event_id()
    b = begin_row(c, eid)
    return encode(b), encode(end_row(finish(c), b)), eid


def external(tmp: Path, store: object, spool: Path, **kw: int) -> Flusher:
    return Flusher(store, None, metrics(tmp), kw.get("batch", 5000), 0.01,  # type: ignore[arg-type]
                   directory=spool, max_bytes=kw.get("max_bytes", 1 << 30))  # fmt: skip


def test_live_reader_stops_at_a_partial_last_line(tmp_path: Path) -> None:
    w = SpoolWriter(tmp_path, 1 << 20, 1 << 20)
    b, e, eid = pair()
    w.write(b + e)
    w.write(e[:25])  # a line the writer is still in the middle of
    r = SeriesReader(tmp_path, w.token, None, live=True)
    rows = r.read(100)
    assert [row["event_id"] for row in rows] == [eid]
    assert r.at_end and r.bad_lines == 0  # the tail is not torn: it is being written
    assert r.read(100) == [] and r.bad_lines == 0
    b2, e2, eid2 = pair()
    w.write(e[25:] + b2 + e2)  # the line completes (a replay of the same end), one more call
    assert [row["event_id"] for row in r.read(100)] == [eid, eid2]
    assert r.bad_lines == 0
    w.close()


def test_live_open_begins_are_in_flight_not_interrupted(tmp_path: Path) -> None:
    w = SpoolWriter(tmp_path, 1 << 20, 1 << 20)
    c = call()
    w.write(encode(begin_row(c, "ev_open")))
    r = SeriesReader(tmp_path, w.token, None, live=True)
    assert r.read(100) == []
    assert r.at_end
    assert r.interrupted() == []  # its call is still running
    assert "ev_open" in r.open
    assert r.done_segments() == []
    w.close()


async def test_a_live_segment_is_sealed_once_a_later_one_exists(tmp_path: Path) -> None:
    w = SpoolWriter(tmp_path, 1 << 20, 4096)
    r = SeriesReader(tmp_path, w.token, None, live=True)
    first: list[str] = []
    while w._seg_size < 4096:
        b, e, eid = pair()
        w.write(b + e)
        first.append(eid)
    assert [row["event_id"] for row in r.read(10_000)] == first
    assert r.seq == 0 and r.at_end and r.done_segments() == []  # the last segment: open
    # Written after the reader saw its end, then the writer moves on: the reader must
    # still get it, although it already found segment 0 "at its end" once.
    late_b, late_e, late = pair()
    w.write(late_b + late_e)
    await w.sync_once()  # rotates: segment 1 exists, 0 is sealed
    assert w.seq == 1
    b, e, after = pair()
    w.write(b + e + pair()[0])  # one finished call and an open begin in segment 1
    assert [row["event_id"] for row in r.read(10_000)] == [late, after]
    assert r.seq == 1 and r.bad_lines == 0
    assert r.done_segments() == [segment_path(tmp_path, w.token, 0)]  # never the open one
    assert r.remove_done() > 0
    assert list_series(tmp_path)[w.token] == [1]
    w.close()


def test_a_line_written_just_before_the_seal_is_not_skipped(tmp_path: Path) -> None:
    """The race the re-read is for: the reader finds segment 0 at its end, the writer
    then adds a last line and starts segment 1, and only then does the reader look
    for a later segment. Moving straight on would lose that line."""
    b, e, first = pair()
    last_b, last_e, last = pair()
    token = "p1-live"
    seg0 = segment_path(tmp_path, token, 0)
    seg0.write_bytes(b + e)

    class Racing(SeriesReader):
        raced = False

        def _sealed(self, seq: int) -> bool:
            if not self.raced:  # between the reader's read and its look at the listing
                self.raced = True
                with seg0.open("ab") as f:
                    f.write(last_b + last_e)
                segment_path(tmp_path, token, 1).write_bytes(b"")
            return super()._sealed(seq)

    r = Racing(tmp_path, token, None, live=True)
    assert [row["event_id"] for row in r.read(100)] == [first, last]
    assert r.seq == 1 and r.bad_lines == 0


async def test_the_flusher_process_follows_a_live_series_then_its_death(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    w = SpoolWriter(spool, 1 << 20, 1 << 20)  # another process's series: its lock is held
    done_b, done_e, done = pair()
    w.write(done_b + done_e)
    w.write(encode(begin_row(call(stream=True), "ev_cut")))
    store = ListStore()
    f = external(tmp_path, store, spool)
    await f.tick()
    assert store.ids() == [done]  # the finished call; the open begin waits
    assert w.token in f.live and not f.adopted
    await f.tick()
    assert store.ids() == [done]  # nothing read twice while it lives
    w.write(b'{"event_id": "ev_torn", "vers')  # then it dies in the middle of a line
    w.close()  # the lock goes, as it would with the process
    await f.tick()
    assert store.ids("interrupted") == ["ev_cut"]
    assert store.ids() == [done, "ev_cut"]
    assert w.token not in f.live and w.token not in f.adopted
    assert w.token not in list_series(spool)  # replayed whole, then removed
    assert not (spool / f"{w.token}.lock").exists()
    await f.tick()
    assert store.ids() == [done, "ev_cut"]  # exactly once
    f.release()


async def test_a_live_series_whose_owner_dies_before_its_end_was_read(tmp_path: Path) -> None:
    """The switch keeps the reader's place: begins read while live stay open and
    become interrupted once, ends read later still close theirs."""
    spool = tmp_path / "spool"
    w = SpoolWriter(spool, 1 << 20, 1 << 20)
    c1, c2 = call(), call()
    b1, b2 = begin_row(c1, "ev_1"), begin_row(c2, "ev_2")
    w.write(encode(b1) + encode(b2))
    store = ListStore()
    f = external(tmp_path, store, spool)
    await f.tick()
    assert store.ids() == []
    w.write(encode(end_row(finish(c1), b1)))  # ev_1 ends, then the process dies
    w.close()
    await f.tick()
    assert sorted(store.ids()) == ["ev_1", "ev_2"]
    assert store.ids("interrupted") == ["ev_2"]
    assert store.ids("completed") == ["ev_1"]
    f.release()


async def test_sealed_segments_go_only_once_stored(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    w = SpoolWriter(spool, 1 << 20, 4096)
    for _ in range(20):
        b, e, _ = pair()
        w.write(b + e)
    await w.sync_once()  # segment 0 sealed
    b, e, _ = pair()
    w.write(b + e)

    class Down(ListStore):
        async def write(self, rows: Sequence[Values]) -> None:
            raise StoreError("down")

    f = external(tmp_path, Down(), spool)
    with pytest.raises(StoreError, match="down"):
        await f.tick()
    assert list_series(spool)[w.token] == [0, 1]  # not stored: nothing deleted
    f.store = ListStore()
    await f.tick()
    assert list_series(spool)[w.token] == [1]  # sealed and stored: gone; the open one stays
    assert len(f.store.rows) == 21  # type: ignore[attr-defined]
    w.close()


async def test_the_writer_rescans_its_own_bytes(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    w = SpoolWriter(spool, 1 << 20, 4096)
    for _ in range(30):
        b, e, _ = pair()
        w.write(b + e)
        await w.sync_once()
    on_disk = sum(p.stat().st_size for p in spool.glob("*.spool"))
    assert w.own_bytes == on_disk and len(list_series(spool)[w.token]) > 2
    f = external(tmp_path, ListStore(), spool)
    await f.tick()  # another process deletes the sealed segments: no `removed` call here
    left = sum(p.stat().st_size for p in spool.glob("*.spool"))
    assert left < on_disk
    assert w.own_bytes == on_disk  # stale until it looks
    w.rescan_all()
    assert w.own_bytes == left and w.others_bytes == 0
    w.close()


async def test_an_external_recorder_gets_room_back_from_the_rescan(tmp_path: Path) -> None:
    """usage_spool_full (503) works with the flusher elsewhere: the worker's sync loop
    re-reads the spool's size, so it refuses when full and accepts once flushed."""
    spool = tmp_path / "spool"
    cfg = UsageConfig(spool_max_bytes=8192, segment_bytes=4096, fsync_interval_ms=5)
    store = SqliteStore(tmp_path / "u.db")
    rec = SpoolRecorder(cfg, spool, store, metrics(tmp_path), external=True)
    loops = asyncio.create_task(rec.run())
    accepted = 0
    with pytest.raises(ApiError) as err:
        for _ in range(1000):
            c = call()
            rec.begin(c)
            rec.end(finish(c))
            accepted += 1
            await asyncio.sleep(0)
    assert err.value.code == "usage_spool_full"
    await asyncio.sleep(0.05)  # the sync loop seals the full segment
    f = external(tmp_path, store, spool)
    await f.tick()
    deadline = time.monotonic() + 5
    while not rec.writer.has_room() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert rec.writer.has_room()  # learnt within the rescan interval (1 s)
    c = call()
    rec.begin(c)
    rec.end(finish(c))
    loops.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loops
    await rec.close()  # external: no drain of its own
    f.release()
    await f.store.close()


async def test_an_external_recorder_only_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the launcher's flusher process, a worker's recorder never decodes nor
    stores; without the launcher's variable it flushes inline, as before."""
    from provocapi import usage
    from provocapi.usage.recorder import EXTERNAL, FLUSHER_ENV

    cfg = UsageConfig(spool_dir=str(tmp_path / "spool"), flush_interval_ms=10,
                      sqlite_path=str(tmp_path / "u.db"))  # fmt: skip
    m = Metrics(StateTable(str(tmp_path / "state.bin")))
    monkeypatch.delenv(FLUSHER_ENV, raising=False)
    assert not usage.build(cfg, tmp_path, m).external
    monkeypatch.setenv(FLUSHER_ENV, EXTERNAL)
    rec = usage.build(cfg, tmp_path, m)
    assert rec.external

    class Refuses(ListStore):
        async def setup(self) -> None:
            raise AssertionError("a serving process touched the store")

    rec.store = Refuses()
    loops = asyncio.create_task(rec.run())
    for _ in range(5):
        c = call()
        rec.begin(c)
        rec.end(finish(c))
    await asyncio.sleep(0.2)  # twenty flush intervals
    assert not loops.done()
    loops.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loops
    await rec.close()
    assert rec._flusher is None
    assert len(list_series(tmp_path / "spool")) == 1  # still spooled, for the flusher process
