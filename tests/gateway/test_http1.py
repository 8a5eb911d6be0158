"""The request path's HTTP/1.1 client against raw servers that answer byte for byte."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme
from provocapi.http1 import BadHttp, Client, UpstreamClosed, UpstreamTimeout
from provocapi.http1.connection import Connection
from provocapi.sim.process import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One request (head + Content-Length body), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = asyncio.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        s = Server(handler)
        servers.append(await asyncio.start_server(s._serve, "127.0.0.1", s.port))
        return s

    yield start
    for s in servers:
        s.close()


def answering(*answers: bytes, keep: bool = True) -> Callable[[Server], Handler]:
    """A handler that answers each request on a connection with the next of `answers`."""

    def bind(srv: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for answer in answers:
                req = await read_request(reader)
                if req is None:
                    srv.closed_by_client.set()
                    return
                srv.requests.append(req)
                writer.write(answer)
                await writer.drain()
                if not keep:
                    return
            if await read_request(reader) is None:
                srv.closed_by_client.set()

        return handler

    return bind


Start = Callable[[Handler], Awaitable[Server]]


async def started(server: Start, bind: Callable[[Server], Handler]) -> Server:
    box: list[Server] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await bind(box[0])(reader, writer)

    srv = await server(handler)
    box.append(srv)
    return srv


async def test_one_write_and_keep_alive_reuse(server: Start) -> None:
    srv = await started(server, answering(OK, OK, OK))
    client = Client(1.0)
    for _ in range(3):
        resp = await client.post(srv.url, b'{"a": 1}', 5.0, {"Authorization": "Bearer k"})
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/json"
        assert await resp.read() == b"{}"
    assert srv.connections == 1  # one keep-alive connection for all three
    head = srv.requests[0].decode()
    assert head.startswith("POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{srv.port}\r\n" in head
    assert "Authorization: Bearer k\r\n" in head and "Content-Length: 8\r\n" in head
    assert head.endswith('\r\n\r\n{"a": 1}')
    client.close()


async def test_chunked_answer_as_it_comes(server: Start) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"6\r\n world\r\n0\r\n\r\n")
        await writer.drain()
        await read_request(reader)

    srv = await server(handler)
    client = Client(1.0)
    resp = await client.post(srv.url, b"{}", 5.0)
    parts = [p async for p in resp.iter_any()]
    assert parts == [b"hello", b" world"]
    assert resp.at_eof()
    resp.release()
    assert len(client._pools[("http", "127.0.0.1", srv.port)].idle) == 1
    client.close()


async def test_read_now_takes_a_whole_body_and_only_a_whole_one(server: Start) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b" world")
        await writer.drain()
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await read_request(reader)

    srv = await server(handler)
    client = Client(1.0)
    resp = await client.post(srv.url, b"{}", 5.0)
    assert resp.read_now() is None  # half of it: the connection stays with the answer
    assert not client._pools[("http", "127.0.0.1", srv.port)].idle
    assert await resp.read() == b"hello world"
    resp = await client.post(srv.url, b"{}", 5.0)  # the same connection, kept alive
    for _ in range(100):
        body = resp.read_now()
        if body is not None:
            break
        await asyncio.sleep(0.01)
    assert body == b"{}"
    assert len(client._pools[("http", "127.0.0.1", srv.port)].idle) == 1  # back in its pool
    client.close()


async def test_close_delimited_body_ends_at_eof(server: Start) -> None:
    srv = await started(server, answering(b"HTTP/1.1 200 OK\r\n\r\nall of it", keep=False))
    client = Client(1.0)
    resp = await client.post(srv.url, b"{}", 5.0)
    assert await resp.read() == b"all of it"
    assert not client._pools[("http", "127.0.0.1", srv.port)].idle  # not reusable
    client.close()


async def test_a_connection_the_worker_closed_while_idle_is_replaced(server: Start) -> None:
    # The server answers one request per connection, then closes without saying so.
    srv = await started(server, answering(OK, keep=False))
    client = Client(1.0)
    for _ in range(3):
        resp = await client.post(srv.url, b"{}", 5.0)
        assert await resp.read() == b"{}"
        await asyncio.sleep(0.02)
    assert srv.connections == 3
    client.close()


async def test_a_request_cut_before_any_answer_on_a_fresh_connection_fails(server: Start) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # then close: no answer at all

    srv = await server(handler)
    client = Client(1.0)
    with pytest.raises(UpstreamClosed) as info:
        await client.post(srv.url, b"{}", 5.0)
    assert not info.value.got_bytes
    assert srv.connections == 1  # a fresh connection is not retried
    client.close()


async def test_cut_mid_body(server: Start) -> None:
    srv = await started(
        server, answering(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", keep=False)
    )
    client = Client(1.0)
    resp = await client.post(srv.url, b"{}", 5.0)
    with pytest.raises(UpstreamClosed) as info:
        await resp.read()
    assert info.value.got_bytes
    client.close()


async def test_garbage_is_bad_http(server: Start) -> None:
    srv = await started(server, answering(b"SMTP ready\r\n\r\n"))
    client = Client(1.0)
    with pytest.raises(BadHttp):
        await client.post(srv.url, b"{}", 5.0)
    client.close()


async def test_a_streamed_body_the_reader_does_not_take_stops_the_worker(server: Start) -> None:
    """A client reading a stream slowly must not make the gateway hold the whole answer:
    past a bound the worker's socket is read no further (it waits, as TCP makes it), and
    reading resumes as the relay takes what came."""
    piece = b"x" * 16384
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)
    total = 64 * 1024 * 1024  # far more than the socket buffers of loopback hold
    written = 0
    done = asyncio.Event()

    async def firehose(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while written < total:
            writer.write(frame)
            await writer.drain()
            written += len(piece)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        done.set()
        await read_request(reader)

    srv = await server(firehose)
    client = Client(1.0)
    resp = await client.post(srv.url, b"{}", 60.0)
    body = resp.iter_any()
    got = len(await anext(body))
    await asyncio.sleep(0.5)  # a slow client: the relay waits on its writes meanwhile
    assert sum(map(len, resp._chunks)) <= 1024 * 1024  # held by the gateway
    assert written < total / 2  # the worker was held back, not read off
    async for data in body:  # the rest still comes, whole
        got += len(data)
    assert got == total and done.is_set()
    resp.release()
    assert len(client._pools[("http", "127.0.0.1", srv.port)].idle) == 1  # reading again
    client.close()


async def test_deadline_covers_headers_and_body(server: Start) -> None:
    async def slow_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await read_request(reader)  # until the client drops the connection

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await read_request(reader)

    client = Client(1.0)
    srv = await server(silent)
    with pytest.raises(UpstreamTimeout):
        await client.post(srv.url, b"{}", 0.2)
    srv = await server(slow_body)
    resp = await client.post(srv.url, b"{}", 0.2)
    with pytest.raises(UpstreamTimeout):
        await resp.read()
    client.close()


async def test_refused_connection_is_an_os_error() -> None:
    client = Client(1.0)
    with pytest.raises(OSError):
        await client.post(f"http://127.0.0.1:{free_port()}/v1/x", b"{}", 5.0)
    client.close()


async def test_cancelling_drops_the_connection(server: Start) -> None:
    srv = await started(server, answering())  # reads the request, never answers

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        srv.requests.append(await read_request(reader) or b"")
        if await read_request(reader) is None:
            srv.closed_by_client.set()

    srv.handler = hold
    client = Client(1.0)
    task = asyncio.ensure_future(client.post(srv.url, b"{}", 30.0))
    while not srv.requests:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(srv.closed_by_client.wait(), 1.0)  # the worker sees it at once
    client.close()


async def test_https_with_the_system_trust_store(
    server: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider behind TLS: verified against the trust store (SSL_CERT_FILE here)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    srv = Server(lambda r, w: answering(OK, OK)(srv)(r, w))
    tls_server = await asyncio.start_server(srv._serve, "127.0.0.1", srv.port, ssl=server_ctx)
    try:
        client = Client(2.0)
        url = f"https://127.0.0.1:{srv.port}/v1/chat/completions"
        for _ in range(2):
            resp = await client.post(url, b"{}", 5.0, {"Authorization": "Bearer sk"})
            assert resp.status == 200 and await resp.read() == b"{}"
        assert srv.connections == 1
        assert b"Authorization: Bearer sk" in srv.requests[0]
        client.close()
        # a certificate nobody vouches for is refused
        monkeypatch.delenv("SSL_CERT_FILE")
        untrusting = Client(2.0)
        with pytest.raises(ssl.SSLError):
            await untrusting.post(url, b"{}", 5.0)
        untrusting.close()
    finally:
        tls_server.close()


class _Recorder:
    """A transport that keeps what is written, in order, across connections."""

    def __init__(self, log: list[bytes]) -> None:
        self.log = log

    def write(self, data: bytes) -> None:
        self.log.append(data)

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


async def test_a_turns_first_request_goes_at_once_and_the_rest_together_after_it() -> None:
    """The others wait for the next turn and leave back to back (one wake-up of the worker
    for all); a request whose connection closed before then is never written."""
    log: list[bytes] = []
    conns = [Connection(lambda c: None) for _ in range(5)]
    for c in conns:
        c.connection_made(_Recorder(log))  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    for i, c in enumerate(conns[:4]):
        c.send(b"request %d" % i, loop.time() + 60)
    assert log == [b"request 0"]  # a lone request waits for nothing
    conns[2].close()  # e.g. its client went away
    await asyncio.sleep(0)
    assert log == [b"request 0", b"request 1", b"request 3"]
    conns[4].send(b"again", loop.time() + 60)  # a new turn: first again, at once
    assert log[-1] == b"again"
    for c in conns:
        c.close()
