"""A worker's connection failing before its answer: what the request path's HTTP/1.1
client raises, whether it sends the request again, and what the gateway answers.

The client sends a request again only when no byte of it reached the socket: the
worker cannot have seen it. Once written, a connection that closes before the first
byte of the answer is a failure (502): the worker may have read the request and
started its generation, which a second copy would run twice (docs/config.md,
Routing). Each case runs on both event loops, uvloop (the gateway's) and asyncio's
own: they differ exactly here (a write on a closed transport: uvloop raises, asyncio
drops the bytes without a word)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop
from provocapi.errors import ApiError
from provocapi.http1 import Client, UpstreamClosed
from provocapi.http1.connection import Connection
from provocapi.http1.pool import HostPool
from provocapi.upstream import Upstream

from .test_http1 import OK, read_request

LOOPS = {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}
Run = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Run:
    """Runs a scenario on a loop of its own, within 10 s (a request left waiting for
    its deadline fails the case rather than passing late)."""

    def go(scenario: Coroutine[Any, Any, None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(asyncio.wait_for(scenario, 10))

    return go


@dataclass
class Seen:
    """What a raw worker saw: its connections, and each request it read whole."""

    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


Handler = Callable[[Seen, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def raw_worker(handler: Handler) -> tuple[asyncio.Server, str, Seen]:
    seen = Seen()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            await handler(seen, reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/chat/completions", seen


async def reset_at_once(seen: Seen, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    """A worker going away: every connection it accepts is reset (RST) unread."""
    w.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    w.transport.abort()


async def answer_all(seen: Seen, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while (req := await read_request(reader)) is not None:
        seen.requests.append(req)
        w.write(OK)
        await w.drain()


async def answer_once_then_drop(
    seen: Seen, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """Answers a connection's first request; reads its second and closes unanswered."""
    for answer in (True, False):
        req = await read_request(reader)
        if req is None:
            return
        seen.requests.append(req)
        if answer:
            w.write(OK)
            await w.drain()


def test_a_connection_reset_between_connect_and_write_is_a_502(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flaky 500 of the worker-killed fault case: a worker being killed still
    completes the handshake of a new connection (its listen backlog), then resets it.
    Read before the request was written (forced here), uvloop raised RuntimeError on
    the write, which no handler mapped: the client got 500 `internal_error`."""
    connect = HostPool.connect

    async def connect_then_lose_it(self: HostPool, timeout_s: float) -> Connection:
        conn = await connect(self, timeout_s)
        while not conn.closed:  # the reset is read before the request is written
            await asyncio.sleep(0.001)
        return conn

    monkeypatch.setattr(HostPool, "connect", connect_then_lose_it)

    async def scenario() -> None:
        server, url, _ = await raw_worker(reset_at_once)
        client, upstream = Client(1.0), Upstream(1.0)
        try:
            with pytest.raises(UpstreamClosed) as closed:
                await client.post(url, b"{}", 30.0)
            assert not closed.value.sent and not closed.value.got_bytes
            with pytest.raises(ApiError) as err:  # what the gateway answers
                await upstream.post(url, b"{}", 30.0)
            assert (err.value.status, err.value.code) == (502, "upstream_error")
        finally:
            client.close()
            await upstream.close()
            server.close()

    run(scenario())


def test_any_other_error_of_the_client_is_a_502(
    run: Run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever the transport raises, the client gets an envelope and the log the
    traceback; never the app's 500."""

    async def post(*_: object) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")

    monkeypatch.setattr(Client, "post", post)

    async def scenario() -> None:
        upstream = Upstream(1.0)
        with pytest.raises(ApiError) as err:
            await upstream.post("http://127.0.0.1:9/v1/chat/completions", b"{}", 5.0)
        assert (err.value.status, err.value.code) == (502, "upstream_error")
        assert "RuntimeError" in err.value.message
        await upstream.close()

    run(scenario())
    assert "unable to perform operation" in caplog.text  # the traceback is logged


def test_a_written_request_is_not_sent_again_when_the_worker_closes_unanswered(
    run: Run,
) -> None:
    """On a kept-alive connection the worker reads the request, then closes without a
    byte of answer: it may be generating, so the request goes nowhere else from here."""

    async def scenario() -> None:
        server, url, seen = await raw_worker(answer_once_then_drop)
        client, upstream = Client(1.0), Upstream(1.0)
        try:
            resp = await client.post(url, b'"first"', 5.0)
            assert await resp.read() == b"{}"
            with pytest.raises(UpstreamClosed) as closed:
                await client.post(url, b'"second"', 5.0)  # on the kept-alive connection
            assert closed.value.sent and not closed.value.got_bytes
            assert seen.connections == 1  # no fresh connection carried it again
            assert [r.endswith(b'"second"') for r in seen.requests] == [False, True]
            resp = await upstream.post(url, b'"third"', 5.0)  # a fresh connection
            assert await resp.read() == b"{}"
            with pytest.raises(ApiError) as err:
                await upstream.post(url, b'"fourth"', 5.0)
            assert (err.value.status, err.value.code) == (502, "upstream_error")
            assert sum(r.endswith(b'"fourth"') for r in seen.requests) == 1
        finally:
            client.close()
            await upstream.close()
            server.close()

    run(scenario())


def test_a_request_not_yet_written_when_its_connection_is_lost_goes_on_another(
    run: Run,
) -> None:
    """A turn's second request waits for the next turn (connection.py); its kept-alive
    connection lost meanwhile, nothing of it was written: it is sent on a fresh one."""

    async def scenario() -> None:
        server, url, seen = await raw_worker(answer_all)
        client = Client(1.0)
        try:
            for resp in await asyncio.gather(*(client.post(url, b"{}", 5.0) for _ in "ab")):
                await resp.read()
            (pool,) = client._pools.values()
            assert len(pool.idle) == 2 and seen.connections == 2
            held_on = pool.idle[0]  # the older one: the turn's second request takes it
            first = asyncio.ensure_future(client.post(url, b'"first"', 5.0))
            second = asyncio.ensure_future(client.post(url, b'"second"', 5.0))
            await asyncio.sleep(0)  # both sent: the first written, the second held
            assert held_on.resp is not None and held_on.transport is not None
            held_on.transport.abort()  # lost before the next turn, as a reset read now
            for task in (first, second):
                assert await (await task).read() == b"{}"
            assert seen.connections == 3  # the second went on a fresh connection
            assert sum(r.endswith(b'"second"') for r in seen.requests) == 1
        finally:
            client.close()
            server.close()

    run(scenario())
