"""Micro-benchmarks of the Rust core, `provocapi._core`; each also checks its result.

    .venv/bin/python -m pytest bench --benchmark-enable          # measure
    .venv/bin/python -m pytest bench --benchmark-disable         # correctness only, one call each

Not part of the default test run (pytest's testpaths is tests/). An operation the core does
not export yet is skipped with the reason. Pin to a core for steadier figures:
`taskset -c 1 .venv/bin/python -m pytest bench --benchmark-enable`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

core: Any = pytest.importorskip("provocapi._core", reason="the Rust core is not built")

PUBLIC_MODEL = "llama-3.1-8b-instruct"
RESPONSE_ID = "chatcmpl-Bench0123456789abcdefghij"
CREATED = 1_732_233_600


def need(name: str) -> Any:
    obj = getattr(core, name, None)
    if obj is None:
        pytest.skip(f"provocapi._core.{name} is not exported yet")
    return obj


def sse_events(data: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of `data:` events (not [DONE])."""
    out = []
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload and payload != b"[DONE]":
                    out.append(json.loads(payload))
    return out


# trtllm-serve's wire shapes (see provocapi/sim/render_trtllm.py): the role chunk has a stray
# space before its blank line; content chunks carry an empty reasoning_content.
UPSTREAM_ID = "chatcmpl-4711"
ROLE_CHUNK = (
    b'data: {"id":"chatcmpl-4711","object":"chat.completion.chunk","created":1732233599,'
    b'"model":"llama-3.1-8b-instruct","choices":[{"index":0,"delta":{"role":"assistant"}}]}'
    b" \n\n"
)
CONTENT_CHUNK = (
    b'data: {"id":"chatcmpl-4711","object":"chat.completion.chunk","created":1732233599,'
    b'"model":"llama-3.1-8b-instruct","choices":[{"index":0,"delta":{"content":" worker",'
    b'"reasoning_content":""}}]}\n\n'
)

ANSWER = (
    "First, check the worker's health endpoint and the gateway's upstream error counter for "
    "the model; then look at the request latency histogram and the count of streams cut, "
    "which tell whether clients"
)


def chat_body() -> bytes:
    """A trtllm-serve non-streaming chat answer: every field present, nulls included."""
    return json.dumps(
        {
            "id": "chatcmpl-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "object": "chat.completion",
            "created": 1732233599,
            "model": PUBLIC_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": ANSWER,
                        "reasoning_content": "",
                        "reasoning": None,
                        "tool_calls": [],
                    },
                    "logprobs": None,
                    "finish_reason": "length",
                    "stop_reason": None,
                    "mm_embedding_handle": None,
                    "disaggregated_params": None,
                    "avg_decoded_tokens_per_iter": None,
                }
            ],
            "usage": {
                "prompt_tokens": 201,
                "total_tokens": 265,
                "completion_tokens": 64,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
            "prompt_token_ids": None,
            "prompt_token_ids_b64": None,
        },
        separators=(",", ":"),
    ).encode()


# --- relay -------------------------------------------------------------------------------------


def new_relay(tools: bool = False) -> Any:
    relay_cls = need("StreamRelay")
    return relay_cls(
        kind="chat",
        public_model=PUBLIC_MODEL,
        response_id=RESPONSE_ID,
        created=CREATED,
        include_usage=False,
        tool_family="llama3" if tools else None,
        tool_names=["get_weather"] if tools else None,
    )


def test_stream_relay_feed_chunk(benchmark: Any) -> None:
    """µs per typical content chunk (one whole SSE event per feed, as tokens arrive)."""
    relay = new_relay()
    first = sse_events(relay.feed(ROLE_CHUNK))
    assert first and first[0]["choices"][0]["delta"].get("role") == "assistant"

    out = relay.feed(CONTENT_CHUNK)
    (event,) = sse_events(out)
    assert event["id"] == RESPONSE_ID
    assert event["model"] == PUBLIC_MODEL
    assert event["created"] == CREATED
    assert event["object"] == "chat.completion.chunk"
    assert event["choices"][0]["delta"]["content"] == " worker"
    assert UPSTREAM_ID.encode() not in out
    assert not relay.done

    result = benchmark(relay.feed, CONTENT_CHUNK)
    assert result == out  # the same input chunk yields the same rewritten bytes
    assert not relay.done


def test_stream_relay_feed_chunk_tools_on(benchmark: Any) -> None:
    """The same chunk when the request has tools: the relay watches the text for a call."""
    relay = new_relay(tools=True)
    relay.feed(ROLE_CHUNK)
    first = relay.feed(CONTENT_CHUNK)  # plain prose: decided at once, not held back
    (event,) = sse_events(first)
    assert event["id"] == RESPONSE_ID
    assert event["choices"][0]["delta"]["content"] == " worker"

    result = benchmark(relay.feed, CONTENT_CHUNK)
    assert sse_events(result)[0]["choices"][0]["delta"]["content"] == " worker"


def test_stream_relay_feed_split_chunk(benchmark: Any) -> None:
    """A chunk that arrives in two TCP reads, split inside its JSON."""
    relay = new_relay()
    relay.feed(ROLE_CHUNK)
    head, tail = CONTENT_CHUNK[:70], CONTENT_CHUNK[70:]

    def feed_split() -> bytes:
        return bytes(relay.feed(head)) + bytes(relay.feed(tail))

    result = benchmark(feed_split)
    (event,) = sse_events(result)
    assert event["id"] == RESPONSE_ID
    assert event["choices"][0]["delta"]["content"] == " worker"


# --- non-streaming rewrite ---------------------------------------------------------------------


def test_rewrite_response(benchmark: Any) -> None:
    rewrite = need("rewrite_response")
    body = chat_body()

    def call() -> Any:
        return rewrite(
            body,
            kind="chat",
            public_model=PUBLIC_MODEL,
            response_id=RESPONSE_ID,
            created=CREATED,
            tool_family=None,
            tool_names=None,
        )

    r = benchmark(call)
    assert (r.prompt_tokens, r.completion_tokens, r.finish_reason) == (201, 64, "length")
    doc = json.loads(r.body)
    assert doc["id"] == RESPONSE_ID
    assert doc["model"] == PUBLIC_MODEL
    assert doc["created"] == CREATED
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"]["content"] == ANSWER
    assert doc["choices"][0]["finish_reason"] == "length"
    assert doc["usage"]["completion_tokens"] == 64


# --- state table and metrics -------------------------------------------------------------------


def test_state_table_add(benchmark: Any, tmp_path: Path) -> None:
    table = need("StateTable")(str(tmp_path / "state.bin"), 1024)
    slot = table.slot("tenant:bench:rpm")
    assert table.slot("tenant:bench:rpm") == slot
    assert table.add(slot, 3, 5) == 5
    assert table.add(slot, 3, -2) == 3
    table.set(slot, 3, 0)

    benchmark(table.add, slot, 3, 1)
    n = table.get(slot, 3)
    assert n > 0
    assert table.add(slot, 3, 1) == n + 1
    assert table.get(slot, 2) == 0 and table.get(slot, 4) == 0  # neighbours untouched


def new_metrics(tmp_path: Path) -> Any:
    table = need("StateTable")(str(tmp_path / "metrics.bin"), 1024)
    metrics = need("Metrics")(table)
    metrics.describe("bench_requests_total", "counter", "Requests.")
    metrics.describe("bench_duration_seconds", "histogram", "Durations.", [0.001, 0.01, 0.1])
    return metrics


def test_metrics_inc(benchmark: Any, tmp_path: Path) -> None:
    metrics = new_metrics(tmp_path)
    series = metrics.series("bench_requests_total", {"endpoint": "/v1/chat/completions"})
    metrics.inc(series, 2)
    assert metrics.value(series) == 2

    benchmark(metrics.inc, series)
    n = metrics.value(series)
    assert n > 2
    rendered = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.render().splitlines()
        if not line.startswith("#")
    }
    assert rendered['bench_requests_total{endpoint="/v1/chat/completions"}'] == n


def test_metrics_observe(benchmark: Any, tmp_path: Path) -> None:
    metrics = new_metrics(tmp_path)
    series = metrics.series("bench_duration_seconds", {"model": PUBLIC_MODEL})

    benchmark(metrics.observe, series, 0.005)
    text = metrics.render()
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("bench_duration_seconds")
    }
    le = 'bench_duration_seconds_bucket{{le="{}",model="{}"}}'
    alt = 'bench_duration_seconds_bucket{{model="{}",le="{}"}}'

    def bucket(bound: str) -> float:
        return lines.get(le.format(bound, PUBLIC_MODEL), lines.get(alt.format(PUBLIC_MODEL, bound)))

    total = bucket("+Inf")
    assert total and total > 0
    assert bucket("0.001") == 0  # 0.005 lands in the 0.01 bucket (cumulative from there)
    assert bucket("0.01") == total
