"""Prompt tokens of a call, before any worker sees it.

`Counter` counts with the served model's tokenizer in the core (chat prompts
through the family's template); a model without one falls back to the
documented estimate (docs/config.md, `tokenizer`): one token per 4 UTF-8
bytes, rounded up, plus a few tokens per message. An estimate is flagged, so
the context guard trusts only exact counts and metrics show how often the
fallback served.

Counting runs in two steps: `Counter.gather` collects the texts a call's
prompt is made of (Python work, on the event loop), and `Prompt.total` /
`Prompt.per_input` run the tokenizer, bounded by a limit: past it counting
stops (a 16 MB prompt costs what its first `limit` tokens cost). The gate
runs a large prompt's count on a thread, where the core releases the GIL.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

from .._core import Tokenizer
from ..call import Call
from ..config import Config
from ..error_catalog import invalid
from ..request_shapes import token_arrays
from .vocabularies import load

PER_MESSAGE = 4  # role header and end-of-turn tokens, about what every family spends
PER_REQUEST = 3  # the assistant header the template opens for the answer

# msgspec, not orjson: a client's tool call may hold integers past 64 bits,
# which orjson refuses to encode.
_encode = msgspec.json.Encoder().encode


def estimate_text(text: str) -> int:
    size = len(text) if text.isascii() else len(text.encode())  # isascii: O(1), no copy
    return (size + 3) // 4


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


def token_ids_lens(prompt: list[Any]) -> list[int] | None:
    """A prompt given as token ids (one list of them, or lists of them): the length
    of each input, counted as it stands."""
    if prompt and all(isinstance(x, int) for x in prompt):
        return [len(prompt)]
    if prompt and all(isinstance(x, list) for x in prompt):
        return [len(x) for x in prompt]
    return None


def ids_in_vocabulary(prompt: list[Any], id_end: int, param: str) -> None:
    """A prompt given as ids names tokens of the model's vocabulary: a larger id would
    have the worker index past its embedding table (on a GPU, an out-of-range index
    can take the worker down). Negative ids were refused with the request's shape."""
    for where, ids in token_arrays(prompt, param):
        top = max(ids, default=-1)  # empty arrays were refused with the shape
        if top >= id_end:
            raise invalid(
                f"Invalid '{where}': token id {top} is not in the model's vocabulary "
                f"(ids 0 to {id_end - 1}).",
                param=where,
            )


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


def role_text_pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each message as (role, the text the gateway renders of it)."""
    return [(str(m.get("role", "")), message_text(m)) for m in messages]


class Prompt:
    """A call's prompt as the tokenizer takes it: chat messages (role, text) and
    tool texts, or plain texts, or inputs given as token ids.

    A chat prompt with a template may come as the request's own `messages`: the core
    reads plain ones (a string role and content, no tool calls) itself, and the
    (role, text) pairs are made here only when one is not plain."""

    __slots__ = ("family", "ids", "messages", "pairs", "texts", "tok", "tools")

    def __init__(
        self,
        tok: Tokenizer | None,
        family: str | None,
        pairs: list[tuple[str, str]] | None,
        tools: list[str],
        texts: list[str],
        ids: list[int] | None,  # lengths of inputs given as token ids: counted as they stand
        messages: list[dict[str, Any]] | None = None,  # with `tok` and `family`, no `pairs`
    ) -> None:
        self.tok = tok
        self.family = family
        self.pairs = pairs
        self.tools = tools
        self.texts = texts
        self.ids = ids
        self.messages = messages

    def _make_pairs(self, messages: list[dict[str, Any]]) -> None:
        self.messages = None
        self.pairs = role_text_pairs(messages)

    def chars(self) -> int:
        """How much text there is to tokenize (computed on demand: the hot path of a
        small prompt pays a few list walks)."""
        n = 0
        for texts in (self.texts, self.tools):
            if texts:
                n += sum(map(len, texts))
        messages = self.messages
        if messages is not None:
            plain = Tokenizer.message_chars(messages)
            if plain is not None:
                return n + plain
            self._make_pairs(messages)
        for _, text in self.pairs or ():
            n += len(text)
        return n

    def total(self, limit: int | None = None) -> tuple[int, bool]:
        """(tokens, exact). An exact count above `limit` is where counting stopped:
        the prompt has at least that many tokens."""
        messages, tok = self.messages, self.tok
        if messages is not None and tok is not None and self.family is not None:
            plain = tok.count_messages(self.family, messages, self.tools, limit)
            if plain is not None:
                return plain, True
            self._make_pairs(messages)
        if self.pairs is None:
            counts, exact = self.per_input(limit)
            return sum(counts), exact
        pairs = self.pairs
        if tok is not None and self.family is not None:
            return tok.count_chat(self.family, pairs, self.tools, limit), True
        texts = [text for _, text in pairs] + self.tools
        overhead = PER_REQUEST + PER_MESSAGE * len(pairs)
        if tok is not None:  # a tokenizer but no template: the estimate's overheads
            return overhead + sum(tok.count_batch(texts, limit)), True
        return overhead + sum(map(estimate_text, texts)), False

    def per_input(self, limit: int | None = None) -> tuple[list[int], bool]:
        """Each input's tokens (completion prompts, embedding inputs), each counted up
        to `limit` as `total` is."""
        if self.ids is not None:
            return self.ids, True
        if self.tok is None:
            return [estimate_text(t) for t in self.texts], False
        return self.tok.count_batch(self.texts, limit), True


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

    def prompt_tokens(self, call: Call, limit: int | None = None) -> tuple[int, bool]:
        return self.gather(call).total(limit)

    def gather(self, call: Call) -> Prompt:
        req = call.request
        model_id = call.res.model.id
        tok = self.tokenizers.get(model_id)
        if call.kind == "chat":
            tools = req.tools if isinstance(req.tools, list) else None
            family = self.families.get(model_id)
            if tok is None or family is None:
                family = None
            texts = tool_texts(tools, family or "") if tools else []
            if family is not None:  # the core reads the messages (pairs only if needed)
                return Prompt(tok, family, None, texts, [], None, req.messages)
            return Prompt(tok, family, role_text_pairs(req.messages), texts, [], None)
        inp = req.prompt if call.kind == "completion" else req.input
        if isinstance(inp, str):
            return Prompt(tok, None, None, [], [inp], None)
        ids = token_ids_lens(inp)
        if ids is not None:
            if tok is not None:
                ids_in_vocabulary(
                    inp, tok.id_end, "prompt" if call.kind == "completion" else "input"
                )
            return Prompt(tok, None, None, [], [], ids)
        return Prompt(tok, None, None, [], [x for x in inp if isinstance(x, str)], None)
