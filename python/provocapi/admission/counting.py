"""Prompt tokens of a call, before any worker sees it.

`Counter` counts with the served model's tokenizer in the core (chat prompts
through the family's template); a model without one falls back to the
documented estimate (docs/config.md, `tokenizer`): one token per 4 UTF-8
bytes, rounded up, plus a few tokens per message. An estimate is flagged, so
the context guard trusts only exact counts and metrics show how often the
fallback served.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

from .._core import Tokenizer
from ..call import Call
from ..config import Config
from .vocabularies import load

PER_MESSAGE = 4  # role header and end-of-turn tokens, about what every family spends
PER_REQUEST = 3  # the assistant header the template opens for the answer

# msgspec, not orjson: a client's tool call may hold integers past 64 bits,
# which orjson refuses to encode.
_encode = msgspec.json.Encoder().encode


def estimate_text(text: str) -> int:
    return (len(text.encode()) + 3) // 4


def message_text(msg: dict[str, Any]) -> str:
    """The text a chat template renders for one message (content parts, tool calls)."""
    content = msg.get("content")
    if type(content) is str and not msg.get("tool_calls"):
        return content  # the common case: no list or join
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for p in content:
            if isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
    calls = msg.get("tool_calls")
    if isinstance(calls, list) and calls:
        parts.append(_encode(calls).decode())
    return "".join(parts)


def token_ids_len(prompt: list[Any]) -> int | None:
    """A prompt given as token ids (or lists of them) is counted as it stands."""
    if prompt and all(isinstance(x, int) for x in prompt):
        return len(prompt)
    if prompt and all(isinstance(x, list) for x in prompt):
        return sum(len(x) for x in prompt)
    return None


def tool_texts(tools: list[Any], family: str) -> list[str]:
    """Tool definitions as each family's template writes them (Llama: indented JSON)."""
    indent = 4 if family == "llama3" else None
    return [json.dumps(t, indent=indent, ensure_ascii=False) for t in tools]


def answer_text(body: bytes) -> str:
    """The generated text of a rewritten non-streaming answer (all choices)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    parts: list[str] = []
    for c in doc.get("choices") or []:
        if isinstance(c.get("text"), str):
            parts.append(c["text"])
        msg = c.get("message")
        if isinstance(msg, dict):
            parts.append(message_text(msg))
    return "".join(parts)


class Counter:
    """Prompt and completion tokens per call: (count, exact)."""

    def __init__(self, cfg: Config) -> None:
        self.tokenizers: dict[str, Tokenizer | None] = {m.id: load(m) for m in cfg.models}
        self.families = {m.id: m.family for m in cfg.models}

    def text(self, model_id: str, text: str) -> tuple[int, bool]:
        tok = self.tokenizers.get(model_id)
        if tok is None:
            return estimate_text(text), False
        return tok.count(text), True

    def prompt_tokens(self, call: Call) -> tuple[int, bool]:
        req = call.request
        tok = self.tokenizers.get(call.model_id)
        if call.kind == "chat":
            return self._chat(call.model_id, tok, req.messages, req.tools)
        inp = req.prompt if call.kind == "completion" else req.input
        if isinstance(inp, str):
            inp = [inp]
        ids = token_ids_len(inp)
        if ids is not None:
            return ids, True
        texts = [x for x in inp if isinstance(x, str)]
        if tok is None:
            return sum(estimate_text(x) for x in texts), False
        return sum(tok.count_batch(texts)), True

    def _chat(
        self, model_id: str, tok: Tokenizer | None, messages: list[Any], tools: Any
    ) -> tuple[int, bool]:
        tools = tools if isinstance(tools, list) else []
        family = self.families.get(model_id)
        pairs = [(str(m.get("role", "")), message_text(m)) for m in messages]
        if tok is not None and family is not None:
            return tok.count_chat(family, pairs, tool_texts(tools, family)), True
        texts = [text for _, text in pairs] + tool_texts(tools, "")
        if tok is not None:  # a tokenizer but no template: the estimate's overheads
            counts = tok.count_batch(texts)
            return PER_REQUEST + PER_MESSAGE * len(pairs) + sum(counts), True
        return PER_REQUEST + PER_MESSAGE * len(pairs) + sum(map(estimate_text, texts)), False
