"""One attempt at one worker: send the plan, relay the answer.

Bytes are parsed and rewritten by the core (`rewrite_response`, `StreamRelay`);
this module only moves them and turns failures into OpenAI errors. An error
raised before anything reached the client is `retryable` (routing may try
another worker); after the first byte it becomes the stream's error event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson

from . import _core, ids
from .asgi import ClientGone, Request
from .call import Call
from .disconnect import DisconnectGuard
from .embedding_answer import answer as embedding_answer
from .error_catalog import NO_HEALTHY_WORKER
from .errors import ApiError
from .gateway import Gateway
from .http1 import BadHttp, Response, UpstreamClosed, UpstreamTimeout
from .routing import Worker
from .trtllm_protocol import SERVER_STATE_HEADER as SERVER_STATE
from .upstream import bad_gateway, read_body, upstream_timeout, worker_error

_ID_PREFIX = {"chat": "chatcmpl-", "completion": "cmpl-"}
_PATH = {
    "chat": "/v1/chat/completions",
    "completion": "/v1/completions",
    "embedding": "/v1/embeddings",
}
CLIENT_CLOSED = 499  # nginx's convention, for metrics: the client left first


def routed_headers(call: Call) -> list[tuple[bytes, bytes]]:
    if call.worker is None:
        return []
    return [
        (b"x-provocapi-worker", call.worker.encode()),
        (b"x-provocapi-queue-ms", str(round(call.queue_ms)).encode()),
    ]


async def forward(gw: Gateway, req: Request, call: Call) -> None:
    """Route the call (routing picks workers and may retry) with a disconnect guard."""
    guard = DisconnectGuard(req.receive)
    if call.stream:  # a call waiting for a pool to wake keeps its client reading
        call.extra["keepalive"] = lambda: _keepalive(req, call)
    try:
        with guard:
            await gw.router.dispatch(call, lambda worker: attempt(gw, req, call, worker))
    except ApiError as err:
        if not call.extra.get("stream_open"):
            raise
        # The keep-alives already sent a 200: the failure is the stream's error event.
        call.status, call.error_code = err.status, err.code
        with contextlib.suppress(ClientGone):
            await req.write(b"data: " + err.body() + b"\n\n")
            await req.end_stream()
    if guard.gone:
        req.status = call.status = CLIENT_CLOSED


async def _keepalive(req: Request, call: Call) -> None:
    if not req.status:
        await req.start_stream()
        call.extra["stream_open"] = True
    await req.write(b": keep-alive\n\n")


async def attempt(gw: Gateway, req: Request, call: Call, worker: Worker) -> None:
    plan = call.plan
    timeout = call.res.model.request_timeout_s or gw.cfg.server.request_timeout_s
    # the whole call, waits included, ends within the hard cap
    timeout = max(0.001, min(timeout, gw.cfg.routing.hard_cap_s - call.elapsed_s()))
    body = plan.body if worker.model is None else _with_model(plan.body, worker.model)
    resp: Response | None = None
    try:
        resp = await gw.upstream.post(worker.url + _PATH[call.kind], body, timeout, worker.headers)
        if resp.status != 200:
            body = await read_body(resp)
            gw.telemetry.upstream_error(call.model_id, f"http_{resp.status}")
            if resp.status == 503 and resp.headers.get(SERVER_STATE) == "starting":
                raise worker_starting()
            raise worker_error(resp.status, body)
        if call.kind == "embedding":
            await _embeddings(gw, req, call, resp)
        elif plan.stream:
            await _stream(gw, req, call, resp)
        else:
            await _complete(gw, req, call, resp)
    except asyncio.CancelledError:
        if resp is not None:
            resp.close()  # drop the connection: the worker stops generating
        raise
    except ApiError as err:
        if req.status:  # something reached the client: no other worker may answer now
            err.retryable = False
        raise


def _with_model(body: bytes, model: str) -> bytes:
    # A provider serves the model under its own name (the fallback path only).
    data = orjson.loads(body)
    data["model"] = model
    return orjson.dumps(data)


def worker_starting() -> ApiError:
    # trtllm-serve answers 503 `starting` on every route while it loads the model.
    return NO_HEALTHY_WORKER.build(what="this model (it is starting)")


async def _complete(gw: Gateway, req: Request, call: Call, resp: Response) -> None:
    body = await read_body(resp)
    plan = call.plan
    try:
        out, prompt, completion, finish = _core.rewrite_response(
            body,
            kind=call.kind,
            public_model=call.res.public_id,
            response_id=ids.unique(_ID_PREFIX[call.kind]),
            created=int(time.time()),
            tool_family=plan.tool_family,
            tool_names=plan.tool_names,
        )
    except _core.UpstreamFormatError as exc:  # a CoreError is our bug: the app answers 500
        gw.telemetry.upstream_error(call.model_id, "garbage")
        raise bad_gateway(f"the worker's answer is not valid ({exc})") from None
    if prompt or completion:  # the worker's usage wins over our estimate
        call.prompt_tokens, call.completion_tokens = prompt, completion
    else:
        call.extra["answer"] = out  # no usage: admission counts the answer at settle
    call.finish_reason = finish
    await req.respond(200, out, routed_headers(call))


async def _embeddings(gw: Gateway, req: Request, call: Call, resp: Response) -> None:
    body = await read_body(resp)
    plan = call.plan
    try:
        out, prompt = embedding_answer(body, call.res.public_id, plan.dimensions, plan.base64)
    except _core.UpstreamFormatError as exc:
        gw.telemetry.upstream_error(call.model_id, "garbage")
        raise bad_gateway(f"the worker's embeddings are not valid ({exc})") from None
    if prompt:
        call.prompt_tokens = prompt
    call.completion_tokens = 0
    await req.respond(200, out, routed_headers(call))


async def _stream(gw: Gateway, req: Request, call: Call, resp: Response) -> None:
    """Relay SSE until [DONE], an error event, or the client leaves."""
    plan = call.plan
    relay = _core.StreamRelay(
        kind=call.kind,
        public_model=call.res.public_id,
        response_id=ids.unique(_ID_PREFIX[call.kind]),
        created=int(time.time()),
        include_usage=plan.include_usage,
        tool_family=plan.tool_family,
        tool_names=plan.tool_names,
    )
    call.extra["relay"] = relay  # usage's progress lines read what it relayed so far
    try:
        if not req.status:  # else the wake's keep-alives opened it already
            await req.start_stream(routed_headers(call))
        try:
            async for data in resp.iter_any():
                out = relay.feed(data)
                if out:
                    if call.ttft_s is None:
                        call.ttft_s = call.elapsed_s()
                    await req.write(out)
                if relay.done:
                    break
            tail = relay.finish()
        except UpstreamTimeout:
            gw.telemetry.upstream_error(call.model_id, "timeout")
            err = upstream_timeout()
            tail = relay.error_event(err.message, err.type, err.code)
        except (UpstreamClosed, BadHttp):
            gw.telemetry.upstream_error(call.model_id, "stream_cut")
            tail = relay.finish()
        if tail:
            await req.write(tail)
        await req.end_stream()
    except ClientGone:
        req.status = CLIENT_CLOSED
    finally:
        if relay.prompt_tokens is not None:
            call.prompt_tokens = relay.prompt_tokens
        if relay.completion_tokens is not None:
            call.completion_tokens = relay.completion_tokens
        else:  # a cut stream or no usage chunk: admission counts the text at settle
            call.extra["generated_text"] = relay.generated_text
        call.finish_reason = relay.finish_reason
        if relay.failed:
            call.error_code = "stream_failed"
        gw.telemetry.chunks(call.model_id, relay.chunks)
        if resp.at_eof() and req.status != CLIENT_CLOSED:
            resp.release()  # keep the connection for the next request
        else:
            resp.close()
