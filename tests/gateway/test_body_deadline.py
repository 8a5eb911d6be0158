"""The body deadline (body_deadline.py, Request.body) and the slow-client settings of [server].

In-process, with ASGI `receive` functions standing in for Granian's: a body that stops
arriving is answered 408, a body that arrives is read as before, a cancellation that is
not the deadline's still propagates, and the sweeper goes away when no read is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from provocapi import config
from provocapi.asgi import Message, Request
from provocapi.body_deadline import BodyDeadlines
from provocapi.errors import ApiError

TIMEOUT_S = 0.2
SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/v1/x", "headers": []}


async def _send(msg: Message) -> None:
    raise AssertionError("Request.body sends nothing")


def receive_then_stall(first: bytes) -> Callable[[], Awaitable[Message]]:
    """One chunk with more to come, then nothing ever again (a trickling client)."""
    calls = 0

    async def receive() -> Message:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": first, "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


def receive_chunks(*chunks: bytes) -> Callable[[], Awaitable[Message]]:
    it = iter([*chunks, b""])

    async def receive() -> Message:
        chunk = next(it)
        return {"type": "http.request", "body": chunk, "more_body": chunk != b""}

    return receive


async def test_a_body_that_stops_arriving_is_a_408_request_timeout() -> None:
    deadlines = BodyDeadlines(TIMEOUT_S)
    req = Request(SCOPE, receive_then_stall(b'{"model":'), _send, deadlines)
    with pytest.raises(ApiError) as exc:
        await req.body(1 << 20)
    err = exc.value
    assert (err.status, err.code, err.type) == (408, "request_timeout", "timeout")
    assert (b"connection", b"close") in err.headers
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the handler can still answer
    assert not deadlines._reading
    await asyncio.sleep(0)  # the handler's next await is not cancelled either


async def test_a_stalled_first_receive_is_cut_too() -> None:
    deadlines = BodyDeadlines(TIMEOUT_S)

    async def never() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with pytest.raises(ApiError) as exc:
        await Request(SCOPE, never, _send, deadlines).body(1 << 20)
    assert exc.value.status == 408


async def test_bodies_that_arrive_are_read_whole_and_leave_nothing_behind() -> None:
    deadlines = BodyDeadlines(TIMEOUT_S)
    bodies = await asyncio.gather(
        *(
            Request(SCOPE, receive_chunks(b"ab", b"cd", str(i).encode()), _send, deadlines).body(
                100
            )
            for i in range(50)
        )
    )
    assert bodies == [b"abcd" + str(i).encode() for i in range(50)]
    assert not deadlines._reading
    # the sweeper ends once no read is in progress (it costs nothing while idle)
    await asyncio.sleep(deadlines.tick_s * 3)
    assert deadlines._sweeper is None


async def test_a_cancellation_that_is_not_the_deadlines_propagates() -> None:
    deadlines = BodyDeadlines(60.0)
    req = Request(SCOPE, receive_then_stall(b"x"), _send, deadlines)
    task = asyncio.create_task(req.body(1 << 20))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._reading


async def test_the_413_limit_still_applies_under_a_deadline() -> None:
    deadlines = BodyDeadlines(TIMEOUT_S)
    req = Request(SCOPE, receive_chunks(b"x" * 60, b"y" * 60), _send, deadlines)
    with pytest.raises(ApiError) as exc:
        await req.body(100)
    assert exc.value.status == 413
    assert not deadlines._reading


def test_the_slow_client_settings_have_their_documented_defaults() -> None:
    server = config.load(None).server
    assert server.header_read_timeout_s == 10.0
    assert server.body_read_timeout_s == 30.0
    assert server.backpressure is None  # Granian's: backlog // workers
    assert server.backlog == 2048


MINIMAL = """
[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""


@pytest.mark.parametrize(
    ("server", "needle"),
    [
        ("header_read_timeout_s = 0", "header_read_timeout_s"),
        ("header_read_timeout_s = 7200", "header_read_timeout_s"),
        ("body_read_timeout_s = 0", "body_read_timeout_s"),
        ("backpressure = 0", "backpressure"),
        ("backlog = 64", "backlog"),
    ],
)
def test_bad_slow_client_settings_are_refused(server: str, needle: str) -> None:
    with pytest.raises(config.ConfigError) as exc:
        config.parse(f"[server]\n{server}\n{MINIMAL}", "test.toml")
    assert f"server.{needle}" in str(exc.value)
