"""`[[models]] batch_priority`: batch lines carry trtllm-serve's `priority` field only
when the model sets it; online calls never do (older workers refuse unknown fields)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from .conftest import CHAT, BatchStack, one_worker_stack, wait_final
from .test_batch_e2e import chat_line, jsonl, results, upload

LINES = 6


def _priorities(port: int) -> dict[str, int]:
    stats = httpx2.get(f"http://127.0.0.1:{port}/sim/stats", trust_env=False).json()
    return dict(stats["priorities"])


def _run_batch_and_one_call(stack: BatchStack, tag: str) -> None:
    client = stack.client()
    file_id = upload(client, jsonl([chat_line(f"{tag}-{i}", f"{tag} {i}") for i in range(LINES)]))
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = wait_final(client, batch.id)
    assert done.status == "completed" and done.request_counts is not None
    assert done.request_counts.completed == LINES and done.request_counts.failed == 0
    answered = results(client, done.output_file_id)
    assert sorted(r["custom_id"] for r in answered) == sorted(f"{tag}-{i}" for i in range(LINES))
    online = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": f"{tag} online"}]
    )
    assert online.choices[0].message.content


def test_flag_off_sends_no_priority(bstack: BatchStack) -> None:
    # bstack's worker has no --priority: a line carrying the field would be a 400 line
    _run_batch_and_one_call(bstack, "off")
    assert set(_priorities(bstack.chat_port)) == {"none"}


@pytest.fixture
def prioritised(tmp_path: Path) -> Iterator[BatchStack]:
    with one_worker_stack(
        tmp_path,
        ("--priority", "--ttft-ms", "0", "--output-tokens", "4"),
        """
        [batch]
        poll_interval_s = 0.1
        """,
        """
        default_max_tokens = 8
        batch_priority = 0.2
        """,
    ) as stack:
        yield stack


def test_flag_on_lines_carry_it_online_calls_do_not(prioritised: BatchStack) -> None:
    _run_batch_and_one_call(prioritised, "on")
    assert _priorities(prioritised.chat_port) == {"0.2": LINES, "none": 1}
