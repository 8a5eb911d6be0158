"""POST /v1/chat/completions and POST /v1/completions."""

from __future__ import annotations

from .. import pipeline
from ..asgi import Request
from ..call import Call
from ..decoding import decode
from ..error_catalog import MODEL_NOT_SUPPORTED
from ..errors import ApiError
from ..gateway import Gateway
from ..request_policy import plan_chat, plan_completion
from ..schemas import ChatRequest, CompletionRequest


def wrong_endpoint(model_id: str, kind: str, endpoint: str) -> ApiError:
    article = "an" if kind == "embedding" else "a"
    return MODEL_NOT_SUPPORTED.build(model=model_id, article=article, kind=kind, endpoint=endpoint)


async def chat_completions(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    creq = decode(await req.json_body(gw.max_body), ChatRequest)
    res = gw.catalog.resolve(creq.model, key)
    if res.model.kind != "chat":
        raise wrong_endpoint(res.model.id, res.model.kind, "v1/chat/completions")
    plan = plan_chat(creq, res)
    call = Call(
        "/v1/chat/completions", "chat", key, res, req.request_id.decode(), creq.model, plan, creq
    )
    call.stream = plan.stream
    await pipeline.run(gw, req, call)
    return res.model.id


async def completions(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    creq = decode(await req.json_body(gw.max_body), CompletionRequest)
    res = gw.catalog.resolve(creq.model, key)
    if res.model.kind == "embedding":
        raise wrong_endpoint(res.model.id, res.model.kind, "v1/completions")
    plan = plan_completion(creq, res)
    call = Call(
        "/v1/completions", "completion", key, res, req.request_id.decode(), creq.model, plan, creq
    )
    call.stream = plan.stream
    await pipeline.run(gw, req, call)
    return res.model.id
