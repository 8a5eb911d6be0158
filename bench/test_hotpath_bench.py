"""Pieces of one non-streaming chat request's own CPU, each in a hot loop (issue 18).

    .venv/bin/python -m pytest bench/test_hotpath_bench.py --benchmark-enable
    .venv/bin/python -m pytest bench/test_hotpath_bench.py --benchmark-disable   # checks only

- `test_plan_chat`: the floor's chat body (bench/floor.py) through `request_policy.plan_chat`,
  up to the encoded upstream body.
- `test_usage_rows`: the begin row, the end row made from it in place (`finish_row`) and
  both lines encoded: what usage adds per call besides its spool write.
- `test_http1_answer`: one request written on a kept-alive `http1.Connection` (a transport
  that only counts bytes; the write happens in the loop turn after `send`, and the turn is
  timed with it), a four-header answer parsed, the body taken with `read_now`.

A hot loop is the floor of each cost: inside the running gateway (64 calls in flight, the
worker's process beside it) each costs two to three times as much
(bench/results/hotpath-2026-12-03.md). Each benchmark checks what it produced.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson
from provocapi.catalog import Resolved
from provocapi.config import Capabilities, ModelConfig
from provocapi.decoding import decode
from provocapi.http1.connection import Connection
from provocapi.request_policy import plan_chat
from provocapi.schemas import ChatRequest
from provocapi.usage.event import begin_row, encode, finish_row

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))

import floor  # noqa: E402  (the floor's body and model)
from usage.calls import call, finish  # noqa: E402  (real Call records)

CHAT = ModelConfig(
    id=floor.MODEL,
    kind="chat",
    family="llama3",
    workers=["http://127.0.0.1:9"],
    capabilities=Capabilities(tools=True, json_mode=True),
)
ANSWER = (
    b"HTTP/1.1 200 OK\r\ndate: Thu, 03 Dec 2026 21:00:00 GMT\r\nserver: uvicorn\r\n"
    b"content-length: 2\r\ncontent-type: application/json\r\n\r\n{}"
)


def test_plan_chat(benchmark: Any) -> None:
    req = decode(orjson.dumps(floor.body(False)), ChatRequest)
    res = Resolved(CHAT, None, CHAT.id)
    body = benchmark(lambda: plan_chat(req, res).body)  # the body is encoded on first ask
    sent = orjson.loads(body)
    assert sent["model"] == CHAT.served_name and sent["max_completion_tokens"] == 64
    assert sent["temperature"] == 0.7 and sent["top_p"] == CHAT.sampling.top_p


def test_usage_rows(benchmark: Any) -> None:
    c = finish(call())

    def rows() -> tuple[bytes, bytes]:
        row = begin_row(c, "ev_bench")
        begin = encode(row)
        return begin, encode(finish_row(c, row))

    begin, end = benchmark(rows)
    assert orjson.loads(begin)["version"] == 1 and begin.endswith(b"}\n")
    done = orjson.loads(end)
    assert done["version"] == 3 and done["outcome"] == "completed"
    assert done["prompt_tokens"] == 12 and done["completion_tokens"] == 7


class _Transport:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


def test_http1_answer(benchmark: Any) -> None:
    async def setup() -> tuple[Connection, _Transport, list[Connection]]:
        idle: list[Connection] = []
        conn = Connection(idle.append)  # made inside a running loop, as create_connection does
        transport = _Transport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        return conn, transport, idle

    loop = asyncio.new_event_loop()
    try:
        conn, transport, idle = loop.run_until_complete(setup())
        request = b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"

        def one() -> bytes | None:
            conn.send(request, loop.time() + 60)
            loop.call_soon(loop.stop)  # one loop turn: the request is written in it
            loop.run_forever()
            resp = conn.resp
            assert resp is not None
            conn.data_received(ANSWER)
            body = resp.read_now()  # back to the pool: `idle` gets the connection
            idle.clear()
            return body

        assert benchmark(one) == b"{}"
        assert transport.written % len(request) == 0 and transport.written > 0
    finally:
        loop.close()
