"""What CORS (cors.py) costs a request, in a hot loop (µs).

    .venv/bin/python -m pytest bench/test_cors_bench.py --benchmark-enable
    PYTHONPATH=<a checkout without CORS>/python .venv/bin/python -m pytest \\
        bench/test_cors_bench.py --benchmark-enable -k without   # the same before CORS

- `test_without_origin`: a server-side call, as the `openai` Python SDK sends it (16
  headers, no Origin): `asgi.Request` made from the scope (the header loop where Origin
  is looked for) and the app's dispatch to a handler that answers at once. The one part
  CORS adds is a header comparison per header and a test of `req.origin`.
- `test_with_origin`: the same call from a browser page under `*`: the two headers added.

The handler is a stand-in on a route of its own, so what is timed is the request
object, the dispatch and the reply, not a handler's work (nor the server's: the
header list is built anew each time, about 2 µs of the figure, as the server's
bytes are new for every request). Each checks what it produced.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from provocapi import app as app_mod
from provocapi.asgi import Message, Request

PATH = "/bench/cors"
HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"accept", b"application/json"),
    (b"content-type", b"application/json"),
    (b"user-agent", b"OpenAI/Python 1.99.0"),
    (b"x-stainless-lang", b"python"),
    (b"x-stainless-package-version", b"1.99.0"),
    (b"x-stainless-os", b"Linux"),
    (b"x-stainless-arch", b"x64"),
    (b"x-stainless-runtime", b"CPython"),
    (b"x-stainless-runtime-version", b"3.11.2"),
    (b"authorization", b"Bearer pk-prov-0123456789abcdef0123456789abcdef"),
    (b"x-stainless-async", b"false"),
    (b"x-stainless-retry-count", b"0"),
    (b"content-length", b"0"),
]


async def _answer(gw: Any, req: Request) -> str:
    await req.respond(200, b"{}")
    return "m"


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


@pytest.fixture
def app() -> Iterator[app_mod.App]:
    app_mod.ROUTES[PATH] = {"POST": _answer}
    app_mod._ENDPOINT[PATH] = PATH
    done: list[int] = []
    a = app_mod.App.__new__(app_mod.App)  # no Gateway: only telemetry is asked for
    a.gw = SimpleNamespace(  # type: ignore[assignment]
        telemetry=SimpleNamespace(request_done=lambda *args: done.append(args[2]))
    )
    try:
        from provocapi.config import ServerConfig
        from provocapi.cors import Cors

        a.cors = Cors(ServerConfig())
    except ImportError:  # a checkout from before CORS: the request without Origin only
        pass
    yield a
    del app_mod.ROUTES[PATH], app_mod._ENDPOINT[PATH]


def _one_call(app: app_mod.App, headers: list[tuple[bytes, bytes]]) -> Any:
    sent: list[Message] = []

    async def send(msg: Message) -> None:
        sent.append(msg)

    def once() -> list[Message]:
        sent.clear()
        # new name objects each time, as the server makes them: no hash cached
        fresh = [(bytes(bytearray(name)), value) for name, value in headers]
        scope = {"type": "http", "method": "POST", "path": PATH, "headers": fresh}
        coro = app.http(Request(scope, _receive, send))
        try:
            coro.send(None)  # nothing in it waits: it runs to the end at once
        except StopIteration:
            pass
        return sent

    return once


def test_without_origin(benchmark: Any, app: app_mod.App) -> None:
    sent = benchmark(_one_call(app, HEADERS))
    assert sent[0]["status"] == 200
    names = {name for name, _ in sent[0]["headers"]}
    assert b"x-request-id" in names and b"access-control-allow-origin" not in names


def test_with_origin(benchmark: Any, app: app_mod.App) -> None:
    headers = [*HEADERS, (b"origin", b"https://app.example.com")]
    sent = benchmark(_one_call(app, headers))
    assert sent[0]["status"] == 200
    assert (b"access-control-allow-origin", b"*") in sent[0]["headers"]
