"""How deeply a request body nests arrays and objects, and where it goes too deep.

Free-form fields (`messages[].x`, `tools`, `prompt`, `input`) take any JSON.
Without a limit a few KB of `[[[[` reach the recursion limits of the decoder
(about 1000 levels) or of orjson (255 levels) somewhere after decoding, as a
500. A body may nest at most `MAX_DEPTH` levels, the body object being level 1
(docs/config.md); the check runs on bodies the decoder accepted, so every
string in the scanned text is terminated and the scans stay linear.
"""

from __future__ import annotations

import re

import msgspec

from ._core import json_depth_exceeds

MAX_DEPTH = 64

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]', re.DOTALL)
_OBJ, _ARR, _OBJ_END, _ARR_END, _COMMA = b"{[}],"
_PARAM_SEGMENTS = 3  # "messages", "[0]", ".x": deeper ones add nothing for a client


def depth_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether a body the decoder accepted nests more than `limit` levels (in the core:
    one SIMD search answers the usual body, whose brackets are fewer than `limit`;
    two `bytes.count` scans cost ~10k instructions a request)."""
    return json_depth_exceeds(body, limit)


def deep_param(body: bytes, limit: int = MAX_DEPTH) -> str | None:
    """The parameter whose value first goes past `limit` levels ("messages[0].x").

    Reads only up to that point, which the decoder has parsed before it stopped
    or succeeded: valid JSON, whatever follows.
    """
    objects: list[bool] = []  # per open container: is it an object (else an array)
    at: list[str | int] = []  # and its current key or index
    want_key = False
    for m in _TOKEN.finditer(body):
        tok = m.group()
        c = tok[0]
        if c == _OBJ or c == _ARR:
            objects.append(c == _OBJ)
            at.append("" if c == _OBJ else 0)
            want_key = c == _OBJ
            if len(objects) > limit:
                return _path(objects, at) or None
        elif c == _OBJ_END or c == _ARR_END:
            if objects:
                objects.pop()
                at.pop()
            want_key = False
        elif not objects:
            continue
        elif c == _COMMA:
            i = at[-1]
            if isinstance(i, int):
                at[-1] = i + 1
            else:
                want_key = True
        elif want_key:  # a string where an object expects a key
            at[-1] = _key(tok)
            want_key = False
    return None


def _key(token: bytes) -> str:
    try:
        key = msgspec.json.decode(token)
    except msgspec.DecodeError:
        return "?"
    return key if isinstance(key, str) else "?"


def _path(objects: list[bool], at: list[str | int]) -> str:
    # up to the last field name among the first segments: "messages[0].x", "prompt"
    parts: list[str] = []
    named = 0
    for is_object, where in zip(objects[:_PARAM_SEGMENTS], at, strict=False):
        if not is_object:
            parts.append(f"[{where}]")
        else:
            parts.append(f".{where}" if parts else str(where))
            named = len(parts)
    return "".join(parts[:named])
