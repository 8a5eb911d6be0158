"""The routed part of a request, in the architecture's order:
usage begin → admit → route + upstream + relay → settle → usage end → token metrics.

Handlers decode and resolve, build a `Call`, and hand it here. The call's outcome
(`call.status`) is set here, from the error that ended it or from the reply.
"""

from __future__ import annotations

from functools import partial

from .asgi import CLIENT_CLOSED, Request
from .call import Call
from .disconnect import DisconnectGuard
from .errors import ApiError
from .gateway import Gateway
from .proxy import attempt
from .usage.event import served_tokens


async def run(gw: Gateway, req: Request, call: Call) -> None:
    req.extra_headers.append((b"x-provocapi-model", call.res.model.id.encode()))
    gw.usage.begin(call)
    admitted = False
    try:
        req.extra_headers.extend(await gw.admission.admit_async(call))
        admitted = True
        # Routing picks workers (and may retry) under a disconnect guard. An error after
        # the keep-alives of a waking pool opened the stream goes up like any other: the
        # reply renders it as the stream's error event.
        reply = req.reply
        guard = DisconnectGuard(req.receive, task=req.task)
        try:
            with guard:
                # a streaming call waiting for a pool to wake keeps its client reading
                keepalive = reply if call.stream else None
                await gw.router.dispatch(call, partial(attempt, gw, reply, call), keepalive)
        finally:
            if guard.gone:
                reply.client_gone = True
    except ApiError as err:
        call.status = err.status
        call.error_code = err.code
        if err.status == 429:
            gw.router.refused(call.model_id, err.code)
        raise
    finally:
        reply = req.reply
        if reply.client_gone:
            call.status = CLIENT_CLOSED
            if reply.write_expired:  # cut by the write deadline, not gone by itself
                call.error_code = "write_timeout"
        elif not call.status:
            call.status = reply.status or 500
        if call.error_code is None and call.relay is not None and call.relay.failed:
            call.error_code = "stream_failed"  # the worker's error event, relayed
        if admitted:
            gw.admission.settle(call)
        gw.usage.end(call)
        gw.router.served(call, *served_tokens(call))
