"""Logprobs through the official SDK: relayed intact, streamed and not, or refused by name."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from .test_chat import MESSAGES, MODEL, WEATHER_TOOL

PLAIN_MODEL = "llama-3.1-70b-instruct"  # its config has no logprobs capability


def test_chat_top_logprobs(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=6, logprobs=True, top_logprobs=3, seed=5
    )
    choice = resp.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    content = choice.logprobs.content
    assert "".join(t.token for t in content) == choice.message.content
    assert resp.usage is not None and len(content) == resp.usage.completion_tokens
    for t in content:
        assert t.bytes == list(t.token.encode())
        assert len(t.top_logprobs) == 3
        assert t.top_logprobs[0].token == t.token and t.top_logprobs[0].logprob == t.logprob
        assert all(a.logprob <= t.logprob for a in t.top_logprobs)


def test_chat_logprobs_without_top_have_empty_lists(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=4, logprobs=True
    )
    lp = resp.choices[0].logprobs
    assert lp is not None and lp.content and lp.refusal is None
    assert all(t.top_logprobs == [] for t in lp.content)


def test_chat_logprobs_streamed_match_the_whole_answer(client: openai.OpenAI) -> None:
    ask: dict[str, Any] = {
        "model": MODEL,
        "messages": MESSAGES,
        "max_tokens": 6,
        "logprobs": True,
        "top_logprobs": 2,
        "seed": 9,
    }
    whole = client.chat.completions.create(**ask)
    streamed = []
    text = ""
    for chunk in client.chat.completions.create(**ask, stream=True):
        if not chunk.choices:
            continue
        c = chunk.choices[0]
        text += c.delta.content or ""
        if c.logprobs is not None and c.logprobs.content:
            streamed.extend(c.logprobs.content)
    assert whole.choices[0].logprobs is not None
    want = whole.choices[0].logprobs.content or []
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in want]
    assert "".join(t.token for t in streamed) == text
    assert all(len(t.top_logprobs) == 2 for t in streamed)


def _call_ask(stream: bool) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "max_tokens": 64,
        "logprobs": True,
        "stream": stream,
    }


def test_logprobs_of_a_text_tool_call_cover_the_call_text(client: openai.OpenAI) -> None:
    """The model's call text becomes tool_calls; logprobs.content keeps every token of it."""
    resp = client.chat.completions.create(**_call_ask(False))
    msg = resp.choices[0].message
    assert msg.tool_calls and resp.choices[0].finish_reason == "tool_calls"
    assert not msg.content
    lp = resp.choices[0].logprobs
    assert lp is not None and lp.content
    raw = "".join(t.token for t in lp.content)
    assert '"get_weather"' in raw  # the text the call was parsed from
    assert resp.usage is not None and len(lp.content) == resp.usage.completion_tokens

    tokens = []
    calls = 0
    for chunk in client.chat.completions.create(**_call_ask(True)):
        for c in chunk.choices:
            calls += len(c.delta.tool_calls or [])
            if c.logprobs is not None and c.logprobs.content:
                tokens.extend(t.token for t in c.logprobs.content)
    assert calls and "".join(tokens) == raw


def test_completion_logprobs(client: openai.OpenAI) -> None:
    ask: dict[str, Any] = {"model": MODEL, "prompt": "Once upon", "max_tokens": 5, "logprobs": 2}
    resp = client.completions.create(**ask)
    lp = resp.choices[0].logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs
    assert "".join(lp.tokens) == resp.choices[0].text
    assert len(lp.text_offset or []) == len(lp.tokens) == len(lp.token_logprobs)
    for tok, value, tops in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert len(tops) == 2 and tops[tok] == value
    streamed: list[float] = []
    for chunk in client.completions.create(**ask, stream=True):
        for c in chunk.choices:
            if c.logprobs is not None:
                streamed.extend(c.logprobs.token_logprobs or [])
    assert streamed == lp.token_logprobs


def _refused(call: Any, **kw: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as exc:
        call(**kw)
    body = exc.value.body
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("stream", [False, True])
def test_refusals_name_the_parameter(client: openai.OpenAI, stream: bool) -> None:
    chat = client.chat.completions.create
    base: dict[str, Any] = {"messages": MESSAGES, "max_tokens": 2, "stream": stream}
    body = _refused(chat, model=MODEL, logprobs=True, top_logprobs=21, **base)
    assert (body["code"], body["param"]) == ("invalid_value", "top_logprobs")
    body = _refused(chat, model=MODEL, top_logprobs=2, **base)
    assert (body["code"], body["param"]) == ("invalid_value", "top_logprobs")
    body = _refused(chat, model=PLAIN_MODEL, logprobs=True, **base)
    assert (body["code"], body["param"]) == ("unsupported_parameter", "logprobs")
    body = _refused(
        client.completions.create, model=MODEL, prompt="x", max_tokens=2, logprobs=0, stream=stream
    )
    assert (body["code"], body["param"]) == ("invalid_value", "logprobs")
