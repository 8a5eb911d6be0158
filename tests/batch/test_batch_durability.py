"""kill -9 mid-batch: every custom_id answered exactly once, usage counted once."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import sqlite3
import time

import httpx2
import orjson
from harness.proctree import batch_runners
from harness.waiting import poll

from .conftest import BatchStack, wait_final
from .test_batch_e2e import chat_line, jsonl, results

LINES = 24


def _start(bstack: BatchStack, key: str, prefix: str) -> str:
    client = bstack.client(key)
    lines = [chat_line(f"{prefix}-{i}", "wait [sim:delay_ms=250]") for i in range(LINES)]
    file_id = client.files.create(file=("d.jsonl", io.BytesIO(jsonl(lines))), purpose="batch").id
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    # killed once a few lines are answered and more are in flight
    poll(
        lambda: client.batches.retrieve(batch.id).request_counts,
        lambda counts: counts is not None and counts.completed >= 4,
        timeout_s=20,
    )
    return batch.id


def _exactly_once(bstack: BatchStack, key: str, batch_id: str, prefix: str) -> None:
    client = bstack.client(key)
    done = wait_final(client, batch_id, timeout_s=40.0)
    assert done.status == "completed", done
    out = results(client, done.output_file_id)
    err = results(client, done.error_file_id)
    ids = sorted(r["custom_id"] for r in out + err)
    assert ids == sorted(f"{prefix}-{i}" for i in range(LINES))
    assert not err, err[:2]
    assert done.request_counts is not None and done.request_counts.completed == LINES


def _usage_requests(bstack: BatchStack, key: str) -> int:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    with httpx2.Client(base_url=bstack.gateway.url, trust_env=False) as h:
        r = h.get(
            f"/v1/usage?start_date={today}&end_date={today}",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 200, r.text
    return sum(row["requests"] for row in r.json()["data"])


def _usage_rows(bstack: BatchStack, tenant: str) -> list[tuple[str, str]]:
    """(event_id, batch_id) of the tenant's stored usage events."""
    conn = sqlite3.connect(bstack.gateway.data_dir / "usage.db")
    try:
        return conn.execute(
            "SELECT event_id, batch_id FROM usage_events WHERE tenant = ?", (tenant,)
        ).fetchall()
    finally:
        conn.close()


def test_kill9_of_the_runner_process(bstack: BatchStack) -> None:
    key = bstack.gateway.new_keys("durable-runner")["durable-runner"]
    batch_id = _start(bstack, key, "r")
    runners = batch_runners(bstack.gateway.pid)
    assert len(runners) == 1, runners
    os.kill(runners[0], signal.SIGKILL)
    # serve starts it again; the lease runs out and the new runner resumes the batch
    _exactly_once(bstack, key, batch_id, "r")
    assert batch_runners(bstack.gateway.pid) != runners
    # a line cut off by the kill and run again replaced its usage row
    poll(lambda: _usage_requests(bstack, key), lambda n: n == LINES, timeout_s=15)


def test_kill9_of_the_whole_serve(bstack: BatchStack) -> None:
    key = bstack.gateway.new_keys("durable-serve")["durable-serve"]
    batch_id = _start(bstack, key, "s")
    bstack.gateway.kill9()
    time.sleep(0.2)
    bstack.gateway.start(30.0)
    _exactly_once(bstack, key, batch_id, "s")
    poll(lambda: _usage_requests(bstack, key), lambda n: n == LINES, timeout_s=15)
    rows = _usage_rows(bstack, "durable-serve")
    assert sorted(rows) == sorted((f"{batch_id}:{n}", batch_id) for n in range(1, LINES + 1))
    before = orjson.dumps(bstack.client(key).batches.retrieve(batch_id).model_dump())
    assert b'"completed"' in before
