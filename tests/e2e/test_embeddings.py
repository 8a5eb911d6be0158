"""Embeddings: float and base64 (the Python SDK's default), dimensions, Matryoshka."""

from __future__ import annotations

import base64
import math
import struct

import httpx2
import openai
import pytest

from .conftest import Stack


def _norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


@pytest.mark.parametrize(
    ("model", "dims"),
    [("bge-m3", 1024), ("nomic-embed-v1.5", 768), ("text-embedding-3-small", 768)],
)
def test_embeddings_base64_default(client: openai.OpenAI, model: str, dims: int) -> None:
    # the SDK asks for base64 and decodes it itself
    resp = client.embeddings.create(model=model, input=["hello world", "second input"])
    assert resp.object == "list"
    assert [d.index for d in resp.data] == [0, 1]
    for d in resp.data:
        assert d.object == "embedding"
        assert len(d.embedding) == dims
        assert all(math.isfinite(x) for x in d.embedding)
    assert resp.usage.prompt_tokens > 0
    assert resp.usage.total_tokens >= resp.usage.prompt_tokens


def test_embeddings_float(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(model="bge-m3", input="hello", encoding_format="float")
    assert resp.model == "bge-m3"
    assert len(resp.data) == 1
    assert len(resp.data[0].embedding) == 1024


def test_embeddings_raw_base64_is_le_float32(stack: Stack, raw: httpx2.Client) -> None:
    headers = {"Authorization": f"Bearer {stack.key}"}
    body = {"model": "bge-m3", "input": "same text"}
    f = raw.post("/v1/embeddings", headers=headers, json={**body, "encoding_format": "float"})
    b = raw.post("/v1/embeddings", headers=headers, json={**body, "encoding_format": "base64"})
    assert f.status_code == b.status_code == 200, (f.text, b.text)
    floats = f.json()["data"][0]["embedding"]
    b64 = b.json()["data"][0]["embedding"]
    assert isinstance(b64, str)
    decoded = struct.unpack(f"<{len(floats)}f", base64.b64decode(b64))
    assert len(decoded) == 1024
    # same input, same vector (float32 precision)
    assert all(abs(x - y) <= 1e-6 * max(1.0, abs(x)) for x, y in zip(floats, decoded, strict=True))


def test_matryoshka_dimensions(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(
        model="nomic-embed-v1.5", input="hello", dimensions=256, encoding_format="float"
    )
    vec = resp.data[0].embedding
    assert len(vec) == 256
    assert abs(_norm(vec) - 1.0) < 1e-3
    resp64 = client.embeddings.create(model="nomic-embed-v1.5", input="hello", dimensions=256)
    assert len(resp64.data[0].embedding) == 256
    assert abs(_norm(resp64.data[0].embedding) - 1.0) < 1e-3


def test_dimensions_out_of_range(client: openai.OpenAI) -> None:
    for dims in (32, 1024):
        with pytest.raises(openai.BadRequestError) as ei:
            client.embeddings.create(model="nomic-embed-v1.5", input="hello", dimensions=dims)
        assert isinstance(ei.value.body, dict)
        assert ei.value.body["param"] == "dimensions"
        assert ei.value.body["code"] == "invalid_value"


def test_dimensions_on_fixed_model_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.embeddings.create(model="bge-m3", input="hello", dimensions=256)
    err = ei.value
    assert err.status_code == 400
    assert isinstance(err.body, dict)
    assert err.body["type"] == "invalid_request_error"
    assert err.body["param"] == "dimensions"
    assert err.body["code"] in {"unsupported_parameter", "invalid_value"}


def test_a_fixed_model_takes_the_dimensions_its_card_names(client: openai.OpenAI) -> None:
    """bge-m3's card says min_dimensions = dimensions = 1024; asking for them was a 400
    (text-embedding-3-large, its alias, takes `dimensions=1024` on OpenAI)."""
    card = client.models.retrieve("text-embedding-3-large").model_extra or {}
    dims = card["min_dimensions"]
    assert dims == card["dimensions"] == 1024
    resp = client.embeddings.create(model="text-embedding-3-large", input="hello", dimensions=dims)
    assert len(resp.data[0].embedding) == dims


def test_embedding_headers(client: openai.OpenAI) -> None:
    resp = client.embeddings.with_raw_response.create(model="text-embedding-3-large", input="x")
    assert resp.headers.get("x-request-id")
    assert resp.headers.get("x-provocapi-worker")
    assert resp.headers["x-provocapi-model"] == "bge-m3"
    assert resp.parse().model == "bge-m3"


def test_chat_model_is_not_an_embedding_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as ei:
        client.embeddings.create(model="llama-3.1-8b-instruct", input="x")
    assert ei.value.status_code in {400, 404}
    assert isinstance(ei.value.body, dict)
    assert ei.value.body["param"] == "model"
