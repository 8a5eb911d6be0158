"""A worker's connection failing before its answer: what the request path's HTTP/1.1
client raises and what the gateway answers. Each case runs on both event loops,
uvloop (the gateway's) and asyncio's own: they differ exactly here (a write on a
closed transport: uvloop raises, asyncio drops the bytes without a word)."""

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
