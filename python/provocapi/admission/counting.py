"""Prompt tokens of a call, before any worker sees it.

`Counter` counts with the served model's tokenizer when the core has one for
it; otherwise it falls back to the documented estimate (see docs/config.md,
`tokenizer`): one token per 4 UTF-8 bytes, rounded up, plus the chat template's
few tokens per message. An estimate is flagged, so the context guard trusts
only exact counts and metrics show how often the fallback served.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..call import Call

PER_MESSAGE = 4  # role header and end-of-turn tokens, about what every family spends
PER_REQUEST = 3  # the assistant header the template opens for the answer


def estimate_text(text: str) -> int:
    return (len(text.encode()) + 3) // 4


def message_text(msg: dict[str, Any]) -> str:
    """The text a chat template renders for one message (content parts, tool calls)."""
    parts: list[str] = []
    content = msg.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for p in content:
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
    calls = msg.get("tool_calls")
    if isinstance(calls, list) and calls:
        parts.append(orjson.dumps(calls).decode())
    return "".join(parts)


def token_ids_len(prompt: list[Any]) -> int | None:
    """A prompt given as token ids (or lists of them) is counted as it stands."""
    if prompt and all(isinstance(x, int) for x in prompt):
        return len(prompt)
    if prompt and all(isinstance(x, list) for x in prompt):
        return sum(len(x) for x in prompt)
    return None


class Counter:
    """Prompt tokens per call: (count, exact)."""

    def prompt_tokens(self, call: Call) -> tuple[int, bool]:
        req = call.request
        if call.kind == "chat":
            n = PER_REQUEST
            for m in req.messages:
                n += PER_MESSAGE + estimate_text(message_text(m))
            if isinstance(req.tools, list) and req.tools:
                n += estimate_text(orjson.dumps(req.tools).decode())
            return n, False
        inp = req.prompt if call.kind == "completion" else req.input
        if isinstance(inp, str):
            return estimate_text(inp), False
        ids = token_ids_len(inp)
        if ids is not None:
            return ids, True
        return sum(estimate_text(x) for x in inp if isinstance(x, str)), False
