"""The few ASGI pieces the gateway needs: a request view and response helpers.

Kept tiny on purpose (Starlette's shape, none of its weight): the hot path
pays for nothing it does not use.
"""

from __future__ import annotations

import asyncio
import re
import time
from asyncio import current_task
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

import orjson

from . import ids
from .body_deadline import BodyDeadlines
from .error_catalog import (
    REQUEST_TIMEOUT,
    REQUEST_TOO_LARGE,
    UNSUPPORTED_CONTENT_ENCODING,
    UNSUPPORTED_MEDIA_TYPE,
)
from .errors import ApiError, quote
from .media_type import SDK as SDK_JSON
from .media_type import essence, is_json
from .write_deadline import WriteDeadlines

# Request.authorization when the request sent two: matches no key, and is named as such
TWO_CREDENTIALS = b"\x00two Authorization headers"

# Request.origin when the request sent two: no pattern matches it
TWO_ORIGINS = b"\x00two Origin headers"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

# the request headers the chain in Request.__init__ reads
_READ = frozenset(
    {
        b"authorization",
        b"x-request-id",
        b"content-length",
        b"transfer-encoding",
        b"content-encoding",
        b"content-type",
        b"origin",
    }
)
_SANE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
JSON_CT = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class ClientGone(Exception):
    """The client closed the connection; nothing more can be sent."""


CLOSE = (b"connection", b"close")
DRAIN_BYTES = 64 * 1024  # an unread rest this small is read off rather than given up
DRAIN_S = 0.5  # a client slower than this with its rest loses the connection instead
CLIENT_CLOSED = 499  # nginx's convention, for metrics: the client left first
_KEEPALIVE = b": keep-alive\n\n"
_clock = time.perf_counter  # the write deadline's clock (write_deadline.py)


class Request:
    """The receive side of one request (method, path, credentials, body); what goes
    back to the client is its `reply`'s."""

    __slots__ = (
        "authorization",
        "body_deadlines",
        "content_encoding",
        "content_length",
        "content_type",
        "extra_headers",
        "method",
        "origin",
        "path",
        "receive",
        "reply",
        "request_id",
        "scope",
        "started",
        "task",
        "uploaded",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body_deadlines: BodyDeadlines | None = None,
        write_deadlines: WriteDeadlines | None = None,
    ) -> None:
        self.scope = scope
        self.body_deadlines = body_deadlines
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.started = time.perf_counter()
        # the task serving it, once the body read found it (saves the getpid() system
        # call behind asyncio.current_task() on CPython 3.11; the disconnect guard uses it)
        self.task: asyncio.Task[object] | None = None
        self.authorization: bytes | None = None
        self.content_length: int | None = None
        # a coding other than identity: the body is refused, never read as if plain
        self.content_encoding: bytes | None = None
        self.content_type: bytes | None = None  # json_body refuses one that is not JSON
        self.uploaded = 0  # body bytes receive_upload has handed out (its callers' count)
        # a browser page's (cors.py); a second one matches no allowed origin
        self.origin: bytes | None = None
        rid: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name not in _READ:  # most of them: one probe instead of the chain below
                continue
            if name == b"authorization":
                # a second one makes the credential ambiguous (gateway.authenticate says so)
                self.authorization = value if self.authorization is None else TWO_CREDENTIALS
            elif name == b"content-type":  # on every JSON call: early in the chain
                self.content_type = value
            elif name == b"x-request-id":
                rid = value
            elif name == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.content_length = None
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-encoding" and value.strip().lower() != b"identity":
                self.content_encoding = value
            elif name == b"origin":
                self.origin = value if self.origin is None else TWO_ORIGINS
        size = self.content_length
        body_left = chunked if size is None else size > 0
        # a rest small enough to read off before an answer (Reply._unread_rest)
        drain = receive if size is not None and size <= DRAIN_BYTES else None
        if rid is None or not _SANE_REQUEST_ID.match(rid):
            rid = ids.unique("req_").encode()
        self.request_id: bytes = rid
        # headers added by handlers (worker, model, queue time...); the reply sends them
        self.extra_headers: Headers = [(b"x-request-id", rid)]
        self.reply = Reply(send, self.extra_headers, body_left, drain, write_deadlines, scope)

    def json_body(self, limit: int) -> Coroutine[Any, Any, bytes]:
        """`body` of a route that reads JSON: 415 before a byte is read when the
        Content-Type names another media type (media_type.py). Not itself a coroutine:
        it hands back body's, one frame fewer on every JSON call."""
        ct = self.content_type
        if ct is not None and ct != SDK_JSON and not is_json(ct):
            raise unsupported_media_type(ct)
        return self.body(limit)

    async def body(self, limit: int) -> bytes:
        """The whole request body; 413 past `limit` bytes, 408 when it has not all
        arrived within the body deadline (body_deadline.py)."""
        if self.content_length is not None and self.content_length > limit:
            raise too_large(limit)
        if self.content_encoding is not None:
            raise unsupported_encoding(self.content_encoding)
        deadlines = self.body_deadlines
        task = deadlines.enter(self.started) if deadlines is not None else None
        self.task = task
        try:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise ClientGone
            body: bytes = msg.get("body", b"")
            if not msg.get("more_body", False):
                self.reply.body_left = False
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
                    self.reply.body_left = False
                    return b"".join(parts)
        except asyncio.CancelledError:
            if deadlines is not None and deadlines.expired(task):
                raise body_timeout(deadlines.timeout_s) from None
            raise
        finally:
            if deadlines is not None:
                deadlines.leave(task)

    async def receive_upload(self) -> Message:
        """One message of a streamed upload (a file, an adapter). An upload may take long
        in all, so the body deadline applies to each wait for more bytes instead: no
        byte for `body_read_timeout_s` → 408 `request_timeout` (a trickling client
        cannot hold the connection for free)."""
        if self.content_encoding is not None:
            raise unsupported_encoding(self.content_encoding)
        deadlines = self.body_deadlines
        task = deadlines.enter(time.perf_counter()) if deadlines is not None else None
        try:
            msg = await self.receive()
            self.uploaded += len(msg.get("body", b""))
            # A parser that stops at its closing delimiter never asks for the empty last
            # message: the body is read once its declared length has come, too.
            size = self.content_length
            if (
                msg["type"] == "http.disconnect"
                or not msg.get("more_body", False)
                or (size is not None and self.uploaded >= size)
            ):
                self.reply.body_left = False
            return msg
        except asyncio.CancelledError:
            if deadlines is not None and deadlines.expired(task):
                raise body_timeout(deadlines.timeout_s) from None
            raise
        finally:
            if deadlines is not None:
                deadlines.leave(task)

    async def respond(self, status: int, body: bytes, headers: Headers | None = None) -> None:
        await self.reply.respond(status, body, headers)

    async def respond_json(self, status: int, data: object) -> None:
        await self.reply.respond(status, orjson.dumps(data))


class Reply:
    """The response side of one request, and the one owner of what the client was sent:
    whether the response started (`status`), whether it ended, whether the client left.

    Whoever answers goes through it: handlers (`respond`), the relay (`start_stream`,
    `write`), routing's wait for a waking pool (`keepalive`, through routing's narrow
    `KeepAlive` interface) and the app's error boundary (`error`), which renders an
    error as the envelope before the start and as the stream's error event after.
    """

    __slots__ = (
        "body_left",
        "client_gone",
        "deadlines",
        "drain",
        "ended",
        "headers",
        "scope",
        "send",
        "sending",
        "status",
        "write_expired",
    )

    def __init__(
        self,
        send: Send,
        headers: Headers,
        body_left: bool = False,
        drain: Receive | None = None,
        deadlines: WriteDeadlines | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.send = send
        self.headers = headers  # sent with the start (the request's extra_headers)
        # The request's body is not all read (the request clears it when its body ends):
        # see _unread_rest. `drain`: the request's receive when its rest may be read off.
        self.body_left = body_left
        self.drain = drain
        self.status = 0  # the HTTP status sent; 0 before the start
        self.ended = False  # the last body message went out
        self.client_gone = False  # the client left first: nothing more can be sent
        # A streamed answer's sends must make progress (write_deadline.py): when the
        # send in progress started (0.0: none), and whether the deadline cut it.
        self.deadlines = deadlines
        self.scope = scope  # its connection's addresses, to reset it when cut
        self.sending = 0.0
        self.write_expired = False

    @property
    def started(self) -> bool:
        """Something reached the client: no envelope (nor another worker) can answer now."""
        return self.status != 0

    @property
    def outcome(self) -> int:
        """The status metrics and usage record: 499 when the client left first."""
        return CLIENT_CLOSED if self.client_gone else self.status

    async def respond(
        self,
        status: int,
        body: bytes,
        headers: Headers | None = None,
        content_type: tuple[bytes, bytes] | None = JSON_CT,
    ) -> None:
        """`content_type` None: no content (a 204)."""
        self.status = status
        hdrs = [content_type, *self.headers] if content_type else [*self.headers]
        if headers:
            hdrs.extend(headers)
        if self.body_left:
            hdrs.extend(await self._unread_rest(headers))
        await self.send({"type": "http.response.start", "status": status, "headers": hdrs})
        await self.send({"type": "http.response.body", "body": body})
        self.ended = True

    async def respond_error(self, err: ApiError, retry_after_s: int) -> None:
        """`retry_after_s`: [server].retry_after_s, for a configured Retry-After."""
        await self.respond(err.status, err.body(), err.response_headers(retry_after_s))

    async def start_stream(self, headers: Headers | None = None) -> None:
        self.status = 200
        if self.deadlines is not None:
            self.deadlines.watch(self)
        closing = await self._unread_rest(headers) if self.body_left else []
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*SSE_HEADERS, *self.headers, *(headers or []), *closing],
            }
        )

    async def start_download(self, headers: Headers) -> None:
        """A streamed body that is not SSE (a file's bytes); `headers` give its type."""
        self.status = 200
        if self.deadlines is not None:
            self.deadlines.watch(self)
        closing = await self._unread_rest(headers) if self.body_left else []
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, *self.headers, *closing],
            }
        )

    async def _unread_rest(self, headers: Headers | None) -> Headers:
        """An answer started before the request's body was read to its end.

        The server will close the connection after it, and the answer must say so: a
        client that keeps the connection for its next request gets no answer at all
        (httpx: "Server disconnected without sending a response"). A small rest (a
        refused JSON request's) is read off first, for a moment at most, so that the
        connection stays open. Returns the header to add, if any."""
        if headers and any(name == b"connection" for name, _ in headers):
            return []  # said already (a 408: the body never came, nothing to wait for)
        receive = self.drain
        if receive is not None:
            try:
                async with asyncio.timeout(DRAIN_S):
                    while self.body_left:
                        msg = await receive()
                        if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
                            self.body_left = False
            except Exception:  # too slow (TimeoutError), or the server's receive failed
                pass
        return [CLOSE] if self.body_left else []

    async def write(self, data: bytes) -> None:
        self.sending = _clock()  # the write deadline's one cost per chunk
        try:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})
        except asyncio.CancelledError:
            if not self.write_expired:
                raise
            self._cut()
            raise ClientGone from None
        except Exception as exc:  # the server's disconnect error types vary
            self.client_gone = True
            raise ClientGone from exc
        finally:
            self.sending = 0.0

    async def end_stream(self) -> None:
        self.ended = True
        self.sending = _clock()
        try:
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not self.write_expired:
                raise
            self._cut()
            raise ClientGone from None
        except Exception as exc:
            self.client_gone = True
            raise ClientGone from exc
        finally:
            self.sending = 0.0

    def _cut(self) -> None:
        """The write deadline cancelled a send the client took nothing of: withdraw
        that cancellation (the request ends as if its client left: the relay closes
        the worker's connection, usage stores a 499) and reset the connection, which
        Granian would otherwise keep open for its unsent bytes."""
        task = current_task()
        if task is not None:
            task.uncancel()
        self.client_gone = True
        if self.deadlines is not None and self.scope is not None:
            self.deadlines.reset_soon(self.scope)

    async def keepalive(self) -> None:
        """An SSE comment that keeps a waiting client reading; opens the stream first."""
        if not self.status:
            await self.start_stream()
        await self.write(_KEEPALIVE)

    async def error(self, err: ApiError, retry_after_s: int) -> None:
        """Tell the client about `err` as far as it can still be told: the envelope
        before the start, the SSE error event on an open stream, nothing once ended
        or gone. Never raises for a client that left."""
        if self.client_gone or self.ended:
            return
        try:
            if not self.status:
                await self.respond_error(err, retry_after_s)
            else:
                await self.write(b"data: " + err.body() + b"\n\n")
                await self.end_stream()
        except Exception:  # ClientGone, or the server's own disconnect error
            self.client_gone = True


def too_large(limit: int) -> ApiError:
    return REQUEST_TOO_LARGE.build(limit=limit)


def unsupported_encoding(encoding: bytes) -> ApiError:
    return UNSUPPORTED_CONTENT_ENCODING.build(encoding=quote(encoding.decode("latin-1")))


def unsupported_media_type(content_type: bytes) -> ApiError:
    shown = essence(content_type)
    # curl's -d without -H sends a form: the usual way to get here
    hint = FORM_HINT if shown.lower() == "application/x-www-form-urlencoded" else ""
    return UNSUPPORTED_MEDIA_TYPE.build(media_type=quote(shown), hint=hint)


FORM_HINT = " (curl's -d alone sends a form: add -H 'Content-Type: application/json')"


def body_timeout(timeout_s: float) -> ApiError:
    return REQUEST_TIMEOUT.build(timeout_s=timeout_s)
