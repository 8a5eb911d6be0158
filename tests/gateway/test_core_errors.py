"""A worker's garbage is a 502; a bug on our side of the core is not.

The proxy reads the core's `UpstreamFormatError` as the worker's fault and
anything else (`CoreError`: an argument our own code never passes) as ours,
which the app answers with 500 and logs.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from provocapi import _core, proxy
from provocapi.embedding_answer import answer as embedding_answer
from provocapi.errors import ApiError

CHAT_OK = orjson.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "w",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "finish_reason": "stop",
            }
        ],
    }
)


class _Resp:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read_now(self) -> bytes | None:
        return None  # as if still on its way: the awaited read below

    async def read(self) -> bytes:
        return self.body


class _Req:
    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []

    async def respond(self, status: int, body: bytes, headers: Any = None) -> None:
        self.sent.append((status, body))


def _run_complete(body: bytes, tool_family: str | None) -> _Req:
    gw: Any = SimpleNamespace(
        telemetry=SimpleNamespace(upstream_error=lambda model, why: None),
        counter=SimpleNamespace(text=lambda model, text: (len(text.split()), False)),
    )
    plan = SimpleNamespace(
        tool_family=tool_family, tool_names=["f"] if tool_family else None, one_tool_call=False
    )
    call: Any = SimpleNamespace(
        kind="chat",
        res=SimpleNamespace(public_id="m"),
        plan=plan,
        model_id="m",
        worker=None,
        prompt_tokens=0,
        completion_tokens=0,
        finish_reason=None,
    )
    req = _Req()
    asyncio.run(proxy._complete(gw, req, call, _Resp(body)))  # type: ignore[arg-type]
    return req


def test_a_worker_answering_garbage_is_502() -> None:
    for body in (b"<html>oops</html>", b"{}", b'{"choices": 7}'):
        with pytest.raises(ApiError) as info:
            _run_complete(body, None)
        assert info.value.status == 502 and info.value.code == "upstream_error"


def test_a_good_answer_goes_through() -> None:
    req = _run_complete(CHAT_OK, None)
    assert req.sent and req.sent[0][0] == 200


def test_an_internal_core_error_is_not_read_as_worker_garbage() -> None:
    # a tool family our config loader never lets through: the core refuses the argument
    with pytest.raises(_core.CoreError, match="tool_family"):
        _run_complete(CHAT_OK, "no-such-family")


def test_embedding_garbage_is_upstream_format_error() -> None:
    vec = base64.b64encode(struct.pack("<2f", 3.0, 4.0)).decode()
    good = orjson.dumps({"data": [{"index": 0, "embedding": vec}], "usage": {"prompt_tokens": 2}})
    out, prompt = embedding_answer(good, "e", 1, False)
    assert prompt == 2 and orjson.loads(out)["data"][0]["embedding"] == pytest.approx([1.0])
    for body in (
        b"not json",
        b"[]",
        b'{"data": [{"index": 0}]}',
        b'{"data": [{"index": 0, "embedding": "@@"}]}',
        b'{"data": [{"index": 0, "embedding": "AAA="}]}',  # 2 bytes: not a float32
        orjson.dumps({"data": [{"index": 0, "embedding": vec}]}) + b"x",
    ):
        with pytest.raises(_core.UpstreamFormatError):
            embedding_answer(body, "e", None, False)
    # the worker sent 2 floats where 8 were asked for: its fault too
    with pytest.raises(_core.UpstreamFormatError):
        embedding_answer(good, "e", 8, False)


def test_an_internal_error_in_the_embedding_path_is_not_garbage() -> None:
    vec = base64.b64encode(struct.pack("<2f", 3.0, 4.0)).decode()
    good = orjson.dumps({"data": [{"index": 0, "embedding": vec}]})
    # a negative size never leaves request validation: the core calls it ours
    with pytest.raises(_core.CoreError):
        embedding_answer(good, "e", -1, False)
