"""An answer sent before the request's body was read to its end.

HTTP/1.1 reuses a connection for the next request only once this one's body has
been read off it. A handler that refuses early (a bad key, a malformed form, a
body past the limit) leaves the rest unread, and the server closes the connection
after its answer. Without `connection: close` in that answer a client keeps the
connection for its next request, which then gets no response at all (httpx:
"Server disconnected without sending a response").

So before an error answer: a small rest (what a refused JSON request leaves) is
read and dropped, for a moment at most, and the connection stays open; any other
rest gets `connection: close`.
"""

from __future__ import annotations

import asyncio

from .asgi import Request
from .errors import ApiError

DRAIN_BYTES = 64 * 1024  # a body this small is read off rather than given up
DRAIN_S = 0.5  # a client slower than this with its rest loses the connection instead
CLOSE = (b"connection", b"close")


async def settle_body(req: Request, err: ApiError) -> None:
    """Before `err` is sent: read the rest of a small body, or close after the answer."""
    if not req.body_left or any(name == b"connection" for name, _ in err.headers):
        return
    size = req.content_length
    if size is not None and size <= DRAIN_BYTES:
        try:
            async with asyncio.timeout(DRAIN_S):
                while req.body_left:
                    msg = await req.receive()
                    if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
                        req.body_left = False
        except Exception:  # too slow (TimeoutError), or the server's receive failed
            pass
    if req.body_left:
        req.extra_headers.append(CLOSE)
