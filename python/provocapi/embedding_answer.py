"""A worker's embeddings (base64 float32) → the client's answer.

Truncation and renormalisation (Matryoshka `dimensions`) run in the core, and
so does writing a vector as JSON floats (`encoding_format: "float"`): each
value in its shortest float32 text, placed into the answer as a ready JSON
fragment. A float answer costs about 11 bytes per value and no Python float
objects (they cost 32 bytes each, and 30,000 inputs once held 2.6 GB).
A body that is not what the protocol says raises `_core.UpstreamFormatError`
(the proxy answers 502); anything else is a bug and propagates as itself.
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


def _parse(body: bytes) -> tuple[list[bytes], int, int]:
    """The worker's vectors (in index order) and usage; UpstreamFormatError on garbage."""
    try:
        data = orjson.loads(body)
        items = sorted(data["data"], key=lambda d: d["index"])
        vectors = [_vector(item) for item in items]
        usage = data.get("usage") or {}
        prompt = int(usage.get("prompt_tokens", 0))
        total = int(usage.get("total_tokens", prompt))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # binascii.Error too
        raise _core.UpstreamFormatError(f"{type(exc).__name__}: {exc}") from None
    if any(len(raw) % 4 for raw in vectors):
        raise _core.UpstreamFormatError("embedding byte length is not a multiple of 4")
    return vectors, prompt, total


def answer(body: bytes, public_id: str, dims: int | None, as_base64: bool) -> tuple[bytes, int]:
    """Returns the OpenAI body and the prompt tokens."""
    vectors, prompt, total = _parse(body)
    out_items = []
    for i, raw in enumerate(vectors):
        if dims is not None:
            raw = _core.embedding_truncate(raw, dims)
        emb: object = (
            base64.b64encode(raw).decode()
            if as_base64
            else orjson.Fragment(_core.embedding_json(raw))
        )
        out_items.append({"object": "embedding", "index": i, "embedding": emb})
    out = orjson.dumps(
        {
            "object": "list",
            "data": out_items,
            "model": public_id,
            "usage": {"prompt_tokens": prompt, "total_tokens": total},
        }
    )
    return out, prompt
