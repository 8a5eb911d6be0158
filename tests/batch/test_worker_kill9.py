"""kill -9 of one Granian worker while a batch runs: the batch completes with every
custom_id answered exactly once and its usage counted once. With the runner inline
(`[batch] runner = "inline"`) the killed worker is the one holding the batch's lease,
so another worker's runner must take the batch over."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.gateway import Gateway
from harness.procs import create_key
from harness.proctree import granian_workers
from harness.waiting import poll, wait_healthy

from .conftest import CHAT, EMBED, BatchStack
from .test_batch_durability import LINES, _exactly_once, _start, _usage_requests, _usage_rows


def _lease_owner(data_dir: Path, batch_id: str) -> int | None:
    """The pid of the runner holding the batch's lease (owner is "PID-hex")."""
    conn = sqlite3.connect(data_dir / "batch" / "batch.db")
    try:
        row = conn.execute("SELECT lease_owner FROM batches WHERE id = ?", (batch_id,)).fetchone()
    finally:
        conn.close()
    return int(row[0].split("-")[0]) if row and row[0] else None


def _counted_once(stack: BatchStack, key: str, tenant: str, batch_id: str) -> None:
    poll(lambda: _usage_requests(stack, key), lambda n: n == LINES, timeout_s=15)
    rows = _usage_rows(stack, tenant)
    assert sorted(rows) == sorted((f"{batch_id}:{n}", batch_id) for n in range(1, LINES + 1))


def test_kill9_of_the_granian_worker_beside_the_runner(bstack: BatchStack) -> None:
    tenant = "durable-worker"
    key = bstack.gateway.new_keys(tenant)[tenant]
    batch_id = _start(bstack, key, "w")
    (worker,) = granian_workers(bstack.gateway.pid)
    os.kill(worker, signal.SIGKILL)
    # Granian replaces it; the runner process never stopped
    assert bstack.gateway.proc is not None
    wait_healthy(f"{bstack.gateway.url}/health", bstack.gateway.proc, 30.0)
    _exactly_once(bstack, key, batch_id, "w")
    assert granian_workers(bstack.gateway.pid) != [worker]
    _counted_once(bstack, key, tenant, batch_id)


@pytest.fixture
def inline(bstack: BatchStack, tmp_path: Path) -> Iterator[BatchStack]:
    """Two Granian workers, each with its own runner, on bstack's simulators."""
    config = f"""\
        [batch]
        runner = "inline"
        line_concurrency = 2
        lease_s = 2.0
        poll_interval_s = 0.1

        [[models]]
        id = "{CHAT}"
        kind = "chat"
        family = "llama3"
        default_max_tokens = 8
        workers = ["http://127.0.0.1:{bstack.chat_port}"]

        [[models]]
        id = "{EMBED}"
        kind = "embedding"
        dimensions = 8
        workers = ["http://127.0.0.1:{bstack.embed_port}"]
        """
    gw = Gateway(tmp_path, config, workers=2)
    try:
        key = create_key(gw.data_dir, "main")
        gw.start(30.0)
        yield BatchStack(gw, key, key, key, [], bstack.chat_port, bstack.embed_port)
    finally:
        gw.stop()


def test_kill9_of_the_granian_worker_holding_the_lease(inline: BatchStack) -> None:
    tenant = "durable-inline"
    key = inline.gateway.new_keys(tenant)[tenant]
    batch_id = _start(inline, key, "i")
    holder = _lease_owner(inline.gateway.data_dir, batch_id)
    assert holder in granian_workers(inline.gateway.pid), holder
    os.kill(holder, signal.SIGKILL)
    # another runner (the other worker's, or the replacement's) takes the batch over
    _exactly_once(inline, key, batch_id, "i")
    assert holder not in granian_workers(inline.gateway.pid)
    _counted_once(inline, key, tenant, batch_id)
