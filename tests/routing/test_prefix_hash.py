"""The conversation prefix hashed in the core gives the hash of msgspec's encoding."""

from __future__ import annotations

import random
from typing import Any

import msgspec
from provocapi._core import messages_prefix_hash, prefix_hash
from provocapi.routing.prefix import prefix_of
from provocapi.schemas import ChatRequest

_encode = msgspec.json.Encoder().encode

# every character msgspec escapes, and some it writes as they are
ALPHABET = [chr(c) for c in range(0x80)] + ["é", "✓", "\u2028", "\ufeff", "😀"]


def _by_msgspec(messages: list[Any], limit: int) -> int:
    head: list[Any] = []
    for m in messages:
        head.append(m)
        if isinstance(m, dict) and m.get("role") == "user":
            break
    return prefix_hash(_encode(head)[:limit])


def _text(rng: random.Random, most: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, most)))


def test_core_hash_equals_the_hash_of_msgspec_s_encoding() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        messages: list[Any] = []
        for _ in range(rng.randint(1, 4)):
            m = {"role": rng.choice(["system", "user", "assistant", "developer"])}
            m["content"] = _text(rng, 60)
            if rng.random() < 0.2:
                m["name"] = _text(rng, 6)
            messages.append(m)
        limit = rng.choice([1, 2, 9, 40, 100, 2048])
        assert messages_prefix_hash(messages, limit) == _by_msgspec(messages, limit)


def test_other_heads_are_left_to_the_encoder() -> None:
    for messages in (
        [],
        [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        [{"role": "system", "content": None}, {"role": "user", "content": "x"}],
        ["text"],
        [{"role": "user", "content": "\ud800"}],  # msgspec cannot encode it either
    ):
        assert messages_prefix_hash(messages, 2048) is None


def test_prefix_of_is_unchanged_for_any_head() -> None:
    plain = [{"role": "system", "content": "s"}, {"role": "user", "content": "q\n"}]
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    for messages in (plain, parts, [*plain, {"role": "assistant", "content": None}]):
        req = ChatRequest(model="m", messages=messages)
        assert prefix_of(req, 2048) == _by_msgspec(messages, 2048)
    # past the first user message nothing counts, whatever it holds
    tail = [*plain, {"role": "assistant", "content": None, "tool_calls": [{"id": 1}]}]
    assert prefix_of(ChatRequest(model="m", messages=tail), 2048) == _by_msgspec(plain, 2048)
