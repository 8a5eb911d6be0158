"""A line refused for now (the worker's queue is full: 503 with Retry-After) runs
again; its usage row must be the run that answered, with that run's tokens, not the
refusal it replaced (both rows share the line's event id and version)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from harness.gateway import Gateway
from harness.waiting import poll

from .conftest import BatchStack, one_worker_stack, wait_final
from .test_batch_e2e import chat_line, jsonl, results, upload

LINES = 6


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[BatchStack]:
    """Two lines in flight against a worker that takes one at a time: the other gets
    the worker's 429, which the gateway answers 503 with Retry-After."""
    with one_worker_stack(
        tmp_path,
        ("--max-queue", "1", "--ttft-ms", "150", "--output-tokens", "4"),
        """
        [batch]
        poll_interval_s = 0.1
        line_concurrency = 2

        [usage]
        flush_interval_ms = 100
        """,
    ) as stack:
        yield stack


def _rows(gw: Gateway, batch_id: str) -> list[tuple[int, str, int, int]]:
    conn = sqlite3.connect(gw.data_dir / "usage.db")
    try:
        return conn.execute(
            "SELECT status, error_code, prompt_tokens, completion_tokens FROM usage_events"
            " WHERE batch_id = ? ORDER BY event_id",
            (batch_id,),
        ).fetchall()
    finally:
        conn.close()


def test_a_line_run_again_after_a_503_keeps_its_tokens(crowded: BatchStack) -> None:
    client = crowded.client()
    file_id = upload(client, jsonl([chat_line(f"c-{i}", f"crowded {i}") for i in range(LINES)]))
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_final(client, batch.id, timeout_s=60.0)
    assert done.status == "completed" and done.request_counts is not None
    assert done.request_counts.completed == LINES, done
    answered = results(client, done.output_file_id)
    tokens = sum(r["response"]["body"]["usage"]["total_tokens"] for r in answered)
    # the worker did refuse some: the test would prove nothing otherwise
    stats = httpx2.get(f"http://127.0.0.1:{crowded.chat_port}/sim/stats", trust_env=False)
    assert stats.json()["requests"] > LINES, stats.text
    # a refusal's row is there before the run that replaces it is flushed: wait for both
    rows = poll(
        lambda: _rows(crowded.gateway, batch.id),
        lambda r: len(r) == LINES and all(status == 200 for status, _, _, _ in r),
        timeout_s=10,
    )
    assert all(status == 200 and not code for status, code, _, _ in rows), rows
    assert sum(p + c for _, _, p, c in rows) == tokens
    today = dt.datetime.now(dt.UTC).date().isoformat()
    r = httpx2.get(
        f"{crowded.gateway.url}/v1/usage?start_date={today}&end_date={today}",
        headers={"Authorization": f"Bearer {crowded.key}"},
        trust_env=False,
    )
    (day,) = r.json()["data"]
    assert (day["requests"], day["total_tokens"]) == (LINES, tokens)
