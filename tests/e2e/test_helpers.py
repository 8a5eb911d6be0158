"""The response checker itself: it must catch what the gateway could get wrong."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from .helpers import Exchange, check_exchange, parse_sse

CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}
ERROR = {"error": {"message": "m", "type": "server_error", "param": None, "code": "x"}}


def ex(path: str, status: int, ctype: str, body: bytes, complete: bool = True) -> Exchange:
    headers = httpx2.Headers({"content-type": ctype, "x-request-id": "req_1"})
    return Exchange("POST", f"http://h{path}", path, status, headers, bytearray(body), complete)


def sse(*events: Any) -> bytes:
    out = b""
    for e in events:
        out += b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n"
    return out


def test_parse_sse() -> None:
    events, rest = parse_sse(b": keep-alive\n\ndata: {}\r\n\r\ndata: [DONE]\n\ndata: {")
    assert [e.data for e in events] == ["{}", "[DONE]"]
    assert rest == b"data: {"


def test_good_stream_passes() -> None:
    check_exchange(ex("/v1/chat/completions", 200, "text/event-stream", sse(CHUNK, b"[DONE]")))
    # a cut stream: only complete events are judged
    body = sse(CHUNK) + b'data: {"id": '
    check_exchange(ex("/v1/chat/completions", 200, "text/event-stream", body, complete=False))


@pytest.mark.parametrize(
    "body",
    [
        sse({**CHUNK, "object": "chat.completion"}, b"[DONE]"),  # wrong object
        sse(b"not json"),
        sse(CHUNK, b"[DONE]", CHUNK),  # an event after [DONE]
        b"event: message\n" + sse(CHUNK),  # named events break old SDKs
        sse({"object": "error", "message": "m", "code": 500}),  # trtllm's flat error
        sse(ERROR, CHUNK),  # events after an error
        sse(CHUNK) + b"data: {",  # complete response with an unterminated event
    ],
)
def test_bad_stream_fails(body: bytes) -> None:
    with pytest.raises(AssertionError):
        check_exchange(ex("/v1/chat/completions", 200, "text/event-stream", body))


def test_error_checks() -> None:
    check_exchange(ex("/v1/models", 404, "application/json", json.dumps(ERROR).encode()))
    with pytest.raises(AssertionError):  # not JSON typed
        check_exchange(ex("/v1/models", 404, "text/plain", json.dumps(ERROR).encode()))
    with pytest.raises(AssertionError):  # not the envelope
        check_exchange(ex("/v1/models", 400, "application/json", b'{"detail": "bad"}'))


def test_request_id_required() -> None:
    e = ex("/health", 200, "application/json", b"{}")
    e.headers = httpx2.Headers({"content-type": "application/json"})
    with pytest.raises(AssertionError, match="X-Request-Id"):
        check_exchange(e)


def test_body_schema_checked() -> None:
    good = {"object": "list", "data": []}
    check_exchange(ex("/v1/models", 200, "application/json", json.dumps(good).encode()))
    with pytest.raises(AssertionError):
        check_exchange(ex("/v1/models", 200, "application/json", b'{"data": [{"id": 1}]}'))
