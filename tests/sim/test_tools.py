"""Tool calls as each family writes them in plain text, the qwen3 parser, JSON mode."""

from __future__ import annotations

import json

import pytest

from .client import post

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["c", "f"]},
            },
            "required": ["city"],
        },
    },
}
CLOCK = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}


def ask(**kw: object) -> dict[str, object]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [WEATHER, CLOCK],
        **kw,
    }


def _check_args(args: dict[str, object], names: set[str]) -> None:
    assert set(args) == names
    if "days" in args:
        assert isinstance(args["days"], int) and args["unit"] in ("c", "f")


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("llama-3.1-8b-instruct", "llama3"),
        ("Qwen2.5-7B-Instruct", "qwen2"),
        ("mistral-7b-instruct", "mistral"),
    ],
)
async def test_tool_call_as_plain_content(sim, model: str, family: str) -> None:
    s = await sim("--model", model)
    r = (await post(s.port, "/v1/chat/completions", ask())).json()
    choice = r["choices"][0]
    assert choice["message"]["tool_calls"] == [] and choice["finish_reason"] == "stop"
    text = choice["message"]["content"]
    if family == "llama3":
        call = json.loads(text)
        assert list(call) == ["name", "parameters"] and call["name"] == "get_weather"
        _check_args(call["parameters"], {"city", "days", "unit"})
    elif family == "qwen2":
        assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>")
        call = json.loads(text[len("<tool_call>\n") : -len("\n</tool_call>")])
        assert list(call) == ["name", "arguments"] and call["name"] == "get_weather"
    else:
        calls = json.loads(text)
        assert isinstance(calls, list) and calls[0]["name"] == "get_weather"
        assert list(calls[0]) == ["name", "arguments"]
    # usage counts the tokens of that text; the stream carries the same text
    stream = await post(s.port, "/v1/chat/completions", ask(stream=True, stream_options={}))
    chunks = stream.chunks()
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[1:-1]) == text
    assert chunks[-1]["usage"]["completion_tokens"] == r["usage"]["completion_tokens"]
    assert r["usage"]["completion_tokens"] == len(chunks) - 2


async def test_family_flag_overrides_the_guess(sim) -> None:
    s = await sim("--model", "llama-3.1-8b-instruct", "--family", "mistral")
    text = (await post(s.port, "/v1/chat/completions", ask())).json()["choices"][0]["message"]
    assert text["content"].startswith('[{"name": "get_weather"')


async def test_tool_choice_none_and_tool_result_answer_in_text(sim) -> None:
    s = await sim("--model", "llama-3.1-8b-instruct")
    r = (await post(s.port, "/v1/chat/completions", ask(tool_choice="none"))).json()
    assert not r["choices"][0]["message"]["content"].startswith("{")
    body = ask()
    body["messages"] = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": '{"name": "get_weather", "parameters": {}}'},
        {"role": "tool", "content": "sunny", "tool_call_id": "1"},
    ]
    r = (await post(s.port, "/v1/chat/completions", body)).json()
    assert not r["choices"][0]["message"]["content"].startswith("{")


async def test_named_tool_choice_is_structured_even_without_parser(sim) -> None:
    # trtllm wraps the whole output as the named function's arguments (no tool parser).
    s = await sim("--model", "llama-3.1-8b-instruct")
    named = {"type": "function", "function": {"name": "get_time"}}
    r = (await post(s.port, "/v1/chat/completions", ask(tool_choice=named))).json()
    choice = r["choices"][0]
    msg = choice["message"]
    assert msg["content"] == "" and msg["reasoning_content"] is None
    (call,) = msg["tool_calls"]
    assert call["id"].startswith("chatcmpl-tool-") and call["type"] == "function"
    assert call["function"]["name"] == "get_time"
    assert set(json.loads(call["function"]["arguments"])) == {"zone"}
    assert choice["finish_reason"] == "stop"  # not "tool_calls": no parser saw a call
    stream = await post(s.port, "/v1/chat/completions", ask(tool_choice=named, stream=True))
    deltas = [c["choices"][0]["delta"] for c in stream.chunks()[1:]]
    assert all(list(d) == ["tool_calls"] for d in deltas)
    calls = [d["tool_calls"][0] for d in deltas]
    # every delta repeats the name and none carries an id
    assert all(
        c
        == {
            "type": "function",
            "index": 0,
            "function": {"name": "get_time", "arguments": c["function"]["arguments"]},
        }
        for c in calls
    )
    assert "".join(c["function"]["arguments"] for c in calls) == call["function"]["arguments"]


async def test_qwen3_parser_structured(sim) -> None:
    s = await sim("--model", "Qwen2.5-7B-Instruct", "--tool-parser", "qwen3")
    r = (await post(s.port, "/v1/chat/completions", ask())).json()
    choice = r["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == ""
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("chatcmpl-tool-") and call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    _check_args(args, {"city", "days", "unit"})

    stream = await post(s.port, "/v1/chat/completions", ask(stream=True, stream_options={}))
    chunks = stream.chunks()
    named = [
        c
        for c in chunks[1:-1]
        if c["choices"][0]["delta"].get("tool_calls")
        and "id" in c["choices"][0]["delta"]["tool_calls"][0]
    ]
    assert len(named) == 1
    first = named[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    fragments = "".join(
        c["choices"][0]["delta"]["tool_calls"][0]["function"].get("arguments", "")
        for c in chunks[1:-1]
        if c["choices"][0]["delta"].get("tool_calls")
    )
    assert json.loads(fragments) == args
    assert all(c["choices"][0]["delta"]["content"] == "" for c in chunks[1:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == len(chunks) - 2


async def test_qwen3_parser_only_applies_to_qwen_text(sim) -> None:
    s = await sim("--model", "llama-3.1-8b-instruct", "--tool-parser", "qwen3")
    r = (await post(s.port, "/v1/chat/completions", ask())).json()
    assert r["choices"][0]["message"]["tool_calls"] == []


@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "json_object"},
        {
            "type": "json",
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            },
        },
        {
            "type": "json_schema",
            "json_schema": {
                "name": "person",
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                },
            },
        },
    ],
)
async def test_json_mode(sim, fmt: dict[str, object]) -> None:
    s = await sim("--model", "m")
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "a person"}],
        "response_format": fmt,
    }
    r = (await post(s.port, "/v1/chat/completions", body)).json()
    value = json.loads(r["choices"][0]["message"]["content"])
    assert isinstance(value, dict)
    if fmt["type"] != "json_object":
        assert set(value) == {"name", "age"} and isinstance(value["age"], int)
    c = (
        await post(
            s.port, "/v1/completions", {"model": "m", "prompt": "a person", "response_format": fmt}
        )
    ).json()
    assert isinstance(json.loads(c["choices"][0]["text"]), dict)
