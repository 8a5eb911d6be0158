"""The --openai profile: a plain OpenAI-compatible provider, checked with the official SDK."""

from __future__ import annotations

import base64

import openai
import pytest

from .client import post

KEY = "sk-test-123"


@pytest.fixture
async def oai(sim):
    s = await sim("--model", "gpt-4o-mini", "--openai", "--api-key", KEY, "--output-tokens", "6")
    client = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key=KEY, max_retries=0)
    yield s, client
    await client.close()


async def test_auth(oai) -> None:
    s, _ = oai
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    r = await post(s.port, "/v1/chat/completions", body)
    assert r.status == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = await post(s.port, "/v1/chat/completions", body, headers={"authorization": "Bearer no"})
    assert r.status == 401 and r.json()["error"]["code"] == "invalid_api_key"
    bad = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    await bad.close()


async def test_chat_with_sdk_ignores_unknown_fields(oai) -> None:
    s, client = oai
    r = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"made_up_field": 1},
    )
    assert r.choices[0].finish_reason == "stop"
    assert len(r.choices[0].message.content.split()) == 6
    assert r.usage.completion_tokens == 6
    assert r._request_id and r._request_id.startswith("req_")
    raw = (
        await post(
            s.port,
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {KEY}"},
        )
    ).json()
    assert "stop_reason" not in raw["choices"][0] and "prompt_token_ids" not in raw


async def test_stream_usage_per_include_usage(oai) -> None:
    s, client = oai
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 6
    raw = await post(
        s.port,
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert not any(e.endswith(b" \n\n") for e in raw.events)
    assert all("usage" not in c for c in raw.chunks())
    assert raw.events[-1] == b"data: [DONE]\n\n"


async def test_errors_in_openai_envelope(oai) -> None:
    _, client = oai
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(openai.RateLimitError) as e:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x [sim:status=429]"}]
        )
    assert e.value.body["type"] == "rate_limit_exceeded"


async def test_tools_structured(oai) -> None:
    _, client = oai
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    r = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], tools=tools
    )
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.name == "f"


async def test_completions_and_embeddings_with_sdk(sim) -> None:
    s = await sim(
        "--model", "text-embedding-3-small", "--openai", "--embedding", "--dimensions", "16"
    )
    client = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="any", max_retries=0)
    e = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(e.data) == 2 and len(e.data[0].embedding) == 16
    raw = await client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="a", encoding_format="base64"
    )
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)
    assert len(base64.b64decode(raw.http_response.json()["data"][0]["embedding"])) == 64
    await client.close()
    c = await sim("--model", "davinci", "--openai")
    client = openai.AsyncOpenAI(base_url=c.url + "/v1", api_key="any", max_retries=0)
    r = await client.completions.create(model="davinci", prompt="hi", max_tokens=3)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3
    await client.close()


async def test_sdk_reads_trtllm_streams(sim) -> None:
    # The stray space and omitted nulls are harmless to the SDK's parser.
    s = await sim("--model", "llama-x", "--output-tokens", "5")
    client = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)
    stream = await client.chat.completions.create(
        model="llama-x",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage.completion_tokens == 5
    await client.close()


async def test_logprobs_in_openais_shape(oai) -> None:
    _, client = oai
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    r = await client.chat.completions.create(**ask, logprobs=True, top_logprobs=2)
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content and lp.refusal is None
    assert "".join(t.token for t in lp.content) == r.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 for t in lp.content)
    streamed = []
    async for chunk in await client.chat.completions.create(**ask, logprobs=True, stream=True):
        for c in chunk.choices:
            if c.logprobs is not None and c.logprobs.content:
                streamed += c.logprobs.content
    assert streamed and all(t.top_logprobs == [] for t in streamed)
    done = await client.completions.create(
        model="gpt-4o-mini", prompt="ab", echo=True, logprobs=1, max_tokens=3
    )
    clp = done.choices[0].logprobs
    assert clp is not None and clp.tokens and clp.text_offset
    # OpenAI's offsets: where each token starts in the text (after the echoed prompt)
    text = done.choices[0].text
    assert all(text[o:].startswith(t) for o, t in zip(clp.text_offset, clp.tokens, strict=True))
    assert clp.text_offset[0] == 2


# A field of the wrong type or out of range: OpenAI's 400, never a Python error (500).
BAD_CHAT = [
    ({"n": "x"}, "n", "invalid_type"),
    ({"n": 0}, "n", "integer_below_min_value"),
    ({"max_tokens": "x"}, "max_tokens", "invalid_type"),
    ({"max_completion_tokens": 1.5}, "max_completion_tokens", "invalid_type"),
    ({"temperature": "hot"}, "temperature", "invalid_type"),
    ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
    ({"top_p": -1}, "top_p", "decimal_below_min_value"),
    ({"stream": "yes"}, "stream", "invalid_type"),
    ({"stop": 5}, "stop", "invalid_type"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
    ({"logprobs": True, "top_logprobs": "x"}, "top_logprobs", "invalid_type"),
    ({"top_logprobs": 21}, "top_logprobs", "integer_above_max_value"),
    ({"seed": "1"}, "seed", "invalid_type"),
    ({"messages": "hi"}, "messages", "invalid_type"),
    ({"messages": [1]}, "messages[0]", "invalid_type"),
    ({"messages": [{"content": "hi"}]}, "messages[0].role", "invalid_type"),
]


@pytest.mark.parametrize(("extra", "param", "code"), BAD_CHAT)
async def test_bad_chat_fields_are_openai_400s(oai, extra, param, code) -> None:
    s, _ = oai
    auth = {"authorization": f"Bearer {KEY}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **extra}
    r = await post(s.port, "/v1/chat/completions", body, headers=auth)
    assert r.status == 400, r.body
    err = r.json()["error"]
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
    assert f"'{param}'" in err["message"]
    ok = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert (await post(s.port, "/v1/chat/completions", ok, headers=auth)).status == 200


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"prompt": 5}, "prompt", "invalid_type"),
        ({"prompt": "hi", "echo": "x"}, "echo", "invalid_type"),
        ({"prompt": "hi", "logprobs": 9}, "logprobs", "integer_above_max_value"),
        ({"prompt": "hi", "n": "2"}, "n", "invalid_type"),
    ],
)
async def test_bad_completion_fields_are_openai_400s(oai, extra, param, code) -> None:
    s, _ = oai
    r = await post(
        s.port,
        "/v1/completions",
        {"model": "gpt-4o-mini", **extra},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert r.status == 400, r.body
    err = r.json()["error"]
    assert (err["param"], err["code"]) == (param, code)


async def test_the_sdk_reads_a_bad_field_as_a_bad_request(oai) -> None:
    _, client = oai
    with pytest.raises(openai.BadRequestError) as got:
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"n": "three"},
        )
    assert got.value.param == "n" and got.value.code == "invalid_type"
