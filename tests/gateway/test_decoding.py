"""Request decoding: msgspec's findings become OpenAI errors naming the param."""

from __future__ import annotations

import pytest
from provocapi.decoding import decode
from provocapi.errors import ApiError
from provocapi.schemas import ChatRequest, EmbeddingRequest


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"{", "invalid_json", None),
        (b"", "invalid_json", None),
        (b"[]", "invalid_type", None),
        (b'{"model": "m"}', "missing_required_parameter", "messages"),
        (b'{"messages": []}', "missing_required_parameter", "model"),
        (b'{"model": 1, "messages": []}', "invalid_type", "model"),
        (b'{"model": "m", "messages": [], "foo": 1}', "unknown_parameter", "foo"),
        (b'{"model": "m", "messages": [1]}', "invalid_type", "messages[0]"),
        (b'{"model": "m", "messages": [], "temperature": "hot"}', "invalid_type", "temperature"),
        (b'{"model": "m", "messages": [], "stop": [1]}', "invalid_type", "stop[0]"),
        (b'{"model": "m", "messages": [], "stream": "yes"}', "invalid_type", "stream"),
    ],
)
def test_chat_decode_errors(body: bytes, code: str, param: str | None) -> None:
    with pytest.raises(ApiError) as exc:
        decode(body, ChatRequest)
    err = exc.value
    assert err.status == 400
    assert err.type == "invalid_request_error"
    assert err.code == code
    assert err.param == param


def test_valid_bodies_decode() -> None:
    req = decode(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}', ChatRequest)
    assert req.model == "m" and req.messages[0]["content"] == "hi"
    emb = decode(
        b'{"model": "e", "input": ["a", "b"], "encoding_format": "base64"}', EmbeddingRequest
    )
    assert emb.input == ["a", "b"] and emb.encoding_format == "base64"


def test_bad_encoding_format_is_named() -> None:
    with pytest.raises(ApiError) as exc:
        decode(b'{"model": "e", "input": "a", "encoding_format": "hex"}', EmbeddingRequest)
    assert exc.value.param == "encoding_format"
