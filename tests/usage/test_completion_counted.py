"""A worker that sends no usage: its answer's completion tokens are counted on the relay's
side, whatever admission is plugged in, and the token metrics count what usage records.

In process: a real `Gateway` and `App` with a minimal `Admission` of its own (admits
everything, counts nothing), in front of a small aiohttp worker that answers like
trtllm-serve but never sends usage.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from provocapi.admission import Admission
from provocapi.app import App
from provocapi.call import Call
from provocapi.config import parse
from provocapi.gateway import Gateway
from provocapi.keys import KeyStore
from provocapi.netutil import free_port
from provocapi.usage.event import END

MODEL = "llama-3.1-8b-instruct"
WORDS = ["Hello", " there", ",", " how", " are", " you", " today", "?"]
TEXT = "".join(WORDS)


class AdmitAll:
    """The smallest `Admission`: no limits, no counting; it only sees the calls end."""

    def __init__(self) -> None:
        self.settled: list[int | None] = []

    def admit(self, call: Call) -> list[tuple[bytes, bytes]]:
        return []

    async def admit_async(self, call: Call) -> list[tuple[bytes, bytes]]:
        return []

    def settle(self, call: Call) -> None:
        self.settled.append(call.completion_tokens)


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    body = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "w",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def _chat(request: web.Request) -> web.StreamResponse:
    ask = await request.json()
    if not ask.get("stream"):
        answer = {"id": "x", "object": "chat.completion", "created": 1, "model": "w",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT},
                               "finish_reason": "stop"}]}  # fmt: skip
        return web.json_response(answer)  # no "usage"
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_chunk({"role": "assistant"}))
    if ask["messages"][0]["content"] == "fail":  # one token, then the worker's error event
        await resp.write(_chunk({"content": WORDS[0]}))
        error = {"error": {"message": "boom", "type": "server_error", "code": 500}}
        await resp.write(b"data: " + orjson.dumps(error) + b"\n\n")
        await resp.write_eof()
        return resp
    for word in WORDS:
        await resp.write(_chunk({"content": word}))
    await resp.write(_chunk({}, "stop"))  # and no usage chunk, even if asked
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _post(app: App, secret: str, body: dict[str, Any]) -> tuple[int, bytes]:
    data = orjson.dumps(body)
    sent: list[MutableMapping[str, Any]] = []
    delivered = asyncio.Event()

    async def receive() -> MutableMapping[str, Any]:
        if not delivered.is_set():
            delivered.set()
            return {"type": "http.request", "body": data, "more_body": False}
        await asyncio.Event().wait()  # the client stays
        return {"type": "http.disconnect"}

    async def send(msg: MutableMapping[str, Any]) -> None:
        sent.append(msg)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [
            (b"authorization", f"Bearer {secret}".encode()),
            (b"content-type", b"application/json"),
        ],
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _end_rows(spool: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(spool.iterdir()):
        if path.is_file():
            for line in path.read_bytes().splitlines():
                row = orjson.loads(line)
                if isinstance(row, dict) and row.get("version") == END:
                    rows.append(row)
    return rows


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_completion_counted_without_usage_whatever_the_admission(tmp_path: Path) -> None:
    asyncio.run(_run(tmp_path))


async def _run(tmp_path: Path) -> None:
    port = free_port()
    worker = web.Application()
    worker.router.add_post("/v1/chat/completions", _chat)
    worker.router.add_get("/health", _health)
    runner = web.AppRunner(worker)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    cfg = parse(
        textwrap.dedent(
            f"""\
            [[models]]
            id = "{MODEL}"
            kind = "chat"
            family = "llama3"
            workers = ["http://127.0.0.1:{port}"]
            """
        )
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    secret, _ = KeyStore(data_dir).create("acme")
    gw = Gateway(cfg, data_dir, str(tmp_path / "state.bin"))
    admission = AdmitAll()
    plugged: Admission = admission
    gw.admission = plugged
    app = App(gw)
    try:
        ask = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
        status, body = await _post(app, secret, ask)
        assert status == 200, body
        assert orjson.loads(body)["choices"][0]["message"]["content"] == TEXT
        status, body = await _post(app, secret, {**ask, "stream": True})
        assert status == 200, body
        assert b"[DONE]" in body and b"today" in body
        status, body = await _post(
            app, secret, {**ask, "stream": True, "stream_options": {"include_usage": True}}
        )
        assert status == 200, body
        fail = {**ask, "messages": [{"role": "user", "content": "fail"}], "stream": True}
        status, body = await _post(app, secret, fail)
        assert status == 200 and b"boom" in body, body
    finally:
        await gw.close()  # flushes the spool's end lines
        await runner.cleanup()

    expected = gw.counter.text(MODEL, TEXT)[0]
    assert expected == 8  # Llama 3: Hello| there|,| how| are| you| today|?
    first = gw.counter.text(MODEL, WORDS[0])[0]
    # settle saw the count already: it is filled before admission and usage end
    assert admission.settled == [expected] * 3 + [first]
    rows = _end_rows(data_dir / "usage-spool")
    assert [r["completion_tokens"] for r in rows] == [expected] * 3 + [first]
    assert all(r["status"] == 200 for r in rows)
    assert [r["error_code"] for r in rows] == ["", "", "", "stream_failed"]
    text = gw.telemetry.render()
    out = _metric(text, "provocapi_tokens_total", model=MODEL, dir="out")
    tokens_in = _metric(text, "provocapi_tokens_total", model=MODEL, dir="in")
    assert out == sum(r["completion_tokens"] for r in rows) == 3 * expected + first
    # prompts are admission's to count (this one counts none) or the worker's
    assert tokens_in == sum(r["prompt_tokens"] for r in rows)
