"""The embedded stores: files streamed in and out, leases, per-line outcomes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from provocapi.batch import local
from provocapi.batch.local import LocalFileStore, SqliteBatchStore, connect
from provocapi.batch.objects import batch_object
from provocapi.batch.records import BatchRecord, LineTokens
from provocapi.batch.runner import _file
from provocapi.batch.schema import MIGRATIONS
from provocapi.batch.service import Stores
from provocapi.storage.migrations import Migrations
from provocapi.storage.sqlite_migrations import open_db, user_version


def _batch(batch_id: str, tenant: str = "t", status: str = "validating") -> BatchRecord:
    now = int(time.time())
    return BatchRecord(
        batch_id, tenant, "key_1", "/v1/chat/completions", "file-x", "24h", status, None,
        None, 0, 0, 0, None, None, now, now + 60, None, None, None, None, None, None, None,
    )  # fmt: skip


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def test_files_stream_in_and_out_and_expire(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    assert user_version(conn) == MIGRATIONS.latest == 2
    files = LocalFileStore(tmp_path, conn, expiry_s=0)
    part = asyncio.run(files.receive(_chunks(b'{"a":1}\n', b'{"b":2}\n')))
    assert files.get("t", part.file_id) is None  # received is not yet stored
    rec = files.commit(part, "t", "batch", "in.jsonl")
    assert rec.bytes == 16 and rec.id.startswith("file-")
    assert b"".join(files.chunks(rec.id)) == b'{"a":1}\n{"b":2}\n'
    assert list(files.lines(rec.id)) == [b'{"a":1}\n', b'{"b":2}\n']
    assert files.get("other", rec.id) is None  # tenants never see each other's
    assert files.used_bytes("t") == 16 and files.used_bytes("other") == 0
    assert [r.id for r in files.expired(int(time.time()) + 1)] == [rec.id]
    assert not files.delete("other", rec.id) and files.delete("t", rec.id)
    assert not (tmp_path / "files" / rec.id).exists()


def test_file_pages_follow_the_cursor(tmp_path: Path) -> None:
    files = LocalFileStore(tmp_path, connect(tmp_path), expiry_s=60)
    made = [files.write("t", "batch", f"{i}.jsonl", [b"x"]).id for i in range(5)]
    seen: list[str] = []
    after = None
    while page := files.page("t", "batch", after, 2, "asc", time.time()):
        seen += [r.id for r in page]
        after = page[-1].id
    assert sorted(seen) == sorted(made) and len(seen) == 5


def test_lists_made_within_one_second_keep_the_order_of_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are random: ordering ties by id listed a second's files and batches in a
    random order, so `batches.list(limit=1)` was not the newest batch."""
    monkeypatch.setattr(local.time, "time", lambda: 1_800_000_000.0)
    conn = connect(tmp_path)
    files = LocalFileStore(tmp_path, conn, expiry_s=60)
    made = [files.write("t", "batch", f"{i}.jsonl", [b"x"]).id for i in range(8)]
    now = 1_800_000_001.0
    assert [r.id for r in files.page("t", None, None, 10, "asc", now)] == made
    assert [r.id for r in files.page("t", None, None, 10, "desc", now)] == made[::-1]
    # and a cursor inside the second goes on from there
    assert [r.id for r in files.page("t", None, made[3], 2, "asc", now)] == made[4:6]
    assert [r.id for r in files.page("t", None, made[3], 2, "desc", now)] == made[2:0:-1]
    batches = SqliteBatchStore(conn)
    ids = [f"batch_{n:02d}" for n in (7, 3, 9, 1, 5)]  # not in the order of their ids
    for batch_id in ids:
        batches.create(_batch(batch_id))
    assert [r.id for r in batches.page("t", None, 10)] == ids[::-1]
    assert [r.id for r in batches.page("t", ids[3], 2)] == [ids[2], ids[1]]


def test_a_page_skips_expired_files_before_its_limit(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    lasting = LocalFileStore(tmp_path, conn, expiry_s=3600)
    brief = LocalFileStore(tmp_path, conn, expiry_s=60)  # expired ten minutes from now
    kept = []
    for i in range(3):  # every other file has expired by `later`
        kept.append(lasting.write("t", "batch", f"{i}.jsonl", [b"x"]).id)
        brief.write("t", "batch", f"gone-{i}.jsonl", [b"x"])
    later = time.time() + 600
    page = lasting.page("t", "batch", None, 2, "asc", later)
    # full (not two rows less the expired), and the cursor goes on to the third
    assert len(page) == 2 and {r.id for r in page} < set(kept)
    rest = lasting.page("t", "batch", page[-1].id, 2, "asc", later)
    assert {r.id for r in page + rest} == set(kept) and len(rest) == 1


def test_a_lease_is_taken_over_only_once_it_runs_out(tmp_path: Path) -> None:
    store = SqliteBatchStore(connect(tmp_path))
    store.create(_batch("batch_a"))
    got = store.claim("runner-1", lease_s=0.3)
    assert got is not None and got.id == "batch_a"
    assert store.claim("runner-2", lease_s=0.3) is None  # held
    assert store.renew("batch_a", "runner-1", 0.3)
    time.sleep(0.4)  # runner-1 died: nobody renewed
    taken = store.claim("runner-2", lease_s=5)
    assert taken is not None and taken.id == "batch_a"
    assert not store.renew("batch_a", "runner-1", 5)  # the old holder learns it lost it
    assert store.set_status("batch_a", "completed", 1, ("validating",))
    store.release("batch_a", "runner-2")
    assert store.claim("runner-3", lease_s=5) is None  # final: nothing to run


def test_a_line_is_answered_once(tmp_path: Path) -> None:
    store = SqliteBatchStore(connect(tmp_path))
    store.create(_batch("batch_b"))
    assert store.record_line("batch_b", 2, True, b"two")
    assert store.record_line("batch_b", 1, False, b"one")
    assert not store.record_line("batch_b", 2, False, b"again")  # a re-run after a crash
    assert store.answered("batch_b") == {1, 2}
    assert list(store.outcomes("batch_b", True)) == [b"two"]
    assert list(store.outcomes("batch_b", False)) == [b"one"]
    rec = store.get("t", "batch_b")
    assert rec is not None and (rec.completed, rec.failed) == (1, 1)
    assert store.get("other", "batch_b") is None


def test_output_written_again_after_a_crash_replaces_the_first(tmp_path: Path) -> None:
    """A runner that died between writing a batch's output files and recording them
    left the first files in the tenant's listing when the next attempt wrote its own."""
    conn = connect(tmp_path)
    st = Stores(LocalFileStore(tmp_path, conn, expiry_s=3600), SqliteBatchStore(conn))
    st.batches.create(_batch("batch_c", status="finalizing"))
    st.batches.record_line("batch_c", 1, True, b'{"n":1}')
    rec = st.batches.get("t", "batch_c")
    assert rec is not None
    first = _file(st, rec, True, "output")
    st.batches.record_line("batch_c", 2, True, b'{"n":2}')  # the rerun knows one more
    again = _file(st, rec, True, "output")
    assert first == again
    listed = st.files.page("t", "batch_output", None, 10, "asc", time.time())
    assert [f.id for f in listed] == [first]
    assert b"".join(st.files.chunks(first)) == b'{"n":1}\n{"n":2}\n'


def test_a_line_adds_its_tokens_with_its_count(tmp_path: Path) -> None:
    store = SqliteBatchStore(connect(tmp_path))
    store.create(_batch("batch_u"))
    assert store.record_line("batch_u", 1, True, b"a", LineTokens(30, 16, 8, 0))
    assert store.record_line("batch_u", 2, True, b"b", LineTokens(20, 0, 4, 1))
    assert store.record_line("batch_u", 3, False, b"c")  # refused: counted, no tokens
    assert not store.record_line("batch_u", 1, True, b"a", LineTokens(30, 16, 8, 0))  # again
    rec = store.get("t", "batch_u")
    assert rec is not None and (rec.completed, rec.failed) == (2, 1)
    assert batch_object(rec)["usage"] == {
        "input_tokens": 50,
        "input_tokens_details": {"cached_tokens": 16},
        "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 62,
    }


def test_a_line_and_its_count_are_kept_together_or_not_at_all(tmp_path: Path) -> None:
    """A crash between keeping a line and counting it left the line answered (never run
    again) and `request_counts` short for good."""
    conn = connect(tmp_path)
    store = SqliteBatchStore(conn)
    store.create(_batch("batch_t"))
    conn.execute(  # the count's update fails, as a process killed right there would
        "CREATE TRIGGER boom BEFORE UPDATE OF completed ON batches"
        " BEGIN SELECT RAISE(ABORT, 'killed'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.record_line("batch_t", 1, True, b"a")
    conn.execute("DROP TRIGGER boom")
    assert store.answered("batch_t") == set()  # so the line runs again
    assert store.record_line("batch_t", 1, True, b"a")
    rec = store.get("t", "batch_t")
    assert rec is not None and rec.completed == 1


def test_a_batch_from_before_usage_has_none(tmp_path: Path) -> None:
    """Opened by this release, a store of schema 1 keeps its batches; they have no
    `usage` (none was kept) rather than zeros that would read as free."""
    first = Migrations("batch", MIGRATIONS.steps[:1])
    old = open_db(tmp_path / "batch.db", first, timeout_s=5)
    now = int(time.time())
    old.execute(
        "INSERT INTO batches (id, tenant, key_id, endpoint, input_file_id, window, status,"
        " total, completed, created_at, expires_at) VALUES"
        " ('batch_old', 't', 'k', '/v1/chat/completions', 'file-x', '24h', 'completed',"
        " 1, 1, ?, ?)",
        (now, now + 60),
    )
    old.close()
    conn = connect(tmp_path)
    assert user_version(conn) == 2
    store = SqliteBatchStore(conn)
    rec = store.get("t", "batch_old")
    assert rec is not None and rec.completed == 1
    shown = batch_object(rec)
    assert "usage" not in shown and "model" not in shown
    store.create(_batch("batch_new"))
    new = store.get("t", "batch_new")
    assert new is not None and batch_object(new)["usage"]["total_tokens"] == 0
