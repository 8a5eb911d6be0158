"""The relay surface of provocapi._core, end to end.

trtllm-shaped upstream bytes go through `StreamRelay` / `rewrite_response`; the output is
read back by the official `openai` client (over an in-process transport) and checked
against the rules the SDKs rely on and against OpenAI's published schemas.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pytest
from contract.spec import validate
from provocapi import _core

ID = "chatcmpl-gw42"
CREATED = 1_700_000_000
MODEL = "gpt-4o"
NAMES = ["get_weather", "get_time"]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in NAMES
]
MESSAGES: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]


# --------------------------------------------------------------------------- upstream


def _event(obj: dict[str, Any], tail: bytes = b"\n\n") -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + tail


def _head(obj: str) -> dict[str, Any]:
    return {"id": "chatcmpl-17", "object": obj, "created": 5, "model": "/models/llama"}


def _usage_event(obj: str, prompt: int, completion: int) -> bytes:
    usage = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    return _event({**_head(obj), "choices": [], "usage": usage})


def trt_chat(
    pieces: list[str], finish: str = "stop", *, usage: bool = True, done: bool = True
) -> list[bytes]:
    """A chat stream as trtllm-serve writes it (stray space after the role chunk, nulls
    omitted, empty reasoning_content, stop_reason, usage chunk with no choices)."""
    obj = "chat.completion.chunk"
    role = {**_head(obj), "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    out = [_event(role, b" \n\n")]
    for i, piece in enumerate(pieces):
        choice: dict[str, Any] = {
            "index": 0,
            "delta": {"content": piece, "reasoning_content": ""},
        }
        if i == len(pieces) - 1:
            choice["finish_reason"] = finish
        out.append(_event({**_head(obj), "choices": [choice]}))
    if usage:
        out.append(_usage_event(obj, 12, len(pieces)))
    if done:
        out.append(b"data: [DONE]\n\n")
    return out


def trt_completion(pieces: list[str], finish: str = "length") -> list[bytes]:
    obj = "text_completion"
    out = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        choice = {
            "index": 0,
            "text": piece,
            "token_ids": None,
            "logprobs": None,
            "finish_reason": finish if last else None,
            "stop_reason": None,
            "avg_decoded_tokens_per_iter": None,
        }
        out.append(_event({**_head(obj), "choices": [choice], "usage": None}))
    return [*out, _usage_event(obj, 3, len(pieces)), b"data: [DONE]\n\n"]


def tokens(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# --------------------------------------------------------------------------- plumbing


def make_relay(
    kind: str = "chat", *, usage: bool = True, family: str | None = None, one_call: bool = False
):
    return _core.StreamRelay(
        kind=kind,
        public_model=MODEL,
        response_id=ID,
        created=CREATED,
        include_usage=usage,
        tool_family=family,
        tool_names=NAMES if family else None,
        one_tool_call=one_call,
    )


def relayed(
    relay: _core.StreamRelay, upstream: list[bytes], split: int | None, sink: list[bytes]
) -> Iterator[bytes]:
    """What the gateway writes: relay output per upstream read, then finish()."""
    data = b"".join(upstream)
    reads = upstream if split is None else [data[i : i + split] for i in range(0, len(data), split)]
    for read in reads:
        out = relay.feed(read)
        if out:
            sink.append(out)
            yield out
    tail = relay.finish()
    if tail:
        sink.append(tail)
        yield tail


def streamed_calls(
    relay: _core.StreamRelay, upstream: list[bytes], sink: list[bytes]
) -> tuple[list[tuple[str, str]], str | None]:
    """The tool calls (name, arguments) and finish reason the SDK's stream helper
    assembles from the relayed stream."""
    client = sse_client(relayed(relay, upstream, None, sink))
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES, tools=TOOLS) as stream:
        choice = stream.get_final_completion().choices[0]
    calls = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
    return calls, choice.finish_reason


def sdk(respond: Callable[[], httpx2.Response]) -> openai.OpenAI:
    transport = httpx2.MockTransport(lambda _request: respond())
    return openai.OpenAI(
        base_url="http://gateway.test/v1",
        api_key="pk-prov-test",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


def sse_client(body: Iterator[bytes]) -> openai.OpenAI:
    headers = {"content-type": "text/event-stream"}
    return sdk(lambda: httpx2.Response(200, headers=headers, content=body))


def json_client(body: bytes) -> openai.OpenAI:
    return sdk(
        lambda: httpx2.Response(200, headers={"content-type": "application/json"}, content=body)
    )


def check_rules(raw: bytes, kind: str, include_usage: bool) -> list[dict[str, Any]]:
    """NOTES.md "Streaming", event by event; returns the chunks (error last if any)."""
    assert raw.endswith(b"\n\n")
    events = raw.decode().split("\n\n")[:-1]
    chunks: list[dict[str, Any]] = []
    first_delta: set[int] = set()
    opened: set[tuple[int, int]] = set()
    appeared: list[int] = []
    for n, event in enumerate(events):
        assert event.startswith("data: ") and "\n" not in event, event
        data = event[len("data: ") :]
        last = n == len(events) - 1
        if data == "[DONE]":
            assert last, "[DONE] must be the last event"
            continue
        obj = json.loads(data)
        chunks.append(obj)
        if "error" in obj:
            assert last, "an error event ends the stream"
            validate("ErrorResponse", obj)
            continue
        assert (obj["id"], obj["created"], obj["model"]) == (ID, CREATED, MODEL)
        assert ("usage" in obj) == include_usage
        if kind == "chat":
            assert obj["object"] == "chat.completion.chunk"
            validate("CreateChatCompletionStreamResponse", obj)
        else:
            assert obj["object"] == "text_completion"
        if not obj["choices"]:
            assert include_usage and events[n + 1] == "data: [DONE]", "usage chunk before [DONE]"
            continue
        if include_usage:
            assert obj["usage"] is None
        for choice in obj["choices"]:
            i = choice["index"]
            assert "finish_reason" in choice and "logprobs" in choice
            if i not in appeared:
                assert i == len(appeared), "choice indexes first appear in order"
                appeared.append(i)
            if kind != "chat":
                assert isinstance(choice["text"], str)
                continue
            delta = choice["delta"]
            # The SDK's stream helper closes the last call only on a later finish_reason.
            assert not (delta.get("tool_calls") and choice["finish_reason"]), choice
            assert ("role" in delta) == (i not in first_delta), "role in the first delta only"
            first_delta.add(i)
            for tc in delta.get("tool_calls", []):
                key = (i, tc["index"])
                if key in opened:
                    assert "id" not in tc and "type" not in tc and "name" not in tc["function"]
                else:
                    assert tc["id"] and tc["type"] == "function" and tc["function"]["name"]
                    opened.add(key)
    return chunks


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("split", [None, 1, 7])
def test_chat_stream_through_the_sdk(split: int | None) -> None:
    relay = make_relay()
    sink: list[bytes] = []
    upstream = trt_chat(["Hel", "lo, w\u00f6r", "ld \U0001f600"], "stop")
    client = sse_client(relayed(relay, upstream, split, sink))
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello, w\u00f6rld \U0001f600"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.total_tokens) == (12, 15)
    assert all(c.id == ID and c.model == MODEL for c in chunks)
    check_rules(b"".join(sink), "chat", True)
    assert relay.done and not relay.failed and relay.first_byte_sent
    assert (relay.prompt_tokens, relay.completion_tokens) == (12, 3)
    assert relay.finish_reason == "stop"
    assert relay.chunks == 4  # role chunk + three content chunks


def test_usage_is_dropped_without_include_usage_but_recorded() -> None:
    relay = make_relay(usage=False)
    sink: list[bytes] = []
    chunks = list(
        sse_client(
            relayed(relay, trt_chat(["a", "b"], "timeout"), None, sink)
        ).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    )
    assert all(c.usage is None and c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "length"  # trtllm's timeout
    check_rules(b"".join(sink), "chat", False)
    assert (relay.prompt_tokens, relay.completion_tokens) == (12, 2)


CALLS = [
    ("llama3", '{"name": "get_weather", "parameters": {"city": "Paris"}}', None),
    (
        "llama3",
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>',
        None,
    ),
    ("llama3", '<function=get_weather>{"city": "Paris"}</function>', None),
    (
        "qwen2",
        'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        "</tool_call>",
        "Let me look.",
    ),
    ("qwen2", '{"name": "get_weather", "arguments": {"city": "Paris"}}', None),
    ("mistral", '[{"name": "get_weather", "arguments": {"city": "Paris"}}]', None),
    (
        "mistral",
        '[TOOL_CALLS][{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}", '
        '"id": "a1b2c3d4e"}]',
        None,
    ),
]


@pytest.mark.parametrize(("family", "text", "content"), CALLS)
def test_text_tool_calls_through_the_stream_helper(
    family: str, text: str, content: str | None
) -> None:
    relay = make_relay(family=family)
    sink: list[bytes] = []
    client = sse_client(relayed(relay, trt_chat(tokens(text), "stop"), 5, sink))
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, tools=TOOLS, stream_options={"include_usage": True}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", '{"city":"Paris"}')
    ]
    if family == "mistral":  # its template accepts only 9 alphanumerics
        assert re.fullmatch(r"[A-Za-z0-9]{9}", calls[0].id), calls[0].id
    else:
        assert calls[0].id.startswith("call_") and len(calls[0].id) == 29
    assert (choice.message.content or None) == content
    assert "tool_calls.function.arguments.done" in kinds
    check_rules(b"".join(sink), "chat", True)
    assert relay.finish_reason == "tool_calls"


def test_two_calls_get_distinct_ids_and_indexes() -> None:
    text = (
        '{"name": "get_weather", "parameters": {"city": "Paris"}};\n'
        '{"name": "get_time", "parameters": {"city": "Oslo"}}'
    )
    relay = make_relay(family="llama3")
    sink: list[bytes] = []
    client = sse_client(relayed(relay, trt_chat(tokens(text)), None, sink))
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES, tools=TOOLS) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len({c.id for c in calls}) == 2
    indexes = [
        tc["index"]
        for chunk in check_rules(b"".join(sink), "chat", True)
        for choice in chunk.get("choices", [])
        for tc in choice["delta"].get("tool_calls", [])
    ]
    assert indexes == [0, 1]


TWO_CALLS = {
    "llama3": '{"name": "get_weather", "parameters": {"city": "Paris"}};\n'
    '{"name": "get_time", "parameters": {"city": "Oslo"}}',
    "qwen2": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_time", "arguments": {"city": "Oslo"}}\n</tool_call>',
    "mistral": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, '
    '{"name": "get_time", "arguments": {"city": "Oslo"}}]',
}


@pytest.mark.parametrize("family", sorted(TWO_CALLS))
def test_without_parallel_tool_calls_one_call_is_answered(family: str) -> None:
    """OpenAI answers at most one call with `parallel_tool_calls: false`; a model that
    wrote two had both relayed (LangChain's bind_tools(parallel_tool_calls=False) and
    agents that run one call a turn rely on one)."""
    text = TWO_CALLS[family]
    sink: list[bytes] = []
    relay = make_relay(family=family, one_call=True)
    calls, finish = streamed_calls(relay, trt_chat(tokens(text)), sink)
    assert (calls, finish) == ([("get_weather", '{"city":"Paris"}')], "tool_calls")
    check_rules(b"".join(sink), "chat", True)
    r = rewrite_chat(text, family, one_tool_call=True)
    message = json.loads(r.body)["choices"][0]["message"]
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["get_weather"]


@pytest.mark.parametrize(
    ("family", "text"),
    [
        ("llama3", '{"name": "drop_tables", "parameters": {}}'),
        ("qwen2", '<tool_call>\n{"name": "get_weather", "arguments": {"city": }\n</tool_call>'),
        ("mistral", "[1] Paris is sunny. [2] Oslo is not."),
        ("llama3", "It is sunny in Paris."),
    ],
)
def test_text_that_is_not_a_call_stays_content(family: str, text: str) -> None:
    relay = make_relay(family=family)
    client = sse_client(relayed(relay, trt_chat(tokens(text)), 4, []))
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES, tools=TOOLS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == text
    assert not final.choices[0].message.tool_calls
    assert final.choices[0].finish_reason == "stop"


def test_structured_tool_calls_keep_the_first_delta_rules() -> None:
    """A worker with a tool parser (Qwen) or a named tool_choice repeats type/name."""
    obj = "chat.completion.chunk"
    upstream = [_event({**_head(obj), "choices": [{"index": 0, "delta": {"role": "assistant"}}]})]
    for args in ['{"city', '": "Pa', 'ris"}']:
        tc = {
            "type": "function",
            "index": 0,
            "function": {"name": "get_weather", "arguments": args},
        }
        upstream.append(
            _event({**_head(obj), "choices": [{"index": 0, "delta": {"tool_calls": [tc]}}]})
        )
    upstream.append(
        _event({**_head(obj), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )
    upstream.append(b"data: [DONE]\n\n")
    sink: list[bytes] = []
    calls, finish = streamed_calls(make_relay(usage=False), upstream, sink)
    assert (calls, finish) == ([("get_weather", '{"city": "Paris"}')], "tool_calls")
    check_rules(b"".join(sink), "chat", False)


def test_completion_stream_through_the_sdk() -> None:
    relay = make_relay("completion")
    sink: list[bytes] = []
    client = sse_client(relayed(relay, trt_completion([" The", " sky", " is"]), 3, sink))
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="x", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == " The sky is"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    check_rules(b"".join(sink), "completion", True)


def test_worker_that_drops_the_connection_raises_api_error() -> None:
    relay = make_relay()
    sink: list[bytes] = []
    upstream = trt_chat(["partial", " answer"], usage=False, done=False)
    client = sse_client(relayed(relay, upstream, None, sink))
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="closed the stream"):
        list(stream)
    error = check_rules(b"".join(sink), "chat", True)[-1]["error"]
    assert (error["type"], error["code"]) == ("server_error", "upstream_disconnected")
    assert relay.done and relay.failed


def test_worker_error_event_is_reframed_and_raises() -> None:
    error = {"object": "error", "message": "engine failed", "type": "X", "code": 500}
    upstream = [*trt_completion(["a"])[:1], _event({"error": error})]
    relay = make_relay("completion", usage=False)
    sink: list[bytes] = []
    client = sse_client(relayed(relay, upstream, None, sink))
    with pytest.raises(openai.APIError, match="engine failed"):
        list(client.completions.create(model=MODEL, prompt="x", stream=True))
    assert check_rules(b"".join(sink), "completion", False)[-1]["error"]["type"] == "server_error"
    assert relay.failed
    # trtllm's flat error, first thing in the stream
    flat = _event(
        {"object": "error", "message": "too long", "type": "BadRequestError", "code": 400}
    )
    relay = make_relay("completion", usage=False)
    out = relay.feed(flat)
    assert json.loads(out[len(b"data: ") :])["error"]["type"] == "invalid_request_error"
    assert relay.feed(b"data: [DONE]\n\n") == b"" and relay.finish() == b""


def test_gateway_error_event() -> None:
    relay = make_relay()
    assert not relay.first_byte_sent
    out = relay.error_event("The worker timed out.", "server_error", "upstream_timeout")
    assert out.startswith(b"data: ") and out.endswith(b"\n\n")
    body = json.loads(out[len(b"data: ") :])
    validate("ErrorResponse", body)
    assert body["error"] == {
        "message": "The worker timed out.",
        "type": "server_error",
        "param": None,
        "code": "upstream_timeout",
    }
    assert relay.done and relay.failed and relay.first_byte_sent
    assert relay.finish() == b""


# --------------------------------------------------------------------------- non-streaming


def _trt_body(content: str, finish: str = "stop") -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-0f",
            "object": "chat.completion",
            "created": 5,
            "model": "/models/qwen",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "reasoning_content": None,
                        "tool_calls": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                    "stop_reason": None,
                    "disaggregated_params": None,
                }
            ],
            "usage": {"prompt_tokens": 7, "total_tokens": 9, "completion_tokens": 2},
            "prompt_token_ids": None,
        }
    ).encode()


def test_rewrite_chat_response_through_the_sdk() -> None:
    r = _core.rewrite_response(
        _trt_body("Sunny.", "cancelled"),
        kind="chat",
        public_model=MODEL,
        response_id=ID,
        created=CREATED,
    )
    body, prompt, completion, finish = r.body, r.prompt_tokens, r.completion_tokens, r.finish_reason
    data = json.loads(body)
    validate("CreateChatCompletionResponse", data)
    assert "prompt_token_ids" not in data and "stop_reason" not in data["choices"][0]
    assert (prompt, completion, finish) == (7, 2, "length")
    resp = json_client(body).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert (resp.id, resp.created, resp.model) == (ID, CREATED, MODEL)
    assert resp.choices[0].message.content == "Sunny."
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.total_tokens == 9


def rewrite_chat(text: str, family: str, **kw: bool) -> _core.Rewritten:
    return _core.rewrite_response(
        _trt_body(text),
        kind="chat",
        public_model=MODEL,
        response_id=ID,
        created=CREATED,
        tool_family=family,
        tool_names=NAMES,
        **kw,
    )


def test_rewrite_chat_response_parses_text_tool_calls() -> None:
    text = (
        'Checking.\n<tool_call>\n{"name": "get_time", "arguments": {"city": "Oslo"}}\n</tool_call>'
    )
    r = rewrite_chat(text, "qwen2")
    body = r.body
    validate("CreateChatCompletionResponse", json.loads(body))
    assert r.finish_reason == "tool_calls"
    assert (r.prompt_tokens, r.completion_tokens) == (7, 2)
    message = (
        json_client(body).chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message
    )
    assert message.content == "Checking."
    calls = message.tool_calls or []
    assert [(c.type, c.function.name, c.function.arguments) for c in calls] == [
        ("function", "get_time", '{"city":"Oslo"}')
    ]


def test_rewrite_completion_response() -> None:
    trt = {
        "id": "cmpl-3",
        "object": "text_completion",
        "created": 5,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "text": " blue",
                "token_ids": None,
                "logprobs": None,
                "context_logits": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
    }
    r = _core.rewrite_response(
        json.dumps(trt).encode(),
        kind="completion",
        public_model=MODEL,
        response_id="cmpl-gw",
        created=CREATED,
    )
    body, prompt, completion, finish = r.body, r.prompt_tokens, r.completion_tokens, r.finish_reason
    data = json.loads(body)
    validate("CreateCompletionResponse", data)
    assert data["choices"] == [
        {"text": " blue", "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert (data["id"], data["object"], prompt, completion, finish) == (
        "cmpl-gw",
        "text_completion",
        4,
        1,
        "stop",
    )


def test_rewrite_without_usage_says_none_not_zero() -> None:
    """'No usage' has one shape on both paths: None, as StreamRelay's getters."""
    trt = json.loads(_trt_body("Hi."))
    del trt["usage"]
    r = _core.rewrite_response(
        json.dumps(trt).encode(), kind="chat", public_model=MODEL, response_id=ID, created=1
    )
    assert (r.prompt_tokens, r.completion_tokens) == (None, None)
    zero = {**trt, "usage": {"prompt_tokens": 0, "completion_tokens": 0}}
    r = _core.rewrite_response(
        json.dumps(zero).encode(), kind="chat", public_model=MODEL, response_id=ID, created=1
    )
    assert (r.prompt_tokens, r.completion_tokens) == (0, 0)
    relay = make_relay()
    relay.finish()
    assert (relay.prompt_tokens, relay.completion_tokens) == (None, None)


@pytest.mark.parametrize(
    "body", [b"", b"<html>502</html>", b"[]", b"{}", b'{"choices": null}', b'{"choices": [7]}']
)
def test_rewrite_refuses_garbage(body: bytes) -> None:
    with pytest.raises(_core.UpstreamFormatError):
        _core.rewrite_response(body, kind="chat", public_model=MODEL, response_id=ID, created=1)


def test_bad_arguments_are_core_errors_not_worker_garbage() -> None:
    # our own code never passes these: a bug, which the proxy must not read as a 502
    assert not issubclass(_core.CoreError, ValueError)
    assert issubclass(_core.UpstreamFormatError, ValueError)
    with pytest.raises(_core.CoreError, match="kind"):
        _core.StreamRelay(
            kind="embeddings", public_model=MODEL, response_id=ID, created=1, include_usage=False
        )
    with pytest.raises(_core.CoreError, match="tool_family"):
        make_relay(family="gpt")
    with pytest.raises(_core.CoreError, match="kind"):
        _core.rewrite_response(
            b"{}", kind="embedding", public_model=MODEL, response_id=ID, created=1
        )


# --------------------------------------------------------------------------- helpers


def _floats(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def test_embedding_truncate() -> None:
    raw = struct.pack("<4f", 3.0, 4.0, 12.0, -1.0)
    out = _floats(_core.embedding_truncate(raw, 2))
    assert out == pytest.approx([0.6, 0.8])
    assert sum(v * v for v in _floats(_core.embedding_truncate(raw, 4))) == pytest.approx(1.0)
    # fewer floats than asked, or a ragged vector: the worker's fault
    for bad_raw, dims in [(raw, 0), (raw, 5), (raw[:7], 1)]:
        with pytest.raises(_core.UpstreamFormatError):
            _core.embedding_truncate(bad_raw, dims)
    with pytest.raises(_core.CoreError):  # a negative size: ours
        _core.embedding_truncate(raw, -1)
