"""Counting a prompt never raises on what the decoder accepted."""

from __future__ import annotations

from provocapi.admission.counting import message_text
from provocapi.decoding import decode
from provocapi.json_depth import MAX_DEPTH
from provocapi.schemas import ChatRequest


def test_tool_calls_with_huge_integers_and_full_depth_are_counted() -> None:
    deep = "[" * (MAX_DEPTH - 6) + "]" * (MAX_DEPTH - 6)  # body, messages, message, list, call
    body = (
        '{"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", '
        '"function": {"name": "f", "arguments": "{}"}, "n": '
        + "9" * 40
        + ', "d": '
        + deep
        + "}]}]}"
    )
    req = decode(body.encode(), ChatRequest)
    text = message_text(req.messages[0])
    assert "9" * 40 in text and '"name":"f"' in text
