"""A WebSocket to the gateway (OpenAI's Realtime API is one) is refused in words.

The gateway serves no WebSocket API. Closing before the handshake would leave the
client a bare 403, so the socket is accepted, sent one Realtime-style `error`
event holding the same error an HTTP call to that path gets, and closed with 1008
(policy violation).
"""

from __future__ import annotations

import orjson

from .asgi import Receive, Scope, Send
from .error_catalog import UNKNOWN_URL
from .errors import quote
from .unserved import not_provided

POLICY_VIOLATION = 1008


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    msg = await receive()
    if msg.get("type") != "websocket.connect":
        return  # the client went away before the handshake
    path = str(scope.get("path", ""))
    err = not_provided("GET", path) or UNKNOWN_URL.build(method="GET", path=quote(path))
    event = {
        "type": "error",
        "error": {"type": err.type, "code": err.code, "message": err.message, "param": err.param},
    }
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": orjson.dumps(event).decode()})
    await send({"type": "websocket.close", "code": POLICY_VIOLATION})
