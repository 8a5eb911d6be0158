"""The spec helper accepts what OpenAI returns and rejects what it would never return."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from contract.spec import SpecValidationError, load_spec, validate


def chat_completion(**override: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "llama-3.1-8b-instruct",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        "system_fingerprint": None,  # lenient: optional fields may be null
    }
    body.update(override)
    return body


def test_spec_is_normalised() -> None:
    doc = load_spec()
    text = repr(doc["components"]["schemas"]["CreateChatCompletionStreamResponse"])
    assert "'nullable'" not in text


def test_accepts_a_right_chat_completion() -> None:
    validate("CreateChatCompletionResponse", chat_completion())


@pytest.mark.parametrize(
    "override",
    [
        {"object": "chat.completion.chunk"},
        {"created": "yesterday"},
        {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant"},
                    "finish_reason": "timeout",
                    "logprobs": None,
                }
            ]
        },
        {"id": None},
    ],
)
def test_rejects_a_wrong_chat_completion(override: dict[str, Any]) -> None:
    with pytest.raises(SpecValidationError, match="CreateChatCompletionResponse"):
        validate("CreateChatCompletionResponse", chat_completion(**override))


def test_rejects_missing_required_field() -> None:
    body = chat_completion()
    del body["choices"]
    with pytest.raises(SpecValidationError, match="choices"):
        validate("CreateChatCompletionResponse", body)


def test_stream_chunk_nullable_fields() -> None:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "finish_reason": None,
                "logprobs": None,
            }
        ],
        "usage": None,
    }
    validate("CreateChatCompletionStreamResponse", chunk)
    chunk["choices"] = []
    chunk["usage"] = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    validate("CreateChatCompletionStreamResponse", chunk)
    chunk["usage"] = "lots"
    with pytest.raises(SpecValidationError):
        validate("CreateChatCompletionStreamResponse", chunk)


def test_error_envelope() -> None:
    validate(
        "ErrorResponse",
        {"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": None}},
    )
    with pytest.raises(SpecValidationError):
        # trtllm-serve's flat error is not OpenAI's envelope
        validate("ErrorResponse", {"object": "error", "message": "m", "type": "x", "code": 400})
    with pytest.raises(SpecValidationError):
        validate(
            "ErrorResponse", {"error": {"message": "m", "type": "t", "param": None, "code": 400}}
        )


def test_embedding_float_and_base64_patch() -> None:
    floats = [0.5, -0.25]
    b64 = base64.b64encode(struct.pack("<2f", *floats)).decode()
    for emb in (floats, b64):
        validate(
            "CreateEmbeddingResponse",
            {
                "object": "list",
                "model": "bge-m3",
                "data": [{"object": "embedding", "index": 0, "embedding": emb}],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            },
        )
    with pytest.raises(SpecValidationError):
        validate(
            "CreateEmbeddingResponse",
            {
                "object": "list",
                "model": "bge-m3",
                "data": [{"object": "embedding", "index": 0, "embedding": [[0.5]]}],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            },
        )


def test_exclusive_bounds_are_numeric() -> None:
    beta = load_spec()["components"]["schemas"]["FineTuneDPOHyperparameters"]["properties"]
    numeric = [
        branch for branch in beta["beta"]["anyOf"][0]["oneOf"] if branch.get("type") == "number"
    ]
    assert numeric and numeric[0]["exclusiveMinimum"] == 0


def test_models() -> None:
    model = {"id": "bge-m3", "object": "model", "created": 0, "owned_by": "provocapi"}
    validate("Model", model)
    validate("ListModelsResponse", {"object": "list", "data": [model]})
    with pytest.raises(SpecValidationError):
        validate("ListModelsResponse", {"object": "list", "data": [{"id": "bge-m3"}]})


def test_unknown_schema_name() -> None:
    with pytest.raises(KeyError):
        validate("NoSuchSchema", {})
