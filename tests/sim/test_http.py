"""The simulator's HTTP/1.1 server: keep-alive, pipelining, chunked request bodies."""

from __future__ import annotations

import asyncio

import orjson
from provocapi.http1.pool import IDLE_MAX_S
from provocapi.sim.server import KEEP_ALIVE_S

from .client import parse, request_bytes

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


async def test_keep_alive_and_pipelining(sim) -> None:
    s = await sim("--model", "m")
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    one = request_bytes("POST", "/v1/chat/completions", CHAT, close=False)
    slow = request_bytes(
        "POST",
        "/v1/chat/completions",
        {**CHAT, "messages": [{"role": "user", "content": "[sim:delay_ms=50]"}]},
        close=False,
    )
    writer.write(one + slow + one)  # three requests in one write: answered in order
    replies = [parse(await _read_response(reader)) for _ in range(3)]
    assert [r.status for r in replies] == [200, 200, 200]
    assert (
        replies[0].json()["choices"][0]["message"]["content"]
        == replies[2].json()["choices"][0]["message"]["content"]
    )
    writer.write(request_bytes("GET", "/health", close=False))
    assert parse(await _read_response(reader)).status == 200
    writer.close()


async def test_chunked_request_body(sim) -> None:
    s = await sim("--model", "m")
    payload = orjson.dumps(CHAT)
    parts = [payload[:10], payload[10:]]
    body = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked"
        b"\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n" + body
    )
    reply = parse(await reader.read(-1))
    writer.close()
    assert reply.status == 200 and reply.headers["connection"] == "close"
    assert reply.json()["usage"]["completion_tokens"] == 2


async def test_bad_request_line(sim) -> None:
    s = await sim("--model", "m")
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    data = await reader.read(-1)
    writer.close()
    assert data.startswith(b"HTTP/1.1 400")


async def test_expect_100_continue(sim) -> None:
    s = await sim("--model", "m")
    payload = orjson.dumps(CHAT)
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(payload)
    )
    assert (
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2) == b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(payload)
    reply = parse(await reader.read(-1))
    writer.close()
    assert reply.status == 200


async def test_an_idle_connection_is_closed_after_uvicorns_keep_alive_timeout(sim) -> None:
    # trtllm-serve runs uvicorn with timeout_keep_alive=5: a worker closes a connection
    # idle that long, and the gateway's pool must not reuse one that old (http1/pool.py).
    # Without it here, no test could meet the race of a request sent as the worker closes.
    s = await sim("--model", "m")
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    try:
        writer.write(request_bytes("GET", "/health", close=False))
        assert parse(await _read_response(reader)).status == 200
        await asyncio.sleep(3.0)  # idle, not long enough: the next request is served
        writer.write(request_bytes("GET", "/health", close=False))
        assert parse(await _read_response(reader)).status == 200
        answered = loop.time()
        assert await asyncio.wait_for(reader.read(1), 15) == b""  # closed by the worker
        idle = loop.time() - answered  # counted from the last answer, not the first
        assert 5.0 - 0.5 <= idle <= 5.0 + 2.0, idle
        assert IDLE_MAX_S < KEEP_ALIVE_S  # the pool gives up on a connection first
    finally:
        writer.close()
