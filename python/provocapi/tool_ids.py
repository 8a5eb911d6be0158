"""Tool-call ids in a conversation's history, made acceptable to Mistral's template.

Mistral's chat template raises unless every `tool_calls[].id` and `tool_call_id`
is exactly 9 alphanumerics; OpenAI, other providers and other families use
longer ids (`call_` + 24). Ids that do not fit are mapped onto 9 base-62 digits
of a hash of the id, so within a request the same id always becomes the same
one (a call and its result stay paired); two ids that would meet are told
apart by salting the hash again. Ids that already fit are kept.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def fits(value: object) -> bool:
    return isinstance(value, str) and MISTRAL_ID.fullmatch(value) is not None


def _base62(original: str, salt: int) -> str:
    digest = hashlib.blake2b(f"{salt}:{original}".encode(), digest_size=8).digest()
    n = int.from_bytes(digest, "big")
    out = []
    for _ in range(9):  # 62^9 < 2^64: every digit drawn from the hash
        n, d = divmod(n, 62)
        out.append(_DIGITS[d])
    return "".join(out)


def _ids(messages: list[dict[str, Any]]) -> list[str]:
    """Every id the template would check, in order."""
    found: list[str] = []
    for m in messages:
        calls = m.get("tool_calls")
        if m.get("role") == "assistant" and isinstance(calls, list):
            found += [c["id"] for c in calls if isinstance(c.get("id"), str)]
        elif m.get("role") == "tool" and isinstance(m.get("tool_call_id"), str):
            found.append(m["tool_call_id"])
    return found


def mistral_history(messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The messages with every unfit id mapped; None when all fit (nothing to change)."""
    ids = _ids(messages)
    if all(fits(i) for i in ids):
        return None
    used = {i for i in ids if fits(i)}
    mapped: dict[str, str] = {}
    for original in ids:
        if original in used or original in mapped:
            continue
        salt = 0
        new = _base62(original, salt)
        while new in used:  # another id of this request has it: draw again
            salt += 1
            new = _base62(original, salt)
        used.add(new)
        mapped[original] = new
    out: list[dict[str, Any]] = []
    for m in messages:
        calls = m.get("tool_calls")
        if m.get("role") == "assistant" and isinstance(calls, list):
            m = {**m, "tool_calls": [_call(c, mapped) for c in calls]}
        elif m.get("role") == "tool" and m.get("tool_call_id") in mapped:
            m = {**m, "tool_call_id": mapped[m["tool_call_id"]]}
        out.append(m)
    return out


def _call(call: dict[str, Any], mapped: dict[str, str]) -> dict[str, Any]:
    old = call.get("id")
    return {**call, "id": mapped[old]} if isinstance(old, str) and old in mapped else call
