"""The files/batches routes never run SQLite on the event loop: while another
process holds the batch database's write lock, a batch create waits for it
and the same (single) Granian worker keeps answering other requests."""

from __future__ import annotations

import io
import sqlite3
import threading

import httpx2

from .conftest import BatchStack
from .test_batch_e2e import chat_line, jsonl


def test_a_locked_store_does_not_stall_the_loop(bstack: BatchStack) -> None:
    client = bstack.client()
    file = client.files.create(file=io.BytesIO(jsonl([chat_line("a")])), purpose="batch")
    db = sqlite3.connect(bstack.gateway.data_dir / "batch" / "batch.db", isolation_level=None)
    created: list[str] = []
    creating = threading.Thread(
        target=lambda: created.append(
            client.with_options(timeout=60)
            .batches.create(
                input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            .id
        )
    )
    db.execute("BEGIN IMMEDIATE")  # the write lock: the create's INSERT must wait for it
    try:
        creating.start()
        with httpx2.Client(base_url=bstack.gateway.url, trust_env=False, timeout=3.0) as h:
            answers = [h.get("/health").status_code for _ in range(20)]
            models = h.get("/v1/models", headers={"authorization": f"Bearer {bstack.key}"})
        assert answers == [200] * 20 and models.status_code == 200
        assert creating.is_alive() and not created  # still waiting on the lock
    finally:
        db.execute("ROLLBACK")
        db.close()
    creating.join(30)
    assert len(created) == 1 and client.batches.retrieve(created[0]).id == created[0]
