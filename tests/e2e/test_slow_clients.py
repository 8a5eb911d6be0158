"""Slowloris: clients that trickle their headers or their body are cut off, others are served.

The gateway runs with short limits (`header_read_timeout_s = 1`, `body_read_timeout_s = 2`).
Two hundred raw connections (as many as the report used) send one byte every half second,
half of them still in the headers, half in the body of a chat completion; meanwhile a normal
client keeps asking for completions. Each slow connection must be closed by the gateway
within its timeout plus a margin (the margin is for a loaded machine, not a speed target),
the header ones without an answer, the body ones with a 408 `request_timeout`; every normal
request must be answered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
import pytest
from harness.gateway import Gateway as Serve

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 2.0
MARGIN_S = 3.0  # scheduling on a shared two-core machine; the sweeper's tick is 0.25 s
SLOW_HEADERS = 100
SLOW_BODIES = 100
TRICKLE_S = 0.5
MODEL = "llama-3.1-8b-instruct"


@dataclass(frozen=True)
class Gateway:
    host: str
    port: int
    key: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("slow-clients")
    serve = Serve(
        root,
        f"""\
        [server]
        header_read_timeout_s = {HEADER_TIMEOUT_S}
        body_read_timeout_s = {BODY_TIMEOUT_S}

        [[models]]
        id = "{MODEL}"
        kind = "chat"
        family = "llama3"
        default_max_tokens = 8
        simulate = true
        """,
    )
    key = serve.create_key("slow")
    try:
        serve.start(30)
        yield Gateway("127.0.0.1", serve.port, key)
    finally:
        serve.stop(5)


@dataclass
class Outcome:
    closed_after_s: float | None  # None: still open when the test gave up on it
    answer: bytes


async def trickle(gw: Gateway, preamble: bytes, give_up_s: float) -> Outcome:
    """Sends `preamble`, then one byte every TRICKLE_S until the gateway closes the
    connection. The clock starts before connecting: the server's header deadline runs
    from its accept, so a clock started later could see the cut come "early"."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(gw.host, gw.port)
    writer.write(preamble)
    await writer.drain()
    answer = b""
    try:
        while time.monotonic() - started < give_up_s:
            try:
                chunk = await asyncio.wait_for(reader.read(4096), TRICKLE_S)
            except TimeoutError:
                writer.write(b"a")
                await writer.drain()
                continue
            if not chunk:
                return Outcome(time.monotonic() - started, answer)
            answer += chunk
    except (ConnectionResetError, BrokenPipeError):
        return Outcome(time.monotonic() - started, answer)
    finally:
        writer.close()
    return Outcome(None, answer)


def slow_header_preamble(gw: Gateway) -> bytes:
    # the request line and a header name that never ends
    return f"POST /v1/chat/completions HTTP/1.1\r\nHost: {gw.host}\r\nX-Slow: ".encode()


def slow_body_preamble(gw: Gateway) -> bytes:
    body_len = 10_000  # never all sent
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {gw.host}\r\n"
        f"Authorization: Bearer {gw.key}\r\nContent-Type: application/json\r\n"
        f'Content-Length: {body_len}\r\n\r\n{{"model": "{MODEL}", '
    ).encode()


CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}


async def normal_client(gw: Gateway, stop: asyncio.Event) -> list[int]:
    statuses: list[int] = []
    headers = {"Authorization": f"Bearer {gw.key}"}
    async with httpx2.AsyncClient(base_url=gw.url, timeout=30.0, trust_env=False) as client:
        while not stop.is_set():
            r = await client.post("/v1/chat/completions", json=CHAT, headers=headers)
            statuses.append(r.status_code)
            if r.status_code == 200:
                assert r.json()["choices"][0]["message"]["role"] == "assistant"
            await asyncio.sleep(0.1)
    return statuses


async def test_slow_connections_are_closed_and_a_normal_client_is_served(gateway: Gateway) -> None:
    give_up = BODY_TIMEOUT_S + MARGIN_S + 2.0
    stop = asyncio.Event()
    normal = asyncio.create_task(normal_client(gateway, stop))
    slow_headers = [
        asyncio.create_task(trickle(gateway, slow_header_preamble(gateway), give_up))
        for _ in range(SLOW_HEADERS)
    ]
    slow_bodies = [
        asyncio.create_task(trickle(gateway, slow_body_preamble(gateway), give_up))
        for _ in range(SLOW_BODIES)
    ]
    headers_out = await asyncio.gather(*slow_headers)
    bodies_out = await asyncio.gather(*slow_bodies)
    stop.set()
    statuses = await normal

    for out in headers_out:
        assert out.closed_after_s is not None, "a connection trickling its headers stayed open"
        # closed by the header timeout (nothing else would close it), without an answer
        assert HEADER_TIMEOUT_S * 0.9 <= out.closed_after_s <= HEADER_TIMEOUT_S + MARGIN_S
        assert out.answer == b""
    for out in bodies_out:
        assert out.closed_after_s is not None, "a connection trickling its body stayed open"
        assert BODY_TIMEOUT_S * 0.9 <= out.closed_after_s <= BODY_TIMEOUT_S + MARGIN_S
        head, _, body = out.answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), out.answer[:200]
        assert b"connection: close" in head.lower()
        error = json.loads(body)["error"]
        assert error["code"] == "request_timeout"
        assert error["type"] == "timeout"
    # served all along: the slow connections held no slot a normal request needed
    assert len(statuses) >= 5, statuses
    assert set(statuses) == {200}, statuses


async def test_a_body_slower_than_usual_but_within_the_deadline_is_served(
    gateway: Gateway,
) -> None:
    body = json.dumps(CHAT).encode()
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {gateway.host}\r\n"
            f"Authorization: Bearer {gateway.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head)
        await writer.drain()
        # four pieces a quarter of the body timeout apart: done well before it
        for i in range(4):
            writer.write(body[i * len(body) // 4 : (i + 1) * len(body) // 4])
            await writer.drain()
            await asyncio.sleep(BODY_TIMEOUT_S / 8)
        answer = await asyncio.wait_for(reader.read(), 30.0)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", answer[:300]
    assert b'"object":"chat.completion"' in rest


async def test_an_idle_keep_alive_connection_is_closed_after_the_header_timeout(
    gateway: Gateway,
) -> None:
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        writer.write(f"GET /health HTTP/1.1\r\nHost: {gateway.host}\r\n\r\n".encode())
        await writer.drain()
        first = await asyncio.wait_for(reader.readuntil(b"}}}"), 10.0)
        assert first.startswith(b"HTTP/1.1 200")
        idle_from = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), HEADER_TIMEOUT_S + MARGIN_S)
        idle_s = time.monotonic() - idle_from
    finally:
        writer.close()
    assert rest == b""  # closed, nothing more said
    assert HEADER_TIMEOUT_S * 0.9 <= idle_s
