"""A batch cancelled before its file was validated ends `cancelled`, whatever
the file holds, with consistent counts (the runner alone, no gateway)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from provocapi.batch.local import LocalFileStore, SqliteBatchStore, connect
from provocapi.batch.records import BatchRecord
from provocapi.batch.runner import Runner
from provocapi.batch.service import Stores

GOOD = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'


def _stores(tmp_path: Path) -> Stores:
    conn = connect(tmp_path)
    return Stores(LocalFileStore(tmp_path, conn, 60), SqliteBatchStore(conn))


def _cancelled_while_validating(st: Stores, data: bytes) -> BatchRecord:
    file_id = st.files.write("t", "batch", "in.jsonl", [data]).id
    now = int(time.time())
    rec = BatchRecord(
        "batch_c", "t", "key_1", "/v1/chat/completions", file_id, "24h", "validating", None,
        None, 0, 0, 0, None, None, now, now + 60, None, None, None, None, None, None, None,
    )  # fmt: skip
    st.batches.create(rec)
    assert st.batches.set_status(rec.id, "cancelling", now, ("validating",))
    claimed = st.batches.claim("runner-1", lease_s=5)
    assert claimed is not None
    return claimed


def _run(st: Stores, rec: BatchRecord) -> BatchRecord:
    batch = SimpleNamespace(max_lines=50, line_concurrency=2, lease_s=30.0)
    gw: Any = SimpleNamespace(cfg=SimpleNamespace(batch=batch))
    asyncio.run(Runner(gw).work(st, rec))
    done = st.batches.get("t", rec.id)
    assert done is not None
    return done


def test_a_broken_file_cancelled_before_validation_ends_cancelled(tmp_path: Path) -> None:
    st = _stores(tmp_path)
    rec = _cancelled_while_validating(st, GOOD + b"{broken\n[1]\n")
    done = _run(st, rec)  # it raised on the broken line, and was retried forever
    assert done.status == "cancelled" and done.cancelled_at is not None
    assert (done.total, done.completed, done.failed) == (0, 0, 0)
    assert done.output_file_id is None and done.error_file_id is None


def test_counts_stay_consistent_when_cancelled_before_validation(tmp_path: Path) -> None:
    st = _stores(tmp_path)
    done = _run(st, _cancelled_while_validating(st, GOOD * 3))
    assert done.status == "cancelled"
    # it said failed 3 of total 0
    assert done.completed + done.failed <= done.total


class _KilledWhileWriting(LocalFileStore):
    """The real store, but the process dies as it writes the output files."""

    def write(self, *args: Any, **kwargs: Any) -> Any:
        raise _Killed


class _Killed(Exception):
    pass


def test_an_expiring_batch_cut_while_it_ends_still_ends_expired(tmp_path: Path) -> None:
    """A runner killed while it ended an expired batch (its unrun lines marked
    batch_expired, the status at finalizing) left the next runner to end it
    `completed`, as if every line had run."""
    st = _stores(tmp_path)
    file_id = st.files.write("t", "batch", "in.jsonl", [GOOD, GOOD.replace(b'"a"', b'"b"')]).id
    now = int(time.time())
    rec = BatchRecord(
        "batch_x", "t", "key_1", "/v1/chat/completions", file_id, "24h", "in_progress", None,
        None, 2, 0, 0, None, None, now - 100, now - 10, now - 99, None, None, None, None, None,
        None,
    )  # fmt: skip
    st.batches.create(rec)
    st.batches.record_line(rec.id, 1, True, b'{"custom_id": "a"}')  # answered in time
    claimed = st.batches.get("t", rec.id)
    assert claimed is not None
    dying = Stores(_KilledWhileWriting(tmp_path, connect(tmp_path), 60), st.batches)
    with pytest.raises(_Killed):
        _run(dying, claimed)
    again = st.batches.get("t", rec.id)
    assert again is not None
    done = _run(st, again)
    assert done.status == "expired" and done.expired_at is not None
    assert (done.total, done.completed, done.failed) == (2, 1, 1)
    assert done.output_file_id and done.error_file_id
