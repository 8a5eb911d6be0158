"""Probes outside chat's body: the X-Request-Id echo, embeddings (float, base64,
dimensions), /v1/responses, and a provoked 429's headers."""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .context import Ctx
from .verdicts import (
    BROKEN,
    IGNORED,
    REFUSED,
    SKIPPED,
    WORKS,
    Outcome,
    envelope,
    not_ok,
    short,
    unmeasured,
)
from .wire import Reply

EMBED_INPUT = ["The quick brown fox.", "Le renard brun rapide."]


def request_id(ctx: Ctx) -> Outcome:
    rid = "probe-" + os.urandom(6).hex()
    reply = ctx.chat({"max_tokens": 4}, headers={"x-request-id": rid})
    if reply.status == 0 or reply.status >= 500:
        return not_ok("request_id", reply, ()) or Outcome("request_id", BROKEN, "?")
    got = reply.headers.get("x-request-id")
    if got == rid:
        return Outcome("request_id", WORKS, f"x-request-id {rid} echoed")
    if got is None:
        return Outcome("request_id", IGNORED, "no x-request-id in the answer")
    return Outcome("request_id", IGNORED, f"sent {rid}, answered its own {got}")


def _embed(ctx: Ctx, extra: dict[str, Any]) -> Reply:
    body = {"model": ctx.embedding_model, "input": EMBED_INPUT, **extra}
    return ctx.ep.post("/embeddings", body)


def _vectors(body: dict[str, Any]) -> list[Any] | str:
    data = body.get("data")
    if not isinstance(data, list) or len(data) != len(EMBED_INPUT):
        return f"data holds {len(data) if isinstance(data, list) else 'no'} items, not 2"
    vecs = [d.get("embedding") if isinstance(d, dict) else None for d in data]
    return vecs


def _skip(probe: str) -> Outcome:
    return Outcome(probe, SKIPPED, "no embedding model (--embedding-model)")


def embeddings_float(ctx: Ctx) -> Outcome:
    if not ctx.embedding_model:
        return _skip("embeddings_float")
    reply = _embed(ctx, {})
    if out := not_ok("embeddings_float", reply, ()):
        return out
    vecs = _vectors(reply.json())
    if isinstance(vecs, str):
        return Outcome("embeddings_float", BROKEN, vecs)
    for v in vecs:
        if not isinstance(v, list) or not v or not all(isinstance(x, (int, float)) for x in v):
            return Outcome("embeddings_float", BROKEN, "an embedding is not a list of numbers")
    ctx.embedding_dims = len(vecs[0])
    return Outcome("embeddings_float", WORKS, f"2 vectors of {len(vecs[0])} floats")


def embeddings_base64(ctx: Ctx) -> Outcome:
    if not ctx.embedding_model:
        return _skip("embeddings_base64")
    reply = _embed(ctx, {"encoding_format": "base64"})
    if out := not_ok("embeddings_base64", reply, ("encoding_format", "base64")):
        return out
    vecs = _vectors(reply.json())
    if isinstance(vecs, str):
        return Outcome("embeddings_base64", BROKEN, vecs)
    if isinstance(vecs[0], list):
        return Outcome("embeddings_base64", IGNORED, "base64 asked, floats answered")
    try:
        raw = base64.b64decode(str(vecs[0]), validate=True)
    except (binascii.Error, ValueError):
        return Outcome("embeddings_base64", BROKEN, "the embedding is not base64")
    if len(raw) % 4 or (ctx.embedding_dims and len(raw) // 4 != ctx.embedding_dims):
        return Outcome(
            "embeddings_base64", BROKEN, f"{len(raw)} bytes: not {ctx.embedding_dims} float32"
        )
    return Outcome("embeddings_base64", WORKS, f"{len(raw) // 4} little-endian float32")


def embeddings_dimensions(ctx: Ctx) -> Outcome:
    if not ctx.embedding_model:
        return _skip("embeddings_dimensions")
    full = ctx.embedding_dims or 1024
    asked = max(1, min(64, full // 2))
    reply = _embed(ctx, {"dimensions": asked})
    if out := not_ok("embeddings_dimensions", reply, ("dimensions",)):
        return out
    vecs = _vectors(reply.json())
    if isinstance(vecs, str) or not isinstance(vecs[0], list):
        return Outcome("embeddings_dimensions", BROKEN, "no float vectors in the answer")
    got = len(vecs[0])
    if got == asked:
        return Outcome("embeddings_dimensions", WORKS, f"dimensions={asked} gave {got}")
    if got == full:
        return Outcome("embeddings_dimensions", IGNORED, f"dimensions={asked} gave all {got}")
    return Outcome("embeddings_dimensions", BROKEN, f"dimensions={asked} gave {got}")


def responses_api(ctx: Ctx) -> Outcome:
    reply = ctx.ep.post("/responses", {"model": ctx.model, "input": "Say hello."})
    if reply.status == 200:
        body = reply.json()
        if isinstance(body, dict) and isinstance(body.get("output"), list):
            return Outcome("responses_api", WORKS, "a response object with output[]")
        return Outcome("responses_api", BROKEN, "200 without a response object")
    if reply.status == 0 or reply.status >= 500:
        return not_ok("responses_api", reply, ()) or Outcome("responses_api", BROKEN, "?")
    if out := unmeasured("responses_api", reply):
        return out
    err = envelope(reply.json())
    if err is None:
        text = short(reply.body.decode(errors="replace"))
        return Outcome("responses_api", BROKEN, f"HTTP {reply.status} without envelope: {text}")
    # naming the API means more than quoting the URL back
    message = re.sub(r"(/v1)?/responses\b", "", str(err["message"]), flags=re.I)
    said = f"HTTP {reply.status} {err.get('code') or err['type']}: {short(err['message'])}"
    if "responses" in message.lower() or "response api" in message.lower():
        return Outcome("responses_api", REFUSED, said)
    return Outcome("responses_api", BROKEN, f"refused without naming the API: {said}")


def rate_limit(ctx: Ctx) -> Outcome:
    if not ctx.provoke_429:
        return Outcome("rate_limit", SKIPPED, "needs --provoke-429")
    found: list[Reply] = []
    stop = threading.Event()
    sent = 0
    lock = threading.Lock()

    def one(_: int) -> None:
        nonlocal sent
        with lock:
            if stop.is_set() or sent >= ctx.max_429:
                return
            sent += 1
        reply = ctx.chat({"max_tokens": 1}, "hi")
        if reply.status == 429:
            with lock:
                found.append(reply)
            stop.set()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(ctx.max_429)))
    if not found:
        return Outcome("rate_limit", SKIPPED, f"no 429 within {sent} requests")
    r = found[0]
    retry = r.headers.get("retry-after")
    limits = sorted(h for h in r.headers if h.startswith("x-ratelimit-"))
    missing = []
    if retry is None or not re.fullmatch(r"\d+(\.\d+)?", retry.strip()):
        missing.append(f"Retry-After ({retry!r})")
    if not limits:
        missing.append("x-ratelimit-* headers")
    if envelope(r.json()) is None:
        missing.append("the error envelope")
    if missing:
        return Outcome(
            "rate_limit", BROKEN, f"429 after {sent} requests lacks {', '.join(missing)}"
        )
    return Outcome(
        "rate_limit", WORKS, f"429 after {sent} requests: Retry-After {retry}, {', '.join(limits)}"
    )
