"""The few ASGI pieces the gateway needs: a request view and response helpers.

Kept tiny on purpose (Starlette's shape, none of its weight): the hot path
pays for nothing it does not use.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from . import ids
from .body_deadline import BodyDeadlines
from .error_catalog import REQUEST_TIMEOUT, REQUEST_TOO_LARGE
from .errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
JSON_CT = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ClientGone(Exception):
    """The client closed the connection; nothing more can be sent."""


class Request:
    __slots__ = (
        "authorization",
        "body_deadlines",
        "content_length",
        "extra_headers",
        "method",
        "path",
        "receive",
        "request_id",
        "scope",
        "send",
        "started",
        "status",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body_deadlines: BodyDeadlines | None = None,
    ) -> None:
        self.scope = scope
        self.body_deadlines = body_deadlines
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.started = time.perf_counter()
        self.status = 0
        self.authorization: bytes | None = None
        self.content_length: int | None = None
        rid: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                self.authorization = value
            elif name == b"x-request-id":
                rid = value
            elif name == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.content_length = None
        if rid is None or not _SANE_REQUEST_ID.match(rid):
            rid = ids.unique("req_").encode()
        self.request_id: bytes = rid
        # headers added by handlers (worker, model, queue time...)
        self.extra_headers: Headers = [(b"x-request-id", rid)]

    async def body(self, limit: int) -> bytes:
        """The whole request body; 413 past `limit` bytes, 408 when it has not all
        arrived within the body deadline (body_deadline.py)."""
        if self.content_length is not None and self.content_length > limit:
            raise too_large(limit)
        deadlines = self.body_deadlines
        task = deadlines.enter(self.started) if deadlines is not None else None
        try:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise ClientGone
            body: bytes = msg.get("body", b"")
            if not msg.get("more_body", False):
                if len(body) > limit:
                    raise too_large(limit)
                return body
            parts = [body]
            size = len(body)
            while True:
                msg = await self.receive()
                if msg["type"] == "http.disconnect":
                    raise ClientGone
                chunk = msg.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                parts.append(chunk)
                if not msg.get("more_body", False):
                    return b"".join(parts)
        except asyncio.CancelledError:
            if deadlines is not None and deadlines.expired(task):
                raise body_timeout(deadlines.timeout_s) from None
            raise
        finally:
            if deadlines is not None:
                deadlines.leave(task)

    async def respond(self, status: int, body: bytes, headers: Headers | None = None) -> None:
        self.status = status
        hdrs = [JSON_CT, *self.extra_headers]
        if headers:
            hdrs.extend(headers)
        await self.send({"type": "http.response.start", "status": status, "headers": hdrs})
        await self.send({"type": "http.response.body", "body": body})

    async def respond_json(self, status: int, data: object) -> None:
        await self.respond(status, orjson.dumps(data))

    async def respond_error(self, err: ApiError, retry_after_s: int) -> None:
        """`retry_after_s`: [server].retry_after_s, for a configured Retry-After."""
        await self.respond(err.status, err.body(), err.response_headers(retry_after_s))

    async def start_stream(self, headers: Headers | None = None) -> None:
        self.status = 200
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*SSE_HEADERS, *self.extra_headers, *(headers or [])],
            }
        )

    async def write(self, data: bytes) -> None:
        try:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})
        except Exception as exc:  # the server's disconnect error types vary
            raise ClientGone from exc

    async def end_stream(self) -> None:
        try:
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:
            raise ClientGone from exc


def too_large(limit: int) -> ApiError:
    return REQUEST_TOO_LARGE.build(limit=limit)


def body_timeout(timeout_s: float) -> ApiError:
    return REQUEST_TIMEOUT.build(timeout_s=timeout_s)
