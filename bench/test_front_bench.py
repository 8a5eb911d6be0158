"""The request front of one chat call, in a hot loop: everything the gateway does
between the ASGI scope and the worker's request, with every feature on (issue 18).

    taskset -c 1 .venv/bin/python -m pytest bench/test_front_bench.py --benchmark-enable
    PYTHONPATH=<other checkout>/python ... # the same on another build: before/after

`test_front[stream]` / `test_front[plain]`: the floor's chat body (bench/floor.py) through
`Request` (headers, request id), `authenticate` (a stored key), `Request.body`, `decode`
(msgspec + depth + message shapes), `resolve`, `plan_chat` and the worker's body,
the `Call`, admission (`admit`: gather, count with the Llama 3 tokenizer, charge the
tier's buckets; then `settle`) and the routing prefix hash. Usage's spool write and
the upstream's are not in it (bench/test_hotpath_bench.py has those pieces).
`test_front_step[...]`: each step alone, for the per-function breakdown.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from provocapi.app import App
from provocapi.asgi import Request
from provocapi.call import Call
from provocapi.decoding import decode
from provocapi.request_policy import plan_chat
from provocapi.routing.prefix import prefix_of
from provocapi.schemas import ChatRequest

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import floor  # noqa: E402  (the floor's body)
import profile_app  # noqa: E402  (the gateway built as Granian's worker builds it, the scope)


class Front:
    """A gateway built as Granian's worker builds it, and the floor's request."""

    def __init__(self, work: Path, stream: bool) -> None:
        app, key = profile_app.build_app("provocapi", "http://127.0.0.1:9", work)
        assert isinstance(app, App)
        self.app = app
        self.gw = app.gw
        self.gw._refresher = asyncio.get_running_loop().create_future()  # no background loops
        self.body = json.dumps(floor.body(stream)).encode()
        self.scope = profile_app.chat_scope(profile_app.chat_headers(self.body, key))

    async def _receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def _send(self, msg: Any) -> None:
        pass

    def request(self) -> Any:
        app = self.app
        return Request(
            self.scope, self._receive, self._send, app.body_deadlines, app.write_deadlines
        )

    def read(self, req: Any) -> bytes:
        coro = req.body(self.gw.max_body)
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        raise AssertionError("the body read waited")

    def front(self) -> Any:
        """One request's front; returns its call (settled) and the prefix hash."""
        gw = self.gw
        req = self.request()
        key = gw.authenticate(req)
        creq = decode(self.read(req), ChatRequest)
        res = gw.catalog.resolve(creq.model, key)
        plan = plan_chat(creq, res)
        call = Call(
            "/v1/chat/completions",
            "chat",
            key,
            res,
            req.request_id.decode(),
            creq.model,
            plan,
            creq,
        )
        call.stream = plan.stream
        req.extra_headers.extend(gw.admission.admit(call))
        body = plan.body
        prefix = prefix_of(call.request, gw.router.cfg.prefix_bytes)
        call.status = 200
        gw.admission.settle(call)
        return call, body, prefix

    def steps(self) -> dict[str, Callable[[], Any]]:
        gw = self.gw
        req = self.request()
        key = gw.authenticate(req)
        creq = decode(self.body, ChatRequest)
        res = gw.catalog.resolve(creq.model, key)
        plan = plan_chat(creq, res)

        def call() -> Any:
            return Call("/v1/chat/completions", "chat", key, res, "r", creq.model, plan, creq)

        def admit() -> Any:
            c = call()
            gw.admission.admit(c)
            c.status = 200
            gw.admission.settle(c)

        return {
            "request": self.request,
            "authenticate": lambda: gw.authenticate(req),
            "body": lambda: self.read(self.request()),  # less "request": the read
            "decode": lambda: decode(self.body, ChatRequest),
            "plan_chat": lambda: plan_chat(creq, res).body,
            "call": call,
            "admit_settle": admit,  # less "call"
            "prefix": lambda: prefix_of(creq, gw.router.cfg.prefix_bytes),
        }


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()


@pytest.fixture(scope="module", params=["plain", "stream"])
def front(
    request: Any, loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> Front:
    work = tmp_path_factory.mktemp(f"front-{request.param}")

    async def make() -> Front:
        return Front(work, request.param == "stream")

    return loop.run_until_complete(make())


def _in_loop(loop: asyncio.AbstractEventLoop, run: Callable[[], None]) -> None:
    async def inside() -> None:  # the body read and its deadline want a running task
        run()

    loop.run_until_complete(inside())


def test_front(benchmark: Any, front: Front, loop: asyncio.AbstractEventLoop) -> None:
    def run() -> None:
        call, body, prefix = benchmark(front.front)
        sent = json.loads(body)
        assert sent["max_completion_tokens"] == 64 and sent["temperature"] == 0.7
        assert call.prompt_tokens and call.prompt_tokens > 150 and prefix != 0
        assert (sent.get("stream") is True) == call.stream

    _in_loop(loop, run)


@pytest.mark.parametrize(
    "step",
    ["request", "authenticate", "body", "decode", "plan_chat", "call", "admit_settle", "prefix"],
)
def test_front_step(
    benchmark: Any, front: Front, loop: asyncio.AbstractEventLoop, step: str
) -> None:
    _in_loop(loop, lambda: benchmark(front.steps()[step]))
