"""What the body deadline costs a request: `Request.body` with and without it.

    .venv/bin/python -m pytest bench/test_body_read_bench.py --benchmark-enable
    .venv/bin/python -m pytest bench/test_body_read_bench.py --benchmark-disable   # checks only

Each round reads 2,000 request bodies in-process on uvloop, as Granian delivers a small
one (its data with `more_body`, then an empty last message): without a deadline, with the
gateway's (`body_deadline.py`: a dict entry per read, one sweeper per process), and, for
reference, under `asyncio.timeout` (a loop timer per read); `json_route` is the gateway's
read on a JSON route (`Request.json_body`: the Content-Type checked, then the deadline's
read; an older checkout without it reads with `body`). Divide the times by 2,000 for the
cost of one read; each round checks the bodies it read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop
from provocapi.asgi import Message, Request
from provocapi.body_deadline import BodyDeadlines

READS = 2_000
BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + b"x" * 600 + b'"}]}'
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
        (b"authorization", b"Bearer pk-prov-x"),
    ],
}
MESSAGES: list[Message] = [
    {"type": "http.request", "body": BODY, "more_body": True},
    {"type": "http.request", "body": b"", "more_body": False},
]


def granian_like_receive() -> Callable[[], Awaitable[Message]]:
    it = iter(MESSAGES)

    async def receive() -> Message:
        return next(it)

    return receive


async def send(msg: Message) -> None:
    return None


async def read_all(deadlines: BodyDeadlines | None, timer: bool, json_route: bool = False) -> int:
    total = 0
    for _ in range(READS):
        req = Request(SCOPE, granian_like_receive(), send, deadlines)
        # a JSON route's read (its Content-Type checked); a checkout before it: body()
        read = getattr(req, "json_body", req.body) if json_route else req.body
        if timer:
            async with asyncio.timeout(30.0):
                body = await read(1 << 20)
        else:
            body = await read(1 << 20)
        total += len(body) if body == BODY else 0
    return total


@pytest.fixture(scope="module")
def loop() -> Any:
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()


@pytest.mark.parametrize(
    "variant", ["no_deadline", "body_deadline", "asyncio_timeout", "json_route"]
)
def test_body_read(benchmark: Any, loop: Any, variant: str) -> None:
    deadlines = BodyDeadlines(30.0) if variant in ("body_deadline", "json_route") else None
    timer = variant == "asyncio_timeout"
    json_route = variant == "json_route"
    total = benchmark(lambda: loop.run_until_complete(read_all(deadlines, timer, json_route)))
    assert total == READS * len(BODY)
    if deadlines is not None:
        assert not deadlines._reading  # every read left its entry
