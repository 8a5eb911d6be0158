"""What the write deadline costs: a relayed chunk's `Reply.write`, and a stream's start.

    .venv/bin/python -m pytest bench/test_write_bench.py --benchmark-enable
    .venv/bin/python -m pytest bench/test_write_bench.py --benchmark-disable   # checks only

Each round, in-process on uvloop with a `send` that completes at once (as Granian's
does while the client's socket has room):

- `test_write`: 10,000 chunks through `Reply.write` (the send's start stamped on the
  reply and cleared after: write_deadline.py), against the same loop through the write
  the gateway had before the deadline (`main_write`: the send and its error mapping).
  The difference / 10,000 is the deadline's cost per relayed chunk.
- `test_start_stream`: 2,000 streams started and ended, with and without a
  `WriteDeadlines` (one dict entry per stream, one sweeper per process).
"""

from __future__ import annotations

from typing import Any

import pytest
import uvloop
from provocapi.asgi import ClientGone, Message, Reply
from provocapi.write_deadline import WriteDeadlines

CHUNKS = 10_000
STREAMS = 2_000
DATA = b'data: {"choices":[{"index":0,"delta":{"content":" word"}}]}\n\n'


class Sink:
    def __init__(self) -> None:
        self.bytes = 0

    async def send(self, msg: Message) -> None:
        self.bytes += len(msg.get("body", b""))


async def main_write(reply: Reply, data: bytes) -> None:
    """Reply.write as it was before the write deadline (for reference)."""
    try:
        await reply.send({"type": "http.response.body", "body": data, "more_body": True})
    except Exception as exc:
        reply.client_gone = True
        raise ClientGone from exc


async def write_chunks(variant: str) -> int:
    sink = Sink()
    reply = Reply(sink.send, [], deadlines=WriteDeadlines(60.0))
    await reply.start_stream()
    if variant == "main_write":
        for _ in range(CHUNKS):
            await main_write(reply, DATA)
    else:
        for _ in range(CHUNKS):
            await reply.write(DATA)
    return sink.bytes


async def start_streams(deadlines: WriteDeadlines | None) -> int:
    sink = Sink()
    for _ in range(STREAMS):
        reply = Reply(sink.send, [], deadlines=deadlines)
        await reply.start_stream()
        await reply.end_stream()
    return STREAMS if deadlines is None else deadlines.watched


@pytest.fixture(scope="module")
def loop() -> Any:
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()


@pytest.mark.parametrize("variant", ["main_write", "write"])
def test_write(benchmark: Any, loop: Any, variant: str) -> None:
    total = benchmark(lambda: loop.run_until_complete(write_chunks(variant)))
    assert total == CHUNKS * len(DATA)


@pytest.mark.parametrize("variant", ["no_deadline", "write_deadline"])
def test_start_stream(benchmark: Any, loop: Any, variant: str) -> None:
    def run() -> int:
        deadlines = WriteDeadlines(60.0) if variant == "write_deadline" else None
        return loop.run_until_complete(start_streams(deadlines))

    assert benchmark(run) == STREAMS
