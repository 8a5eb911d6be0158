"""A small HTTP/1.1 server on asyncio Protocols and httptools.

Only what the simulator needs, kept lean because it runs beside the load generator:
keep-alive, pipelined requests answered in order, Content-Length and chunked request
bodies (httptools de-chunks), responses with Content-Length or chunked transfer for SSE.
Headers mimic uvicorn's (date, server), since trtllm-serve runs on uvicorn.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus

import httptools

# An idle keep-alive connection is closed after this long, as trtllm-serve's uvicorn
# does (TIMEOUT_KEEP_ALIVE = 5 in tensorrt_llm/serve/openai_server.py): the gateway's
# pool must stop reusing a connection before then (http1/pool.py, IDLE_MAX_S).
KEEP_ALIVE_S = 5.0

_STATUS_LINES: dict[int, bytes] = {
    s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus
}
JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"
TEXT = b"text/plain; charset=utf-8"


class _Date:
    """The Date header, refreshed once a second rather than formatted per response."""

    value = formatdate(usegmt=True).encode()
    _second = 0

    @classmethod
    def get(cls) -> bytes:
        now = int(time.time())
        if now != cls._second:
            cls._second = now
            cls.value = formatdate(now, usegmt=True).encode()
        return cls.value


def http_date() -> bytes:
    return _Date.get()


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} Status\r\n".encode()


def response(
    status: int,
    body: bytes,
    content_type: bytes | None = JSON,
    extra: bytes = b"",
    keep_alive: bool = True,
) -> bytes:
    """A whole response with Content-Length; ``extra`` is pre-formatted header lines.

    ``content_type=None`` sends none, as Starlette's bare Response does."""
    return b"".join(
        (
            _STATUS_DATE.get(status) or status_line(status) + b"date: ",
            _Date.get(),
            b"\r\nserver: uvicorn\r\ncontent-length: %d\r\n" % len(body),
            b"content-type: application/json\r\n"
            if content_type is JSON
            else b""
            if content_type is None
            else b"content-type: " + content_type + b"\r\n",
            extra,
            b"" if keep_alive else b"connection: close\r\n",
            b"\r\n",
            body,
        )
    )


_STATUS_DATE = {status: line + b"date: " for status, line in _STATUS_LINES.items()}


def stream_head(status: int = 200, content_type: bytes = SSE, extra: bytes = b"") -> bytes:
    return b"".join(
        (
            status_line(status),
            b"date: ",
            _Date.get(),
            b"\r\nserver: uvicorn\r\ncontent-type: ",
            content_type,
            b"\r\n",
            extra,
            b"transfer-encoding: chunked\r\n\r\n",
        )
    )


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


class SimRequest:
    __slots__ = ("body", "headers", "keep_alive", "method", "path", "query")

    def __init__(
        self,
        method: bytes,
        url: bytes,
        headers: dict[bytes, bytes],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self.method = method
        path, _, query = url.partition(b"?")
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


# A handler answers with the response bytes at once, or with an awaitable that writes
# through the connection itself (delays, streams) and returns bytes to send or None.
Result = bytes | Awaitable[bytes | None] | None
Handler = Callable[[SimRequest, "SimConnection"], Result]

# Returned by a handler that already closed the connection on purpose.
DROPPED = b""


class SimConnection(asyncio.Protocol):
    """One client connection: parses requests and runs the handler for each, in order."""

    __slots__ = (
        "_body",
        "_busy",
        "_drain",
        "_headers",
        "_idle",
        "_idle_since",
        "_parser",
        "_pending",
        "_task",
        "_url",
        "closed",
        "handler",
        "transport",
    )

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpRequestParser(self)
        self._pending: deque[SimRequest] = deque()
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        # The keep-alive timeout: one timer, armed when the connection first goes idle and
        # re-armed when it fires early (not cancelled and made anew for every request).
        self._idle: asyncio.TimerHandle | None = None
        self._idle_since: float | None = None  # loop time the last answer ended; None: busy

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._idle_since = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400)
        except httptools.HttpParserError:
            self._fail(400)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        if self._task is not None:
            # The client went away mid-answer: stop generating for it at once.
            self._task.cancel()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # httptools callbacks (no on_message_begin: on_message_complete resets for the next one)
    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        # curl waits a second for this before sending a large body
        if b"expect" in self._headers and self._headers[b"expect"].lower() == b"100-continue":
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        parts = self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pending.append(
            SimRequest(
                self._parser.get_method(),
                self._url,
                self._headers,
                body,
                self._parser.should_keep_alive(),
            )
        )
        self._url = b""
        self._headers = {}
        self._body = []
        if not self._busy:
            self._run_pending()

    # writing
    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        if self._drain is not None and not self._drain.done():
            await self._drain

    def close(self) -> None:
        """Close after flushing what was written (a drop mid-stream, as uvicorn does)."""
        self.closed = True
        self._pending.clear()
        if self.transport is not None:
            self.transport.close()

    # request loop
    def _run_pending(self) -> None:
        self._serve_pending()
        if not self._busy and not self.closed:
            # answered everything asked: idle from now on, as uvicorn counts it
            loop = asyncio.get_running_loop()
            self._idle_since = loop.time()
            if self._idle is None:
                self._idle = loop.call_at(self._idle_since + KEEP_ALIVE_S, self._idle_due)

    def _idle_due(self) -> None:
        self._idle = None
        since = self._idle_since
        if since is None or self.closed:
            return  # busy: armed again when it next goes idle
        loop = asyncio.get_running_loop()
        due = since + KEEP_ALIVE_S
        if loop.time() >= due - 0.005:  # (a timer may fire a hair early)
            self.close()
        else:  # requests came and went since it was armed: the rest of the timeout
            self._idle = loop.call_at(due, self._idle_due)

    def _serve_pending(self) -> None:
        while self._pending and not self.closed:
            request = self._pending.popleft()
            try:
                result = self.handler(request, self)
            except Exception:
                self.write(response(500, b"Internal Server Error", TEXT, keep_alive=False))
                self.close()
                return
            if isinstance(result, bytes):
                if result is DROPPED:
                    return
                self.write(result)
                if not request.keep_alive:
                    self.close()
                continue
            if result is None:
                continue
            self._busy = True
            self._task = asyncio.ensure_future(self._run_async(request, result))
            return

    async def _run_async(self, request: SimRequest, work: Awaitable[bytes | None]) -> None:
        try:
            data = await work
        except asyncio.CancelledError:
            return
        finally:
            self._busy = False
            self._task = None
        if self.closed:
            return
        if data:
            self.write(data)
        if data is DROPPED:
            return
        if not request.keep_alive:
            self.close()
            return
        self._run_pending()

    def _fail(self, status: int) -> None:
        self.write(response(status, b"Bad Request", TEXT, keep_alive=False))
        self.close()


async def serve(handler: Handler, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SimConnection(handler),
        host,
        port,
        reuse_address=True,
        backlog=1024,
    )
