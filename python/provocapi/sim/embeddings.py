"""Deterministic unit vectors: the same input text gives the same embedding."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from .textgen import estimate_tokens


def inputs(value: Any) -> list[str | list[int]]:
    """OpenAI's four input forms: str, list[str], list[int], list[list[int]]."""
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(v, int) for v in value):
        return [list(value)]
    return list(value)


def token_count(items: list[str | list[int]]) -> int:
    return sum(estimate_tokens(i) if isinstance(i, str) else len(i) for i in items)


def vector(item: str | list[int], dims: int) -> list[float]:
    seed = item.encode() if isinstance(item, str) else struct.pack(f"<{len(item)}q", *item)
    raw = hashlib.shake_128(seed).digest(dims * 2)
    values = struct.unpack(f"<{dims}h", raw)
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def truncate(vec: list[float], dims: int) -> list[float]:
    """Matryoshka-style: keep the first dims and renormalize."""
    head = vec[:dims]
    norm = math.sqrt(sum(v * v for v in head)) or 1.0
    return [v / norm for v in head]


def encode_base64(vec: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
