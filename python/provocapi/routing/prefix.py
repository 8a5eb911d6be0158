"""The conversation prefix a call shares with its earlier turns, as the core's hash.

Chat: the messages up to and including the first user message (system prompt
and opening question stay the same on every turn of a conversation), or the
client's `prompt_cache_key` when it sends one (OpenAI's own cache hint).
Completions: the start of the prompt. Only the first `limit` bytes count.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._core import messages_prefix_hash, prefix_hash

_encode = msgspec.json.Encoder().encode


def prefix_of(request: Any, limit: int) -> int:
    if request is None:
        return 0
    key = getattr(request, "prompt_cache_key", None)
    if isinstance(key, str) and key:
        return prefix_hash(b"k:" + key.encode()[:limit])
    messages = getattr(request, "messages", None)
    if isinstance(messages, list) and messages:
        # the usual head (objects of strings) hashed in the core, in one pass: the
        # same bytes as the encoding below, so the same hash
        plain = messages_prefix_hash(messages, limit)
        if plain is not None:
            return plain
        head: list[Any] = []
        for m in messages:
            head.append(m)
            if isinstance(m, dict) and m.get("role") == "user":
                break
        try:
            return prefix_hash(_encode(head)[:limit])
        except (TypeError, msgspec.EncodeError):
            return 0
    prompt = getattr(request, "prompt", None)
    if isinstance(prompt, str) and prompt:
        return prefix_hash(prompt.encode()[:limit])
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return prefix_hash(prompt[0].encode()[:limit])
    return 0
