"""Tool calls on every family: the gateway turns each family's format into OpenAI's."""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
import pydantic
import pytest

from .conftest import CHAT_FAMILIES

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current time in a time zone",
            "parameters": {
                "type": "object",
                "properties": {"tz": {"type": "string"}},
                "required": ["tz"],
            },
        },
    },
]
TOOL_NAMES = {t["function"]["name"] for t in TOOLS}
MESSAGES: list[Any] = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "What is the weather in Paris right now? Use a tool."},
]
FAMILIES = sorted(CHAT_FAMILIES.items())


def _check_tool_calls(tool_calls: Any, where: str) -> None:
    assert tool_calls, f"{where}: no tool_calls"
    ids = set()
    for call in tool_calls:
        assert call.type == "function", where
        assert call.id, f"{where}: tool call without id"
        ids.add(call.id)
        assert call.function.name in TOOL_NAMES, f"{where}: unknown tool {call.function.name}"
        args = json.loads(call.function.arguments)
        assert isinstance(args, dict), f"{where}: arguments are not a JSON object"
    assert len(ids) == len(tool_calls), f"{where}: tool call ids repeat"


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_tool_call_non_streaming(client: openai.OpenAI, family: str, model: str) -> None:
    resp = client.chat.completions.create(
        model=model, messages=MESSAGES, tools=TOOLS, max_tokens=128
    )
    choice = resp.choices[0]
    _check_tool_calls(choice.message.tool_calls, f"{family} non-streaming")
    assert choice.finish_reason == "tool_calls"
    # the raw tool-call markup never leaks into the content
    content = choice.message.content or ""
    for marker in ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", '"parameters"'):
        assert marker not in content, f"{family}: {marker} left in content: {content!r}"


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_tool_call_stream_helper(client: openai.OpenAI, family: str, model: str) -> None:
    with client.chat.completions.stream(
        model=model, messages=MESSAGES, tools=TOOLS, max_tokens=128
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    choice = final.choices[0]
    _check_tool_calls(choice.message.tool_calls, f"{family} stream helper")
    assert choice.finish_reason == "tool_calls"
    assert "tool_calls.function.arguments.done" in events
    content = choice.message.content or ""
    for marker in ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"):
        assert marker not in content, f"{family}: {marker} left in streamed content"


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_tool_call_stream_deltas(client: openai.OpenAI, family: str, model: str) -> None:
    """id, type and name only in a call's first delta; then argument fragments."""
    stream = client.chat.completions.create(
        model=model, messages=MESSAGES, tools=TOOLS, max_tokens=128, stream=True
    )
    seen: dict[int, int] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for tc in choice.delta.tool_calls or []:
                n = seen.get(tc.index, 0)
                if n == 0:
                    assert tc.id and tc.type == "function", f"{family}: first delta {tc}"
                    assert tc.function and tc.function.name in TOOL_NAMES
                else:
                    assert tc.id is None, f"{family}: id repeated in a later delta"
                    assert tc.function is None or tc.function.name is None, (
                        f"{family}: name repeated in a later delta"
                    )
                seen[tc.index] = n + 1
    assert seen, f"{family}: no tool call deltas"
    assert sorted(seen) == list(range(len(seen))), f"{family}: tool call indexes {sorted(seen)}"
    assert finish == "tool_calls"


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_tool_choice_none_gives_content(client: openai.OpenAI, family: str, model: str) -> None:
    resp = client.chat.completions.create(
        model=model, messages=MESSAGES, tools=TOOLS, tool_choice="none", max_tokens=32
    )
    choice = resp.choices[0]
    assert not choice.message.tool_calls, f"{family}: tool call despite tool_choice=none"
    assert choice.message.content
    assert choice.finish_reason in {"stop", "length"}


async def test_tool_call_async_stream_helper(aclient: openai.AsyncOpenAI) -> None:
    async with aclient.chat.completions.stream(
        model="qwen-2.5-72b-instruct", messages=MESSAGES, tools=TOOLS, max_tokens=128
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    _check_tool_calls(final.choices[0].message.tool_calls, "async qwen2")
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_result_round_trip(client: openai.OpenAI) -> None:
    """The assistant's tool call and the tool's answer go back in; the model answers."""
    first = client.chat.completions.create(
        model="llama-3.1-8b-instruct", messages=MESSAGES, tools=TOOLS, max_tokens=128
    )
    msg = first.choices[0].message
    assert msg.tool_calls
    call = msg.tool_calls[0]
    follow = [
        *MESSAGES,
        msg.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    second = client.chat.completions.create(
        model="llama-3.1-8b-instruct", messages=follow, tools=TOOLS, tool_choice="none",
        max_tokens=16,
    )  # fmt: skip
    assert second.choices[0].message.content


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_streamed_tool_call_equals_whole(client: openai.OpenAI, family: str, model: str) -> None:
    whole = client.chat.completions.create(
        model=model, messages=MESSAGES, tools=TOOLS, max_tokens=128, seed=11
    )
    with client.chat.completions.stream(
        model=model, messages=MESSAGES, tools=TOOLS, max_tokens=128, seed=11
    ) as stream:
        final = stream.get_final_completion()
    a = whole.choices[0].message.tool_calls or []
    b = final.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in a] == [
        (c.function.name, json.loads(c.function.arguments)) for c in b
    ], family


class Weather(pydantic.BaseModel):
    city: str
    unit: Literal["celsius", "fahrenheit"]


class Forecast(pydantic.BaseModel):
    city: str
    days: int
    summary: str


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_structured_output_parse(client: openai.OpenAI, family: str, model: str) -> None:
    """`parse()` with a pydantic model: strict json_schema in, a parsed object out."""
    resp = client.chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "Forecast for Paris."}],
        response_format=Forecast,
        max_tokens=128,
    )
    msg = resp.choices[0].message
    assert not msg.tool_calls, family
    assert isinstance(msg.parsed, Forecast), f"{family}: {msg.content!r}"


@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_strict_tool_parse(client: openai.OpenAI, family: str, model: str) -> None:
    """`parse()` with `pydantic_function_tool`: the arguments parse into the model."""
    resp = client.chat.completions.parse(
        model=model,
        messages=MESSAGES,
        tools=[openai.pydantic_function_tool(Weather)],
        max_tokens=128,
    )
    calls = resp.choices[0].message.tool_calls or []
    assert calls, f"{family}: no tool call"
    assert calls[0].function.name == "Weather"
    assert isinstance(calls[0].function.parsed_arguments, Weather)
    assert resp.choices[0].finish_reason == "tool_calls"
