"""A batch carries OpenAI's `model` and `usage` (input, cached, output, total tokens
of its answered lines), as OpenAI's batches created since September 2025 do: a client
that reads `batch.usage.total_tokens` for its bill gets the tokens, not None."""

from __future__ import annotations

from .conftest import CHAT, CHAT_ALIAS, EMBED, BatchStack, wait_final
from .test_batch_e2e import chat_line, embed_line, jsonl, results, upload


def _created(stack: BatchStack, lines: list[dict], endpoint: str) -> str:
    client = stack.client()
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)), endpoint=endpoint, completion_window="24h"
    )
    # known from the start, at zero: the SDK's `batch.usage` is never None for a new batch
    assert batch.usage is not None and batch.usage.total_tokens == 0
    return batch.id


def test_a_chat_batch_sums_its_answered_lines(bstack: BatchStack) -> None:
    client = bstack.client()
    lines = [chat_line(f"u-{i}", f"usage question {i}") for i in range(5)]
    lines[1] = chat_line("u-1", "usage question 1", model=CHAT_ALIAS)  # one model
    lines.append(chat_line("u-bad", max_tokens=-1))  # refused: no tokens
    done = wait_final(client, _created(bstack, lines, "/v1/chat/completions"))
    assert done.status == "completed" and done.model == CHAT
    out = [r["response"]["body"]["usage"] for r in results(client, done.output_file_id)]
    assert len(out) == 5
    usage = done.usage
    assert usage is not None
    assert usage.input_tokens == sum(u["prompt_tokens"] for u in out) > 0
    assert usage.output_tokens == sum(u["completion_tokens"] for u in out) > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    cached = sum(u.get("prompt_tokens_details", {}).get("cached_tokens", 0) for u in out)
    assert usage.input_tokens_details.cached_tokens == cached
    assert usage.output_tokens_details.reasoning_tokens == 0


def test_an_embeddings_batch_counts_input_only(bstack: BatchStack) -> None:
    client = bstack.client()
    lines = [embed_line(f"ue{i}", f"embed me {i}") for i in range(3)]
    done = wait_final(client, _created(bstack, lines, "/v1/embeddings"))
    assert done.status == "completed" and done.model == EMBED
    out = [r["response"]["body"]["usage"] for r in results(client, done.output_file_id)]
    assert done.usage is not None
    assert done.usage.input_tokens == sum(u["prompt_tokens"] for u in out) > 0
    assert (done.usage.output_tokens, done.usage.total_tokens) == (0, done.usage.input_tokens)
