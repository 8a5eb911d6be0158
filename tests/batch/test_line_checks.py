"""What a single batch line may not ask: each such line is answered in the error
file with a 400 naming the field, and the other lines run."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from .conftest import CHAT, BatchStack, one_worker_stack, wait_final
from .test_batch_e2e import chat_line, jsonl, results, upload


def test_a_streamed_line_is_a_400_in_the_error_file(bstack: BatchStack) -> None:
    client = bstack.client()
    completion = {
        "custom_id": "c", "method": "POST", "url": "/v1/completions",
        "body": {"model": CHAT, "prompt": "hi", "stream": True},
    }  # fmt: skip
    lines = [chat_line("ok"), chat_line("s", stream=True), chat_line("f", stream=False)]
    for endpoint, data, refused in (
        ("/v1/chat/completions", jsonl(lines), "s"),
        ("/v1/completions", jsonl([completion]), "c"),
    ):
        batch = client.batches.create(
            input_file_id=upload(client, data), endpoint=endpoint, completion_window="24h"
        )  # type: ignore[arg-type]
        done = wait_final(client, batch.id)
        assert done.status == "completed", done
        for r in results(client, done.output_file_id):
            # was an SSE text as the body of a 200
            assert isinstance(r["response"]["body"], dict), r
        err = results(client, done.error_file_id)
        assert [r["custom_id"] for r in err] == [refused]
        assert err[0]["response"]["status_code"] == 400
        assert err[0]["response"]["body"]["error"]["param"] == "stream"


def test_a_line_past_max_body_bytes_is_a_413(tmp_path: Path) -> None:
    """A line is a call: its body gets the limit an online call's does, instead of
    sending a worker a prompt the gateway would have refused at its door."""
    with one_worker_stack(
        tmp_path,
        ("--ttft-ms", "0", "--output-tokens", "4"),
        """
        [server]
        max_body_bytes = 4096

        [batch]
        poll_interval_s = 0.1
        """,
    ) as stack:
        client = stack.client()
        lines = [chat_line("small"), chat_line("big", "x" * 8000)]
        batch = client.batches.create(
            input_file_id=upload(client, jsonl(lines)),
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )
        done = wait_final(client, batch.id)
        assert done.status == "completed", done
        assert [r["custom_id"] for r in results(client, done.output_file_id)] == ["small"]
        (big,) = results(client, done.error_file_id)
        assert big["custom_id"] == "big" and big["response"]["status_code"] == 413
        assert big["response"]["body"]["error"]["code"] == "request_too_large"
        # the same body online: the same answer
        with pytest.raises(openai.APIStatusError) as online:
            client.chat.completions.create(model=CHAT, messages=lines[1]["body"]["messages"])
        assert online.value.status_code == 413
