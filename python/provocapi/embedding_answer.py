"""A worker's embeddings (base64 float32) → the client's answer.

Truncation and renormalisation (Matryoshka `dimensions`) run in the core, and
so does writing a vector as JSON floats (`encoding_format: "float"`): each
value in its shortest float32 text, placed into the answer as a ready JSON
fragment. A float answer costs about 11 bytes per value and no Python float
objects (they cost 32 bytes each, and 30,000 inputs once held 2.6 GB).
"""

from __future__ import annotations

import base64
from array import array
from typing import Any

import orjson

from . import _core


def _vector(item: Any) -> bytes:
    emb = item["embedding"]
    if isinstance(emb, str):
        return base64.b64decode(emb, validate=True)
    if isinstance(emb, list):  # a worker that ignored encoding_format
        return array("f", emb).tobytes()
    raise ValueError("embedding is neither base64 nor a list")


def answer(body: bytes, public_id: str, dims: int | None, as_base64: bool) -> tuple[bytes, int]:
    """Returns the OpenAI body and the prompt tokens. ValueError/KeyError/TypeError on garbage."""
    data = orjson.loads(body)
    items = sorted(data["data"], key=lambda d: d["index"])
    out_items = []
    for i, item in enumerate(items):
        raw = _vector(item)
        if len(raw) % 4:
            raise ValueError("embedding byte length is not a multiple of 4")
        if dims is not None:
            raw = _core.embedding_truncate(raw, dims)
        emb: object = (
            base64.b64encode(raw).decode()
            if as_base64
            else orjson.Fragment(_core.embedding_json(raw))
        )
        out_items.append({"object": "embedding", "index": i, "embedding": emb})
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens", 0))
    total = int(usage.get("total_tokens", prompt))
    out = orjson.dumps(
        {
            "object": "list",
            "data": out_items,
            "model": public_id,
            "usage": {"prompt_tokens": prompt, "total_tokens": total},
        }
    )
    return out, prompt
