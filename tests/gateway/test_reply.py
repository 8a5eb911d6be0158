"""`asgi.Reply`, the one owner of what the client was sent: an error is the envelope
before the start, the stream's error event after, and nothing once the client left."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import orjson
from provocapi.asgi import CLIENT_CLOSED, ClientGone, Reply
from provocapi.error_catalog import WAKE_TIMEOUT

Message = MutableMapping[str, Any]


class Client:
    def __init__(self, leaves_after: int | None = None) -> None:
        self.sent: list[Message] = []
        self.leaves_after = leaves_after

    async def send(self, msg: Message) -> None:
        if self.leaves_after is not None and len(self.sent) >= self.leaves_after:
            raise OSError("connection reset")
        self.sent.append(msg)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent)


def _reply(client: Client) -> Reply:
    return Reply(client.send, [(b"x-request-id", b"req_1")])


def test_an_error_before_the_start_is_the_envelope() -> None:
    client = Client()
    reply = _reply(client)
    asyncio.run(reply.error(WAKE_TIMEOUT.build(model="m", waited_s=3.0), 1))
    start = client.sent[0]
    assert start["status"] == 504 and (b"x-request-id", b"req_1") in start["headers"]
    assert orjson.loads(client.body())["error"]["code"] == "wake_timeout"
    assert (reply.started, reply.ended, reply.outcome) == (True, True, 504)


def test_keepalives_open_the_stream_once_and_an_error_is_its_event() -> None:
    client = Client()
    reply = _reply(client)

    async def run() -> None:
        await reply.keepalive()
        await reply.keepalive()
        await reply.error(WAKE_TIMEOUT.build(model="m", waited_s=3.0), 1)

    asyncio.run(run())
    starts = [m for m in client.sent if m["type"] == "http.response.start"]
    assert len(starts) == 1 and starts[0]["status"] == 200
    body = client.body()
    assert body.startswith(b": keep-alive\n\n: keep-alive\n\ndata: ")
    event = orjson.loads(body.split(b"data: ", 1)[1])
    assert event["error"]["code"] == "wake_timeout"
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert reply.ended and reply.outcome == 200


def test_a_client_that_left_is_sent_nothing_more() -> None:
    client = Client(leaves_after=1)  # takes the start, then the connection is gone
    reply = _reply(client)

    async def run() -> None:
        await reply.start_stream()
        try:
            await reply.write(b"data: {}\n\n")
        except ClientGone:
            pass
        await reply.error(WAKE_TIMEOUT.build(model="m", waited_s=3.0), 1)  # never raises

    asyncio.run(run())
    assert len(client.sent) == 1
    assert reply.client_gone and reply.outcome == CLIENT_CLOSED
