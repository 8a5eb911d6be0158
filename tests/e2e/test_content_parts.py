"""Content parts through the SDK: text parts are read, every other kind is a 400 naming it."""

from __future__ import annotations

from typing import Any

import openai
import pytest

MODEL = "llama-3.1-8b-instruct"

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
FILE = {"type": "file", "file": {"file_id": "file-abc"}}
UNKNOWN = {"type": "hologram", "hologram": {}}


def test_text_parts_are_read(client: openai.OpenAI) -> None:
    parts = [{"type": "text", "text": "Say"}, {"type": "text", "text": "hi."}]
    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": parts}], max_tokens=4
    )
    assert resp.choices[0].message.content


@pytest.mark.parametrize("part", [IMAGE, AUDIO, FILE, UNKNOWN], ids=lambda p: p["type"])
@pytest.mark.parametrize("stream", [False, True])
def test_other_parts_are_refused_by_name(
    client: openai.OpenAI, part: dict[str, Any], stream: bool
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]},
    ]
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4, stream=stream)
    err = ei.value.body
    assert isinstance(err, dict)
    assert err["code"] == "unsupported_content"
    assert err["param"] == "messages[1].content[1].type"
    assert part["type"] in err["message"]


def test_a_tool_result_with_an_image_is_refused(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "Look."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "see", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": [IMAGE]},
    ]  # fmt: skip
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4)
    assert isinstance(ei.value.body, dict)
    assert ei.value.body["param"] == "messages[2].content[0].type"
