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
from .errors import ApiError
from .gateway import Gateway
from .request_policy import Plan
from .routing import Worker
from .upstream import bad_gateway, read_body, upstream_timeout, worker_error

_ID_PREFIX = {"chat": "chatcmpl-", "completion": "cmpl-"}


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
    worker.in_flight += 1
    try:
        resp = await gw.upstream.post(worker.url + path, plan.body, timeout)
        if resp.status != 200:
            body = await read_body(resp)
            gw.telemetry.upstream_error(res.model.id, f"http_{resp.status}")
            raise worker_error(resp.status, body, gw.cfg.server.retry_after_s)
        response_id = _ID_PREFIX[kind] + secrets.token_urlsafe(18)
        created = int(time.time())
        if not plan.stream:
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
            return
        relay = _core.StreamRelay(
            kind=kind,
            public_model=res.public_id,
            response_id=response_id,
            created=created,
            include_usage=plan.include_usage,
            tool_family=plan.tool_family,
            tool_names=plan.tool_names,
        )
        await relay_stream(gw, req, res, resp, relay)
    finally:
        worker.in_flight -= 1


async def relay_stream(
    gw: Gateway,
    req: Request,
    res: Resolved,
    resp: aiohttp.ClientResponse,
    relay: _core.StreamRelay,
) -> None:
    """Relay SSE until [DONE], an error event, or the client leaves.

    A client that disconnects cancels this task (through the watcher on
    `receive()`), which closes the upstream connection: the worker sees the
    cancellation at once and stops generating.
    """
    task = asyncio.current_task()
    gone = False

    def on_disconnect(fut: asyncio.Future[object]) -> None:
        nonlocal gone
        if fut.cancelled() or relay.done:
            return
        gone = True
        if task is not None:
            task.cancel()

    watcher = asyncio.ensure_future(req.receive())
    watcher.add_done_callback(on_disconnect)
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
    except asyncio.CancelledError:
        if not gone:
            raise
        uncancel = getattr(task, "uncancel", None)
        if uncancel is not None:
            uncancel()
        req.status = 499  # client closed request (nginx's convention, for metrics)
    except ClientGone:
        req.status = 499
    finally:
        watcher.remove_done_callback(on_disconnect)
        watcher.cancel()
        resp.close()
        gw.telemetry.chunks(res.model.id, relay.chunks)
