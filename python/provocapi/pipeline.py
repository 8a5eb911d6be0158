"""The routed part of a request, in the architecture's order:
usage begin → admit → route + upstream + relay → settle → usage end.

Handlers decode and resolve, build a `Call`, and hand it here.
"""

from __future__ import annotations

from .asgi import Request
from .call import Call
from .errors import ApiError
from .gateway import Gateway
from .proxy import forward


async def run(gw: Gateway, req: Request, call: Call) -> None:
    req.extra_headers.append((b"x-provocapi-model", call.res.model.id.encode()))
    gw.usage.begin(call)
    admitted = False
    try:
        req.extra_headers.extend(await gw.admission.admit_async(call))
        admitted = True
        await forward(gw, req, call)
    except ApiError as err:
        call.status = err.status
        call.error_code = err.code
        if err.status == 429:
            gw.router.refused(call.model_id, err.code)
        raise
    finally:
        if not call.status:
            call.status = req.status or 500
        if admitted:
            gw.admission.settle(call)
        gw.usage.end(call)
