"""HTTP recording and spec checks for the end-to-end tests (processes: tests/harness)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from contract.spec import validate

# --------------------------------------------------------------------------- SSE


@dataclass
class SseEvent:
    data: str
    event: str | None = None


def parse_sse(raw: bytes) -> tuple[list[SseEvent], bytes]:
    """Complete events of an SSE body (comments skipped) and the unterminated rest."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    events: list[SseEvent] = []
    *blocks, rest = text.split(b"\n\n")
    for block in blocks:
        data_lines: list[str] = []
        event: str | None = None
        for line in block.decode("utf-8").split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data_lines.append(value)
            elif name == "event":
                event = value
        if data_lines or event is not None:
            events.append(SseEvent("\n".join(data_lines), event))
    return events, rest


# --------------------------------------------------------------------------- recording


@dataclass
class Exchange:
    method: str
    url: str
    path: str
    status: int
    headers: httpx2.Headers
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False  # the body was read to its end

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def describe(self) -> str:
        return f"{self.method} {self.path} → {self.status} ({self.content_type or 'no type'})"


class Recorder:
    """Every response the tests get back, for the spec check after each test."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def drain(self) -> list[Exchange]:
        out, self.exchanges = self.exchanges, []
        return out


class _RecordingStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, ex: Exchange) -> None:
        self._inner = inner
        self._ex = ex

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._ex.body += chunk
            yield chunk
        self._ex.complete = True

    def close(self) -> None:
        self._inner.close()


class _AsyncRecordingStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, ex: Exchange) -> None:
        self._inner = inner
        self._ex = ex

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._ex.body += chunk
            yield chunk
        self._ex.complete = True

    async def aclose(self) -> None:
        await self._inner.aclose()


def _exchange(request: httpx2.Request, response: httpx2.Response) -> Exchange:
    return Exchange(
        method=request.method,
        url=str(request.url),
        path=request.url.path,
        status=response.status_code,
        headers=response.headers,
    )


class RecordingTransport(httpx2.BaseTransport):
    def __init__(self, recorder: Recorder) -> None:
        self._inner = httpx2.HTTPTransport()
        self._recorder = recorder

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        ex = _exchange(request, response)
        self._recorder.exchanges.append(ex)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_RecordingStream(response.stream, ex),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


class AsyncRecordingTransport(httpx2.AsyncBaseTransport):
    def __init__(self, recorder: Recorder) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self._recorder = recorder

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        ex = _exchange(request, response)
        self._recorder.exchanges.append(ex)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_AsyncRecordingStream(response.stream, ex),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


# --------------------------------------------------------------------------- spec checks

_STREAM_SCHEMA = {
    "/v1/chat/completions": "CreateChatCompletionStreamResponse",
    "/v1/completions": "CreateCompletionResponse",
}
_BODY_SCHEMA = {
    "/v1/chat/completions": "CreateChatCompletionResponse",
    "/v1/completions": "CreateCompletionResponse",
    "/v1/embeddings": "CreateEmbeddingResponse",
    "/v1/models": "ListModelsResponse",
}


def _schema_for(path: str) -> str | None:
    if path in _BODY_SCHEMA:
        return _BODY_SCHEMA[path]
    if path.startswith("/v1/models/"):
        return "Model"
    return None


def _completion_chunk_for_spec(chunk: Any) -> Any:
    """OpenAI's completion streams send ``finish_reason: null`` before the last chunk,
    but the spec's shape (shared with the non-streamed object) has no null there.
    Null is checked to be allowed only there; the rest is validated as is."""
    if not isinstance(chunk, dict) or not isinstance(chunk.get("choices"), list):
        return chunk
    copy = dict(chunk)
    copy["choices"] = [
        {**c, "finish_reason": "stop"}
        if isinstance(c, dict) and "finish_reason" in c and c["finish_reason"] is None
        else c
        for c in chunk["choices"]
    ]
    return copy


def check_stream_events(path: str, raw: bytes, complete: bool) -> None:
    """Every event of a streamed answer is JSON of the right schema (or [DONE])."""
    events, rest = parse_sse(raw)
    where = f"stream of {path}"
    if complete:
        assert not rest.strip(), f"{where}: unterminated trailing event {rest[:200]!r}"
    done_at = None
    for i, ev in enumerate(events):
        assert ev.event is None, f"{where}: event #{i} has an `event: {ev.event}` line"
        assert done_at is None, f"{where}: event after [DONE]: {ev.data[:200]!r}"
        if ev.data == "[DONE]":
            done_at = i
            continue
        try:
            obj = json.loads(ev.data)
        except ValueError as exc:
            raise AssertionError(f"{where}: event #{i} is not JSON: {ev.data[:300]!r}") from exc
        if isinstance(obj, dict) and "error" in obj:
            validate("ErrorResponse", obj)
            assert i == len(events) - 1, f"{where}: events after an error event"
            continue
        schema = _STREAM_SCHEMA[path]
        validate(
            schema, _completion_chunk_for_spec(obj) if schema == "CreateCompletionResponse" else obj
        )


def check_exchange(ex: Exchange) -> None:
    """The spec check of one recorded response."""
    assert ex.headers.get("x-request-id"), f"{ex.describe()}: no X-Request-Id"
    if not ex.path.startswith("/v1/") or ex.method == "HEAD":
        return  # a HEAD's answer has no body to check
    if ex.status >= 400:
        assert ex.content_type == "application/json", f"{ex.describe()}: error not JSON"
        assert ex.complete, f"{ex.describe()}: error body not read"
        validate("ErrorResponse", json.loads(ex.body))
        return
    if ex.content_type == "text/event-stream":
        assert ex.path in _STREAM_SCHEMA, f"{ex.describe()}: unexpected stream"
        check_stream_events(ex.path, bytes(ex.body), ex.complete)
        return
    schema = _schema_for(ex.path)
    if schema is None or not ex.complete:
        return
    assert ex.content_type == "application/json", f"{ex.describe()}: JSON body without JSON type"
    validate(schema, json.loads(ex.body))
