"""File-level validation: one model per batch, whatever name each line gives it."""

from __future__ import annotations

import orjson
from provocapi.batch.validate import check

CHAT = "/v1/chat/completions"
ALIASES = {"gpt-4o-mini": "llama-3.1-8b-instruct"}


def _line(custom_id: str, model: str) -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": CHAT, "body": body})


def _canonical(name: str) -> str:
    return ALIASES.get(name, name)


def test_an_alias_and_its_model_id_are_one_model() -> None:
    """A file naming llama-3.1-8b-instruct on one line and its alias gpt-4o-mini on the
    next failed as model_mismatch, though every line runs on the same model."""
    lines = [_line("a", "gpt-4o-mini"), _line("b", "llama-3.1-8b-instruct")]
    assert check(lines, CHAT, 10, _canonical).errors == []


def test_two_models_are_still_a_mismatch() -> None:
    lines = [_line("a", "gpt-4o-mini"), _line("b", "qwen-2.5-72b-instruct")]
    checked = check(lines, CHAT, 10, _canonical)
    assert [(e["code"], e["line"]) for e in checked.errors] == [("model_mismatch", 2)]
