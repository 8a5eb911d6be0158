"""POST /v1/chat/completions and POST /v1/completions."""

from __future__ import annotations

from ..asgi import Request
from ..decoding import decode
from ..errors import ApiError
from ..gateway import Gateway
from ..proxy import forward
from ..request_policy import plan_chat, plan_completion
from ..schemas import ChatRequest, CompletionRequest


def _wrong_endpoint(model_id: str, kind: str, endpoint: str) -> ApiError:
    return ApiError(
        404,
        f"This is {'an' if kind == 'embedding' else 'a'} {kind} model and not supported in the "
        f"{endpoint} endpoint.",
        code="model_not_supported",
        param="model",
    )


async def chat_completions(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    creq = decode(await req.body(gw.max_body), ChatRequest)
    res = gw.catalog.resolve(creq.model, key)
    if res.model.kind != "chat":
        raise _wrong_endpoint(res.model.id, res.model.kind, "v1/chat/completions")
    req.extra_headers.append((b"x-provocapi-model", res.model.id.encode()))
    plan = plan_chat(creq, res)
    await forward(gw, req, res, "/v1/chat/completions", "chat", plan)
    return res.model.id


async def completions(gw: Gateway, req: Request) -> str:
    key = gw.authenticate(req)
    creq = decode(await req.body(gw.max_body), CompletionRequest)
    res = gw.catalog.resolve(creq.model, key)
    if res.model.kind == "embedding":
        raise _wrong_endpoint(res.model.id, res.model.kind, "v1/completions")
    req.extra_headers.append((b"x-provocapi-model", res.model.id.encode()))
    plan = plan_completion(creq, res)
    await forward(gw, req, res, "/v1/completions", "completion", plan)
    return res.model.id
