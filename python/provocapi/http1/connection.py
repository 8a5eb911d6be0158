"""One keep-alive HTTP/1.1 connection to a worker, and the response read on it.

An asyncio Protocol with httptools (llhttp) parsing the answer: a request is a
single `transport.write`, the answer's body arrives de-chunked (httptools appends
its chunks to a list, handed to the response once per read).
Nothing is built per request beyond the response record; the body stays as the
list of bytes the socket gave until someone asks for it.

A turn's first request is written at once; the others it sends wait for the
start of the next turn and then leave back to back, so a worker asleep in its
poll is woken once or twice per turn instead of once per request. Written each
at once, the gateway woke a loopback worker ~1.2 times per request, each
wake-up a cross-core IPI paid inside our `write` (perf: 11% of the gateway's
CPU; the pass-through's worker woke 0.04 times per request). A lone request
(an idle gateway) waits for nothing (bench/results/upstream-writes-2026-12-04.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

import httptools

from .. import alarms

# headers that delimit the body; without either it ends when the connection does
_BODY_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
# A streamed body's bytes not yet taken by its reader, past which the socket is read no
# further: a client reading slowly then holds the worker back (TCP does) instead of the
# gateway holding all the worker generates for it in memory.
STREAM_HIGH_WATER = 256 * 1024


class UpstreamClosed(Exception):
    """The connection ended before the answer did (reset, closed, or cut mid-body)."""

    def __init__(self, detail: str, got_bytes: bool, sent: bool = True) -> None:
        super().__init__(detail)
        self.got_bytes = got_bytes  # False: the worker sent nothing back
        # False: no byte of the request reached the socket, so the worker cannot have
        # seen it (the only case the pool sends it again, pool.py)
        self.sent = sent


class UpstreamTimeout(Exception):
    """The request's deadline passed before the answer ended."""


class BadHttp(Exception):
    """The worker's bytes are not an HTTP/1.1 answer."""


class Response:
    """A worker's answer: status and headers first, then the body (whole or as it comes)."""

    __slots__ = (
        "_buffered", "_chunks", "_conn", "_done", "_error", "_headers", "_loop", "_raw",
        "_streaming", "_waiter", "close_delimited", "status",
    )  # fmt: skip

    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn
        self._loop = conn.loop
        self.status = 0
        # as llhttp gave them: decoded only if someone asks (an error answer does)
        self._raw: list[tuple[bytes, bytes]] = []
        self._headers: dict[str, str] | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0  # bytes in _chunks, counted while the body is streamed
        self._streaming = False  # read by iter_any: bounded by STREAM_HIGH_WATER
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.close_delimited = True  # no content-length, not chunked: the body ends at EOF

    @property
    def headers(self) -> dict[str, str]:
        """Lower-case names; a repeated header keeps its last value."""
        h = self._headers
        if h is None:
            h = self._headers = {
                name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self._raw
            }
        return h

    # the protocol's side

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if not self._done and self._error is None:
            self._error = exc
            self._wake()

    # the reader's side

    async def _wait(self) -> None:
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def read(self) -> bytes:
        """The whole body; the connection then goes back to its pool (or is closed)."""
        try:
            while not self._done:
                if self._error is not None:
                    raise self._error
                await self._wait()
            chunks = self._chunks
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            self.release()

    def read_now(self) -> bytes | None:
        """The whole body if it has all arrived (then as after `read`: the connection goes
        back to its pool), else None. A small answer usually came with its headers: no
        coroutine to create and await for it."""
        if not self._done:
            return None
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.release()
        return body

    async def iter_any(self) -> AsyncIterator[bytes]:
        """The body as it arrives (whatever the socket gave since the last step).

        At most about STREAM_HIGH_WATER bytes wait here for the reader: the socket
        is paused past it and resumed as the reader takes them."""
        self._streaming = True
        while True:
            chunks = self._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                if self._conn is not None:
                    self._conn.resume_reading()
                yield data
                continue
            if self._done:
                return
            if self._error is not None:
                raise self._error
            await self._wait()

    def at_eof(self) -> bool:
        return self._done and not self._chunks

    def release(self) -> None:
        """Done with this answer: a finished one leaves its connection for reuse."""
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._done:
                conn.finished()
            else:
                conn.close()

    def close(self) -> None:
        """Drop the connection (the worker sees the request cancelled)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class _Callbacks(NamedTuple):
    """What httptools calls while it parses an answer (looked up once, by name)."""

    on_header: Callable[[bytes, bytes], None]
    on_headers_complete: Callable[[], None]
    on_body: Callable[[bytes], None]
    on_message_complete: Callable[[], None]


class Connection(asyncio.Protocol):
    """One socket; at most one request in flight on it."""

    def __init__(self, on_idle: Callable[[Connection], None]) -> None:
        # made by the loop's create_connection, inside it: kept, as asking for the
        # running loop costs a getpid() system call each time on CPython 3.11
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        # httptools looks its callbacks up once, here: the body's chunks go straight into
        # a list (a C call per chunk, where a streamed answer has one per token) and
        # data_received hands them to the response once per read
        self._got: list[bytes] = []
        self.parser = httptools.HttpResponseParser(
            _Callbacks(self.on_header, self.on_headers_complete, self._got.append,
                       self.on_message_complete)
        )  # fmt: skip
        self.resp: Response | None = None
        self.headers_ready: asyncio.Future[Response] | None = None
        self.closed = False
        self.reused = 0  # requests sent before the current one
        self.idle_since = 0.0
        self._on_idle = on_idle
        self._got_bytes = False
        self._sent = False  # the current request was handed to the socket
        self._keep_alive = False
        self._paused = False  # reading paused: a streamed body's reader is behind
        # where the current request's deadline is set (alarms.py), None: none is
        self._deadline: dict[alarms.Alarm, float] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.resp
        if resp is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        self._got_bytes = True
        got = self._got
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if got:  # the chunks before the error are the reader's, as they were
                resp._chunks.extend(got)
                got.clear()
            self._abort(BadHttp(f"the worker's answer is not valid HTTP ({exc})"))
            return
        if got:
            # body came (a streamed answer: dozens of chunks per read): handed over, the
            # high water looked at and the reader woken once per read, not once per chunk
            if resp._streaming:
                resp._buffered += sum(map(len, got))
                transport = self.transport
                if resp._buffered > STREAM_HIGH_WATER and transport and not self._paused:
                    self._paused = True
                    transport.pause_reading()
            resp._chunks.extend(got)
            got.clear()
            if not resp._done:  # else on_message_complete woke it
                resp._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        resp = self.resp
        if resp is None:
            return
        if resp.status and resp.close_delimited and not resp._done:
            self.on_message_complete()  # the body of a close-delimited answer ends here
            return
        why = f"the connection closed{f' ({exc})' if exc else ''}"
        self._abort(UpstreamClosed(why, self._got_bytes, self._sent))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        resp = self.resp
        if resp is not None:
            resp._raw.append((name, value))
            if resp.close_delimited and name.lower() in _BODY_FRAMING:
                resp.close_delimited = False

    def on_headers_complete(self) -> None:
        resp = self.resp
        if resp is None:
            return
        resp.status = self.parser.get_status_code()
        fut = self.headers_ready
        if fut is not None and not fut.done():
            fut.set_result(resp)

    def on_message_complete(self) -> None:
        resp = self.resp
        if resp is None:
            return
        resp._done = True
        # asked now: once feed_data returns, llhttp has reset and always says False
        self._keep_alive = self.parser.should_keep_alive()
        resp._wake()

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if not self.closed and self.transport is not None:
                self.transport.resume_reading()

    # the pool's side

    def send(self, data: bytes, deadline: float) -> asyncio.Future[Response]:
        """Writes a request; the answer must end before `deadline` (loop time).

        Raises UpstreamClosed (`sent` False) at once if the connection is already
        closed or closing: a worker can reset a connection between its connect and
        this write, and uvloop raises RuntimeError on a write to a closed transport
        (asyncio drops the bytes without a word and the request would wait for its
        deadline)."""
        transport = self.transport  # _open_transport, inlined
        if self.closed or transport is None or transport.is_closing():
            self.close()
            raise UpstreamClosed("the connection closed before the request was sent", False, False)
        loop = self.loop
        self.resp = Response(self)
        self._got_bytes = self._sent = self._keep_alive = False
        self.headers_ready = loop.create_future()
        self._deadline = alarms.start(loop, self, deadline)  # no loop timer of its own
        held = _held.get(loop)
        if held is None:  # the turn's first request: now (module doc)
            _held[loop] = []
            loop.call_soon(_write_held, loop)
            transport.write(data)
            self._sent = True
        else:
            held.append((self, data))
        return self.headers_ready

    def _open_transport(self) -> asyncio.Transport | None:
        """The transport if a write on it reaches the socket, else None."""
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return None
        return transport

    def _write(self, data: bytes) -> None:
        # closed meanwhile (cancelled, timed out, reset): the worker never sees the
        # request, and its failure says so (`sent` False)
        transport = self._open_transport()
        if transport is not None:
            transport.write(data)
            self._sent = True

    def alarm(self) -> None:
        """The request's deadline passed (alarms.py)."""
        self._deadline = None
        self._abort(UpstreamTimeout())

    def _stop_timer(self) -> None:
        due = self._deadline
        if due is not None:
            self._deadline = None
            alarms.stop(self.loop, self, due)

    def finished(self) -> None:
        """The answer was read to its end: back to the pool if the worker keeps it open."""
        self._stop_timer()
        self.resume_reading()  # an idle connection must see the worker close it
        resp, self.resp = self.resp, None
        self.headers_ready = None
        if self.closed or resp is None or not resp._done or not self._keep_alive:
            self.close()
            return
        self.reused += 1
        self._on_idle(self)

    def close(self) -> None:
        self._stop_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()  # no lingering: the worker sees the cancel at once
        resp = self.resp
        if resp is not None:
            self.resp = None
            resp._fail(UpstreamClosed("the connection was closed", self._got_bytes, self._sent))
            self._fail_headers(
                UpstreamClosed("the connection was closed", self._got_bytes, self._sent)
            )

    def _abort(self, exc: BaseException) -> None:
        self._stop_timer()
        resp = self.resp
        self._fail_headers(exc)
        if resp is not None:
            resp._fail(exc)
        self.resp = None
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    def _fail_headers(self, exc: BaseException) -> None:
        fut = self.headers_ready
        if fut is not None and not fut.done():
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waits


# Requests sent after their turn's first, per loop, until the next turn writes them.
_held: dict[asyncio.AbstractEventLoop, list[tuple[Connection, bytes]]] = {}


def _write_held(loop: asyncio.AbstractEventLoop) -> None:
    for conn, data in _held.pop(loop, ()):
        conn._write(data)
