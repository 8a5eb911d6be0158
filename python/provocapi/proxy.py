"""One attempt at one worker: send the plan, relay the answer.

Bytes are parsed and rewritten by the core (`rewrite_response`, `StreamRelay`);
this module only moves them and turns failures into OpenAI errors. An error
raised before anything reached the client is `retryable` (routing may try
another worker); after the first byte it becomes the stream's error event (the
app's boundary asks the request's `Reply` to render it).

The proxy owns the answer's numbers on the call record: the worker's usage, and
where the worker sent none, the completion counted from the text it generated,
so usage and metrics get the same count whatever admission is plugged in.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from . import _core, ids
from .admission.counting import answer_text
from .asgi import ClientGone, Reply
from .call import Call
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


def routed_headers(call: Call) -> list[tuple[bytes, bytes]]:
    if call.worker is None:
        return []
    return [
        (b"x-provocapi-worker", call.worker.encode()),
        (b"x-provocapi-queue-ms", str(round(call.queue_ms)).encode()),
    ]


def _count_completion(gw: Gateway, call: Call, text: str) -> None:
    """The worker sent no completion count: count what it generated (the one place)."""
    call.completion_tokens = gw.counter.text(call.model_id, text)[0]


async def attempt(gw: Gateway, reply: Reply, call: Call, worker: Worker) -> None:
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
            await _embeddings(gw, reply, call, resp)
        elif plan.stream:
            await _stream(gw, reply, call, resp)
        else:
            await _complete(gw, reply, call, resp)
    except asyncio.CancelledError:
        if resp is not None:
            resp.close()  # drop the connection: the worker stops generating
        raise
    except ApiError as err:
        if reply.started:  # something reached the client: no other worker may answer now
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


async def _complete(gw: Gateway, reply: Reply, call: Call, resp: Response) -> None:
    body = resp.read_now()
    if body is None:
        body = await read_body(resp)
    plan = call.plan
    try:
        r = _core.rewrite_response(
            body,
            kind=call.kind,
            public_model=call.res.public_id,
            response_id=ids.unique(_ID_PREFIX[call.kind]),
            created=int(time.time()),
            tool_family=plan.tool_family,
            tool_names=plan.tool_names,
            one_tool_call=plan.one_tool_call,
        )
    except _core.UpstreamFormatError as exc:  # a CoreError is our bug: the app answers 500
        gw.telemetry.upstream_error(call.model_id, "garbage")
        raise bad_gateway(f"the worker's answer is not valid ({exc})") from None
    if r.prompt_tokens is not None:  # the worker's usage wins over admission's count
        call.prompt_tokens = r.prompt_tokens
    call.completion_tokens = r.completion_tokens
    call.finish_reason = r.finish_reason
    try:
        await reply.respond(200, r.body, routed_headers(call))
    finally:  # counted after the answer went out: the client does not wait for it
        if call.completion_tokens is None:
            _count_completion(gw, call, answer_text(r.body))


async def _embeddings(gw: Gateway, reply: Reply, call: Call, resp: Response) -> None:
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
    await reply.respond(200, out, routed_headers(call))


async def _stream(gw: Gateway, reply: Reply, call: Call, resp: Response) -> None:
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
        one_tool_call=plan.one_tool_call,
    )
    call.relay = relay  # usage's progress lines read what it relayed so far
    try:
        if not reply.started:  # else the wake's keep-alives opened it already
            await reply.start_stream(routed_headers(call))
        try:
            async for data in resp.iter_any():
                out = relay.feed(data)
                if out:
                    if call.ttft_s is None:
                        call.ttft_s = call.elapsed_s()
                    await reply.write(out)
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
            await reply.write(tail)
        await reply.end_stream()
    except ClientGone:
        pass  # the reply knows: its outcome is 499
    finally:
        if relay.prompt_tokens is not None:
            call.prompt_tokens = relay.prompt_tokens
        if relay.completion_tokens is not None:
            call.completion_tokens = relay.completion_tokens
        else:  # a cut stream or no usage chunk
            _count_completion(gw, call, relay.generated_text)
        call.finish_reason = relay.finish_reason
        gw.telemetry.chunks(call.model_id, relay.chunks)
        if resp.at_eof() and not reply.client_gone:
            resp.release()  # keep the connection for the next request
        else:
            resp.close()
