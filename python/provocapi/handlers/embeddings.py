"""POST /v1/embeddings: forwarded as base64, truncated by the core when asked."""

from __future__ import annotations

from .. import pipeline
from ..asgi import Request
from ..call import Call
from ..decoding import decode
from ..gateway import Gateway
from ..request_policy import plan_embedding
from ..schemas import EmbeddingRequest
from .generate import wrong_endpoint


async def embeddings(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    ereq = decode(await req.json_body(gw.max_body), EmbeddingRequest)
    res = gw.catalog.resolve(ereq.model, key)
    if res.model.kind != "embedding":
        raise wrong_endpoint(res.model.id, res.model.kind, "v1/embeddings")
    plan = plan_embedding(ereq, res)
    call = Call(
        "/v1/embeddings", "embedding", key, res, req.request_id.decode(), ereq.model, plan, ereq
    )
    await pipeline.run(gw, req, call)
    return res.model.id
