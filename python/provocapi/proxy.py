"""One routed request: pick a worker, send the plan, relay the answer.

Bytes are parsed and rewritten by the core (`rewrite_response`, `StreamRelay`);
this module only moves them and turns failures into OpenAI errors.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import aiohttp

from . import _core
from .asgi import ClientGone, Request
from .catalog import Resolved
from .disconnect import DisconnectGuard
from .errors import ApiError
from .gateway import Gateway
from .request_policy import Plan
from .routing import Worker
from .upstream import bad_gateway, read_body, upstream_timeout, worker_error

_ID_PREFIX = {"chat": "chatcmpl-", "completion": "cmpl-"}
CLIENT_CLOSED = 499  # nginx's convention, for metrics: the client left first


def pick_worker(gw: Gateway, req: Request, res: Resolved) -> Worker:
    worker = gw.pools[res.model.id].pick()
    if worker is None:
        raise ApiError(
            503,
            f"No healthy worker is available for model '{res.model.id}'.",
            code="no_healthy_worker",
            type="server_error",
        )
    req.extra_headers.append((b"x-provocapi-worker", worker.url.encode()))
    req.extra_headers.append((b"x-provocapi-queue-ms", b"0"))
    return worker


async def forward(
    gw: Gateway, req: Request, res: Resolved, path: str, kind: str, plan: Plan
) -> None:
    worker = pick_worker(gw, req, res)
    timeout = res.model.request_timeout_s or gw.cfg.server.request_timeout_s
    resp: aiohttp.ClientResponse | None = None
    worker.in_flight += 1
    guard = DisconnectGuard(req.receive)
    try:
        with guard:
            resp = await gw.upstream.post(worker.url + path, plan.body, timeout)
            if resp.status != 200:
                body = await read_body(resp)
                gw.telemetry.upstream_error(res.model.id, f"http_{resp.status}")
                raise worker_error(resp.status, body, gw.cfg.server.retry_after_s)
            response_id = _ID_PREFIX[kind] + secrets.token_urlsafe(18)
            created = int(time.time())
            if plan.stream:
                relay = _core.StreamRelay(
                    kind=kind,
                    public_model=res.public_id,
                    response_id=response_id,
                    created=created,
                    include_usage=plan.include_usage,
                    tool_family=plan.tool_family,
                    tool_names=plan.tool_names,
                )
                try:
                    await relay_stream(gw, req, res, resp, relay)
                finally:
                    gw.telemetry.chunks(res.model.id, relay.chunks)
                return
            body = await read_body(resp)
            try:
                out, _prompt, _completion, _finish = _core.rewrite_response(
                    body,
                    kind=kind,
                    public_model=res.public_id,
                    response_id=response_id,
                    created=created,
                    tool_family=plan.tool_family,
                    tool_names=plan.tool_names,
                )
            except ValueError as exc:
                gw.telemetry.upstream_error(res.model.id, "garbage")
                raise bad_gateway(f"the worker's answer is not valid ({exc})") from None
            await req.respond(200, out)
    finally:
        worker.in_flight -= 1
        if guard.gone:
            req.status = CLIENT_CLOSED
            if resp is not None:
                resp.close()  # drop the connection: the worker stops generating


async def relay_stream(
    gw: Gateway,
    req: Request,
    res: Resolved,
    resp: aiohttp.ClientResponse,
    relay: _core.StreamRelay,
) -> None:
    """Relay SSE until [DONE], an error event, or the client leaves."""
    try:
        await req.start_stream()
        try:
            async for data in resp.content.iter_any():
                out = relay.feed(data)
                if out:
                    await req.write(out)
                if relay.done:
                    break
            tail = relay.finish()
        except TimeoutError:
            gw.telemetry.upstream_error(res.model.id, "timeout")
            err = upstream_timeout()
            tail = relay.error_event(err.message, err.type, err.code)
        except (aiohttp.ClientError, asyncio.IncompleteReadError):
            gw.telemetry.upstream_error(res.model.id, "stream_cut")
            tail = relay.finish()
        if tail:
            await req.write(tail)
        await req.end_stream()
    except ClientGone:
        req.status = CLIENT_CLOSED
    finally:
        if resp.content.at_eof() and req.status != CLIENT_CLOSED:
            resp.release()  # keep the connection for the next request
        else:
            resp.close()
