"""One batch line as a normal call: the same decode → resolve → pipeline as the
online handlers, with a response sink in place of the HTTP client."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from .. import pipeline
from ..asgi import Message, Request
from ..call import Call
from ..decoding import decode
from ..error_catalog import INTERNAL_ERROR, MODEL_NOT_SUPPORTED, REQUEST_TOO_LARGE, invalid
from ..errors import ApiError, RetryAfter
from ..gateway import Gateway
from ..keys import KeyRecord
from ..request_policy import plan_chat, plan_completion, plan_embedding, with_priority
from ..schemas import ChatRequest, CompletionRequest, EmbeddingRequest

log = logging.getLogger("provocapi.batch")

_KIND: dict[str, tuple[str, type[Any]]] = {
    "/v1/chat/completions": ("chat", ChatRequest),
    "/v1/completions": ("completion", CompletionRequest),
    "/v1/embeddings": ("embedding", EmbeddingRequest),
}


class Answer(msgspec.Struct):
    status: int
    body: bytes
    request_id: str
    wait_s: float | None = None  # refused for now (limits, a full pool): run it again later


class _Sink:
    """Collects what the pipeline would have sent to a client."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def send(self, msg: Message) -> None:
        if msg["type"] == "http.response.body":
            self.parts.append(msg.get("body", b""))

    async def receive(self) -> Message:  # never read: the body is decoded from the line
        return {"type": "http.request", "body": b"", "more_body": False}


def _build(gw: Gateway, key: KeyRecord, endpoint: str, body: bytes, request_id: str) -> Call:
    if len(body) > gw.max_body:  # a line is a call: the limit an online body gets
        raise REQUEST_TOO_LARGE.build(limit=gw.max_body)
    kind, struct = _KIND[endpoint]
    decoded: Any = decode(body, struct)
    if getattr(decoded, "stream", None) is True:
        # a batch line's answer is one JSON body; an event stream has no place in the file
        raise invalid(
            "'stream' is not supported in a batch: remove it or set it to false.", param="stream"
        )
    res = gw.catalog.resolve(decoded.model, key)
    wrong = (res.model.kind == "embedding") != (kind == "embedding") or (
        kind == "chat" and res.model.kind != "chat"
    )
    if wrong:
        article = "an" if res.model.kind == "embedding" else "a"
        raise MODEL_NOT_SUPPORTED.build(
            model=res.model.id, article=article, kind=res.model.kind, endpoint=endpoint[1:]
        )
    if kind == "chat":
        plan: Any = with_priority(plan_chat(decoded, res), res.model.batch_priority)
    elif kind == "completion":
        plan = with_priority(plan_completion(decoded, res), res.model.batch_priority)
    else:
        plan = plan_embedding(decoded, res)
    call = Call(endpoint, kind, key, res, request_id, decoded.model, plan, decoded)
    call.stream = bool(getattr(plan, "stream", False))
    return call


def _wait_s(err: ApiError) -> float | None:
    """A refusal that passes (429 for a limit, 503 for a busy pool) is waited out."""
    if err.status not in (429, 503) or err.retry_after is RetryAfter.NONE:
        return None
    if isinstance(err.retry_after, int):
        return float(min(max(err.retry_after, 1), 10))
    return 1.0


async def run_line(
    gw: Gateway, key: KeyRecord, endpoint: str, body: bytes, event_id: str, batch_id: str
) -> Answer:
    sink = _Sink()
    scope = {"type": "http", "method": "POST", "path": endpoint, "headers": []}
    req = Request(scope, sink.receive, sink.send)
    request_id = req.request_id.decode()
    try:
        call = _build(gw, key, endpoint, body, request_id)
        call.event_id = event_id  # (batch, line): a re-run replaces its usage
        call.batch_id = batch_id
        await pipeline.run(gw, req, call)
    except ApiError as err:
        return Answer(err.status, err.body(), request_id, _wait_s(err))
    except Exception:
        log.exception("batch line failed inside the gateway")
        bug = INTERNAL_ERROR.build(request_id=request_id)
        return Answer(bug.status, bug.body(), request_id)
    return Answer(req.reply.status or 200, b"".join(sink.parts), request_id)
