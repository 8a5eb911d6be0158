"""Chat and legacy completions through the official `openai` Python package."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx2
import openai
import pytest

from .conftest import CHAT_FAMILIES, GHOST_ADAPTER, Stack
from .helpers import parse_sse

MODEL = "llama-3.1-8b-instruct"
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}


def test_chat_non_streaming(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=16)
    assert resp.object == "chat.completion"
    assert resp.model == MODEL
    assert resp.id
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in {"stop", "length"}
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0
    assert 0 < resp.usage.completion_tokens <= 16
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 3
    *body, last = chunks
    # the usage chunk comes last, with no choices, and only it carries usage
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in body), [c.usage for c in body]
    # one id, one created, the public model id, on every chunk
    assert {c.id for c in chunks} == {chunks[0].id}
    assert {c.created for c in chunks} == {chunks[0].created}
    assert {c.model for c in chunks} == {MODEL}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    # role in the first delta only
    roles = [c.choices[0].delta.role for c in body if c.choices]
    assert roles[0] == "assistant"
    assert all(r is None for r in roles[1:]), roles
    text = "".join(c.choices[0].delta.content or "" for c in body if c.choices)
    assert text
    finishes = [c.choices[0].finish_reason for c in body if c.choices]
    assert finishes[-1] in {"stop", "length"}
    assert all(f is None for f in finishes[:-1]), finishes
    assert last.usage.completion_tokens <= 12


def test_chat_stream_without_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, stream=True
    )
    chunks = list(stream)
    assert chunks
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks), "a chunk without choices but no usage was asked"
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}


def test_raw_stream_ends_with_done(raw_stream_text: str) -> None:
    lines = [line for line in raw_stream_text.split("\n") if line.strip()]
    assert lines[-1] == "data: [DONE]"
    assert not any(line.startswith("event:") for line in lines)


def test_first_delta_is_openais(raw_stream_text: str) -> None:
    # trtllm-serve's first chunk is role-only; OpenAI's also has content "" and refusal
    # null, and client code that does `text += delta.content` relies on the "".
    events, _ = parse_sse(raw_stream_text.encode())
    first = json.loads(events[0].data)["choices"][0]
    assert first["delta"] == {"role": "assistant", "content": "", "refusal": None}


def test_completion_stream_text_is_always_a_string(client: openai.OpenAI) -> None:
    # legacy completions have no role chunk: every choice carries `text`, a string
    stream = client.completions.create(model=MODEL, prompt="Once", max_tokens=4, stream=True)
    texts = [c.choices[0].text for c in stream if c.choices]
    assert texts and all(isinstance(t, str) for t in texts), texts


@pytest.fixture
def raw_stream_text(stack: Stack, raw: httpx2.Client) -> str:
    with raw.stream(
        "POST",
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {stack.key}"},
        json={"model": MODEL, "messages": MESSAGES, "max_tokens": 5, "stream": True},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        return r.read().decode()


async def test_async_chat_and_stream(aclient: openai.AsyncOpenAI) -> None:
    resp = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8)
    assert resp.choices[0].message.content
    stream = await aclient.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert {c.id for c in chunks} == {chunks[0].id}


def test_alias_answers_with_canonical_model(client: openai.OpenAI) -> None:
    resp = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, max_tokens=4
    )
    assert resp.headers["x-provocapi-model"] == MODEL
    assert resp.parse().model == MODEL
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, max_tokens=4, stream=True
    )
    assert {c.model for c in stream} == {MODEL}


def test_adapter(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model=f"{MODEL}:sql", messages=MESSAGES, max_tokens=4)
    assert resp.choices[0].message.content is not None
    # the public id is what the client asked for, adapter included
    assert resp.model in {f"{MODEL}:sql", MODEL}
    # by alias, and on the legacy endpoint, and streamed
    assert client.chat.completions.create(
        model="gpt-4o-mini:sql", messages=MESSAGES, max_tokens=4
    ).choices
    assert client.completions.create(model=f"{MODEL}:sql", prompt="x", max_tokens=2).choices
    chunks = list(
        client.chat.completions.create(
            model=f"{MODEL}:sql", messages=MESSAGES, max_tokens=4, stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}


def test_adapter_reaches_the_worker(client: openai.OpenAI) -> None:
    """The adapter travels as lora_request: a lora_path missing on the worker is its 400."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=f"{MODEL}:{GHOST_ADAPTER}", messages=MESSAGES, max_tokens=4
        )
    assert isinstance(ei.value.body, dict)
    assert ei.value.body["type"] == "invalid_request_error"
    assert "lora" in ei.value.body["message"].lower(), ei.value.body


def test_unknown_adapter_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model=f"{MODEL}:nope", messages=MESSAGES, max_tokens=4)
    err = ei.value
    assert err.status_code == 404
    assert isinstance(err.body, dict)
    assert err.body["type"] == "invalid_request_error"
    assert err.body["code"] == "adapter_not_found"
    assert err.body["param"] == "model"


def test_routing_headers(client: openai.OpenAI, stack: Stack) -> None:
    resp = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=4
    )
    h = resp.headers
    assert h.get("x-request-id")
    assert resp.request_id == h["x-request-id"]
    assert resp.parse()._request_id == h["x-request-id"]
    worker = h.get("x-provocapi-worker")
    assert worker, "routed response without X-Provocapi-Worker"
    sim_url = stack.sims[MODEL]
    assert worker == sim_url or sim_url.rsplit(":", 1)[1] in worker, (worker, sim_url)
    assert float(h["x-provocapi-queue-ms"]) >= 0
    assert h["x-provocapi-model"] == MODEL
    assert h["content-type"].startswith("application/json")
    # a streamed answer carries them too
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=4, stream=True
    ) as sresp:
        assert sresp.headers.get("x-request-id")
        assert sresp.headers.get("x-provocapi-worker")
        assert sresp.headers.get("x-provocapi-model") == MODEL
        assert float(sresp.headers["x-provocapi-queue-ms"]) >= 0
        for _ in sresp.iter_lines():
            pass


def test_client_request_id_is_echoed(client: openai.OpenAI) -> None:
    rid = "test-req-0123456789abcdef"
    resp = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=4, extra_headers={"X-Request-Id": rid}
    )
    assert resp.headers["x-request-id"] == rid
    # and on errors too
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(
            model="no-such-model", messages=MESSAGES, extra_headers={"X-Request-Id": rid}
        )
    assert ei.value.request_id == rid


def test_insane_request_id_is_replaced(client: openai.OpenAI) -> None:
    bad = "x" * 2000
    resp = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, max_tokens=4, extra_headers={"X-Request-Id": bad}
    )
    rid = resp.headers.get("x-request-id")
    assert rid and rid != bad


def test_json_mode(client: openai.OpenAI) -> None:
    for family_model in ("llama-3.1-8b-instruct", "qwen-2.5-72b-instruct", "mistral-small-3-24b"):
        resp = client.chat.completions.create(
            model=family_model,
            messages=[{"role": "user", "content": "Give me a JSON object describing a cat."}],
            response_format={"type": "json_object"},
            max_tokens=64,
        )
        msg = resp.choices[0].message
        assert not msg.tool_calls, f"{family_model}: JSON mode answered with a tool call"
        assert resp.choices[0].finish_reason in {"stop", "length"}
        assert msg.content is not None
        json.loads(msg.content)


def test_json_mode_with_tools_is_not_a_tool_call(client: openai.OpenAI) -> None:
    """A JSON answer is content, even when tools are on offer but not to be called."""
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Reply with a JSON object."}],
        response_format={"type": "json_object"},
        tools=[WEATHER_TOOL],
        tool_choice="none",
        max_tokens=64,
    )
    msg = resp.choices[0].message
    assert not msg.tool_calls
    assert resp.choices[0].finish_reason in {"stop", "length"}
    json.loads(msg.content or "")


@pytest.mark.parametrize("reason", ["timeout", "cancelled"])
def test_finish_outside_openai_set_maps_to_length(client: openai.OpenAI, reason: str) -> None:
    msgs = [{"role": "user", "content": f"tell me a story [sim:finish={reason}]"}]
    resp = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=8)
    assert resp.choices[0].finish_reason == "length"
    stream = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=8, stream=True)
    finishes = [c.choices[0].finish_reason for c in stream if c.choices]
    assert finishes[-1] == "length"
    assert set(finishes) <= FINISH_REASONS | {None}


def test_legacy_completions(client: openai.OpenAI) -> None:
    resp = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8)
    assert resp.object == "text_completion"
    assert resp.model == MODEL
    assert resp.choices[0].text
    assert resp.choices[0].finish_reason in {"stop", "length"}
    assert resp.usage is not None and resp.usage.completion_tokens > 0


def test_legacy_completions_stream(client: openai.OpenAI) -> None:
    stream = client.completions.create(
        model="gpt-4o-mini",
        prompt="Once upon a time",
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 2
    assert {c.model for c in chunks} == {MODEL}
    assert {c.id for c in chunks} == {chunks[0].id}
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert "".join(c.choices[0].text for c in body if c.choices)
    assert body[-1].choices[0].finish_reason in {"stop", "length"}
    assert all(c.usage is None for c in body)


def test_legacy_completions_stream_without_usage(client: openai.OpenAI) -> None:
    chunks = list(client.completions.create(model=MODEL, prompt="Hi", max_tokens=4, stream=True))
    assert chunks and all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


def test_max_tokens_default_applies(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert resp.usage is not None
    assert resp.usage.completion_tokens <= 64  # default_max_tokens of the model


def test_request_ids_are_unique(client: openai.OpenAI) -> None:
    ids = set()
    for _ in range(3):
        r = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MESSAGES, max_tokens=2
        )
        ids.add(r.headers["x-request-id"])
        assert re.fullmatch(r"[\x21-\x7e]{8,200}", r.headers["x-request-id"])
    assert len(ids) == 3


def test_legacy_completions_finish_timeout(client: openai.OpenAI) -> None:
    resp = client.completions.create(model=MODEL, prompt="story [sim:finish=timeout]", max_tokens=8)
    assert resp.choices[0].finish_reason == "length"
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="story [sim:finish=timeout]", max_tokens=8, stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "length"


def test_n_choices(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4, n=2)
    assert [c.index for c in resp.choices] == [0, 1]
    assert all(c.message.content for c in resp.choices)
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=4, n=2, stream=True
    )
    first_seen: list[int] = []
    roles: dict[int, int] = {}
    finish: dict[int, str] = {}
    for chunk in stream:
        for c in chunk.choices:
            if c.index not in first_seen:
                first_seen.append(c.index)
            if c.delta.role is not None:
                roles[c.index] = roles.get(c.index, 0) + 1
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    assert first_seen == [0, 1], "choice indexes must first appear in ascending order"
    assert roles == {0: 1, 1: 1}, f"role must come once per choice, got {roles}"
    assert set(finish) == {0, 1}


# keys trtllm-serve adds to its answers, which are not OpenAI's
WORKER_ONLY_KEYS = {
    "stop_reason",
    "prompt_token_ids",
    "token_ids",
    "prompt_logprobs",
    "disaggregated_params",
    "avg_decoded_tokens_per_iter",
    "mm_embedding_handle",
}


def _worker_keys(obj: Any) -> set[str]:
    if isinstance(obj, dict):
        found = WORKER_ONLY_KEYS & set(obj)
        for v in obj.values():
            found |= _worker_keys(v)
        return found
    if isinstance(obj, list):
        return set().union(*(_worker_keys(v) for v in obj)) if obj else set()
    return set()


def test_no_worker_only_keys(stack: Stack, raw: httpx2.Client) -> None:
    headers = {"Authorization": f"Bearer {stack.key}"}
    for path, body in (
        ("/v1/chat/completions", {"messages": MESSAGES}),
        ("/v1/completions", {"prompt": "Hi"}),
    ):
        r = raw.post(path, headers=headers, json={"model": MODEL, "max_tokens": 4, **body})
        assert r.status_code == 200, r.text
        assert not _worker_keys(r.json()), f"{path}: worker-only keys leak: {r.text}"
        r = raw.post(
            path, headers=headers, json={"model": MODEL, "max_tokens": 4, "stream": True, **body}
        )
        events, _ = parse_sse(r.content)
        for ev in events:
            if ev.data != "[DONE]":
                assert not _worker_keys(json.loads(ev.data)), f"{path}: leak in {ev.data}"


async def test_concurrent_requests(aclient: openai.AsyncOpenAI) -> None:
    async def one(i: int) -> str:
        if i % 2:
            resp = await aclient.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=4
            )
            return resp.id
        stream = await aclient.chat.completions.create(
            model="mistral-small-3-24b", messages=MESSAGES, max_tokens=4, stream=True
        )
        ids = {c.id async for c in stream}
        assert len(ids) == 1
        return ids.pop()

    ids = await asyncio.gather(*(one(i) for i in range(12)))
    assert len(set(ids)) == 12, "completion ids repeat across requests"


def test_request_shapes_the_sdk_sends(client: openai.OpenAI) -> None:
    """Content parts, the developer role, and OpenAI fields with no effect on the output."""
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Say hi."}]},
        ],
        max_completion_tokens=2,
        user="user-1",
        metadata={"team": "e2e"},
        store=False,
        service_tier="auto",
        safety_identifier="s-1",
        prompt_cache_key="k-1",
        seed=3,
        stop=["\n\n"],
        presence_penalty=0.1,
        frequency_penalty=0.1,
    )
    assert resp.choices[0].message.content
    assert resp.usage is not None and resp.usage.completion_tokens <= 2


def test_raw_usage_null_on_every_other_chunk(stack: Stack, raw: httpx2.Client) -> None:
    r = raw.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {stack.key}"},
        json={
            "model": MODEL,
            "messages": MESSAGES,
            "max_tokens": 4,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events, _ = parse_sse(r.content)
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]
    for c in chunks[:-1]:
        assert "usage" in c and c["usage"] is None, f"chunk without usage: null: {c}"


@pytest.mark.parametrize(
    "model", ["llama-3.1-8b-instruct", "qwen-2.5-72b-instruct", "mistral-small-3-24b"]
)
def test_stream_relays_every_token(client: openai.OpenAI, model: str) -> None:
    """The simulator is deterministic: streamed and whole answers carry the same text."""
    msgs = [{"role": "user", "content": "Describe the sea, héhé ☃ 🌊."}]
    whole = client.chat.completions.create(model=model, messages=msgs, max_tokens=24, seed=5)
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=msgs,
            max_tokens=24,
            seed=5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None and whole.usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_chunked_request_body(stack: Stack, raw: httpx2.Client) -> None:
    def gen() -> Any:
        yield b'{"model": "llama-3.1-8b-instruct", '
        yield b'"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}'

    r = raw.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {stack.key}", "Content-Type": "application/json"},
        content=gen(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]


# A JSON answer shaped like each family's tool-call text.
LOOKS_LIKE_A_CALL = {
    "type": "object",
    "properties": {
        "name": {"const": "get_weather"},
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "arguments": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    "required": ["name", "parameters", "arguments"],
}


@pytest.mark.parametrize(
    "model", ["llama-3.1-8b-instruct", "qwen-2.5-72b-instruct", "mistral-small-3-24b"]
)
@pytest.mark.parametrize("with_tools", [False, True])
def test_json_schema_answer_that_looks_like_a_call(
    client: openai.OpenAI, model: str, with_tools: bool
) -> None:
    extra: dict[str, Any] = {"tools": [WEATHER_TOOL], "tool_choice": "none"} if with_tools else {}
    rf: Any = {"type": "json_schema", "json_schema": {"name": "call", "schema": LOOKS_LIKE_A_CALL}}
    for stream in (False, True):
        if stream:
            chunks = list(
                client.chat.completions.create(
                    model=model, messages=MESSAGES, response_format=rf, max_tokens=64,
                    stream=True, **extra,
                )
            )  # fmt: skip
            calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
            content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        else:
            resp = client.chat.completions.create(
                model=model, messages=MESSAGES, response_format=rf, max_tokens=64, **extra
            )
            calls = resp.choices[0].message.tool_calls or []
            content = resp.choices[0].message.content or ""
            finish = resp.choices[0].finish_reason
        where = f"{model} stream={stream} tools={with_tools}"
        assert not calls, f"{where}: JSON content turned into a tool call"
        assert finish in {"stop", "length"}, where
        assert json.loads(content)["name"] == "get_weather", where


def test_logprobs_are_honoured_or_refused(client: openai.OpenAI) -> None:
    """Asked for logprobs, a client gets them, or a 400 naming the field; never a silent null."""
    try:
        resp = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=3, logprobs=True, top_logprobs=2
        )
    except openai.BadRequestError as exc:
        assert isinstance(exc.body, dict) and exc.body["param"] in {"logprobs", "top_logprobs"}
        return
    lp = resp.choices[0].logprobs
    assert lp is not None and lp.content, "logprobs were asked for and silently dropped"
    assert resp.usage is not None and len(lp.content) == resp.usage.completion_tokens
    assert all(len(t.top_logprobs) == 2 for t in lp.content)


@pytest.mark.parametrize("family", sorted(CHAT_FAMILIES))
def test_a_developer_message_is_the_system_message(client: openai.OpenAI, family: str) -> None:
    """The simulator renders each family's template: a `developer` turn was a turn of its
    own beside Llama's and Qwen's default system prompt, and unrenderable for Mistral's.
    OpenAI's chat models read it as the system message: the worker now renders exactly
    that (the same prompt, so the same usage)."""

    def prompt_tokens(role: str) -> int:
        resp = client.chat.completions.create(
            model=CHAT_FAMILIES[family],
            messages=[
                {"role": role, "content": "Answer in French."},
                {"role": "user", "content": "hi"},
            ],  # type: ignore[misc, list-item]
            max_tokens=1,
        )
        assert resp.usage is not None
        return resp.usage.prompt_tokens

    assert prompt_tokens("developer") == prompt_tokens("system")
