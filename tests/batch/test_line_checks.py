"""What a single batch line may not ask: each such line is answered in the error
file with a 400 naming the field, and the other lines run."""

from __future__ import annotations

from .conftest import CHAT, BatchStack, wait_final
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
