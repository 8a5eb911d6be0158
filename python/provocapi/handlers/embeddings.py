"""POST /v1/embeddings: forwarded as base64, truncated by the core when asked."""

from __future__ import annotations

import base64
import binascii
from array import array
from typing import Any

import orjson

from .. import _core
from ..asgi import Request
from ..decoding import decode
from ..errors import ApiError
from ..gateway import Gateway
from ..proxy import pick_worker
from ..request_policy import plan_embedding
from ..schemas import EmbeddingRequest
from ..upstream import bad_gateway, read_body, worker_error


async def embeddings(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    ereq = decode(await req.body(gw.max_body), EmbeddingRequest)
    res = gw.catalog.resolve(ereq.model, key)
    m = res.model
    if m.kind != "embedding":
        raise ApiError(
            404,
            f"The model '{m.id}' is not an embedding model and not supported in the "
            "v1/embeddings endpoint.",
            code="model_not_supported",
            param="model",
        )
    req.extra_headers.append((b"x-provocapi-model", m.id.encode()))
    plan = plan_embedding(ereq, res)
    worker = pick_worker(gw, req, res)
    timeout = m.request_timeout_s or gw.cfg.server.request_timeout_s
    worker.in_flight += 1
    try:
        resp = await gw.upstream.post(worker.url + "/v1/embeddings", plan.body, timeout)
        body = await read_body(resp)
    finally:
        worker.in_flight -= 1
    if resp.status != 200:
        gw.telemetry.upstream_error(m.id, f"http_{resp.status}")
        raise worker_error(resp.status, body, gw.cfg.server.retry_after_s)
    try:
        out = _answer(body, res.public_id, plan.dimensions, plan.base64)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        gw.telemetry.upstream_error(m.id, "garbage")
        raise bad_gateway(f"the worker's embeddings are not valid ({exc})") from None
    await req.respond(200, out)
    return m.id


def _vector(item: Any) -> bytes:
    emb = item["embedding"]
    if isinstance(emb, str):
        return base64.b64decode(emb, validate=True)
    if isinstance(emb, list):  # a worker that ignored encoding_format
        return array("f", emb).tobytes()
    raise ValueError("embedding is neither base64 nor a list")


def _answer(body: bytes, public_id: str, dims: int | None, as_base64: bool) -> bytes:
    data = orjson.loads(body)
    items = sorted(data["data"], key=lambda d: d["index"])
    out_items = []
    for i, item in enumerate(items):
        raw = _vector(item)
        if len(raw) % 4:
            raise ValueError("embedding byte length is not a multiple of 4")
        if dims is not None:
            raw = _core.embedding_truncate(raw, dims)
        emb: object = base64.b64encode(raw).decode() if as_base64 else array("f", raw).tolist()
        out_items.append({"object": "embedding", "index": i, "embedding": emb})
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens", 0))
    return orjson.dumps(
        {
            "object": "list",
            "data": out_items,
            "model": public_id,
            "usage": {
                "prompt_tokens": prompt,
                "total_tokens": int(usage.get("total_tokens", prompt)),
            },
        }
    )
