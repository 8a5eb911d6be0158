"""A line whose outcome could not be kept (the store refused the write: a full disk,
a lock held past the timeout) was dropped, and its batch still ended `completed`
without it: the custom_id missing from both files, request_counts short. Such a
batch now stays in progress and the line runs again once the store takes writes."""

from __future__ import annotations

import sqlite3
import time

from harness.waiting import poll

from .conftest import BatchStack, wait_final
from .test_batch_e2e import chat_line, jsonl, results, upload


def _store(bstack: BatchStack) -> sqlite3.Connection:
    return sqlite3.connect(bstack.gateway.data_dir / "batch" / "batch.db", timeout=10)


def test_a_line_the_store_refused_runs_again(bstack: BatchStack) -> None:
    db = _store(bstack)
    db.execute("CREATE TABLE IF NOT EXISTS test_faults (on_ INTEGER)")
    db.execute("INSERT INTO test_faults VALUES (1)")
    db.commit()
    # the store refuses this line's outcome while the fault is on, as a full disk would
    db.execute(
        "CREATE TRIGGER IF NOT EXISTS refuse_flaky BEFORE INSERT ON lines"
        ' WHEN instr(CAST(NEW.outcome AS TEXT), \'"custom_id":"flaky-line"\') > 0'
        " AND (SELECT MAX(on_) FROM test_faults) = 1"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    db.commit()
    try:
        client = bstack.client()
        lines = [chat_line("steady-1"), chat_line("flaky-line"), chat_line("steady-2")]
        batch = client.batches.create(
            input_file_id=upload(client, jsonl(lines)),
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        counts = poll(
            lambda: client.batches.retrieve(batch.id).request_counts,
            lambda c: c is not None and c.completed >= 2,
            timeout_s=20,
        )
        assert counts is not None and counts.completed == 2
        time.sleep(1.0)  # the runner has had its chance to end the batch without the line
        held = client.batches.retrieve(batch.id)
        assert held.status == "in_progress", held
        db.execute("UPDATE test_faults SET on_ = 0")
        db.commit()
        done = wait_final(client, batch.id, timeout_s=30)
        assert done.status == "completed" and done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed) == (3, 3)
        got = sorted(r["custom_id"] for r in results(client, done.output_file_id))
        assert got == ["flaky-line", "steady-1", "steady-2"]
    finally:
        db.execute("DROP TRIGGER IF EXISTS refuse_flaky")
        db.execute("DROP TABLE IF EXISTS test_faults")
        db.commit()
        db.close()
