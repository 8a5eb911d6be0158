"""Defects the generated tests (tests/proof) found, each kept as a regression test.

Schemathesis sent requests /openapi.json calls valid; these answered 400 (or were
forwarded to a worker that refused them) before the fixes.
"""

from __future__ import annotations

import orjson
import pytest
from provocapi.catalog import Resolved
from provocapi.config import Capabilities, ModelConfig
from provocapi.decoding import decode
from provocapi.errors import ApiError
from provocapi.handlers.adapters import _REPO as REPO
from provocapi.handlers.adapters import _check_name, _text
from provocapi.openapi import document
from provocapi.request_policy import plan_chat, plan_completion, plan_embedding
from provocapi.schemas import ChatRequest, CompletionRequest, EmbeddingRequest

CHAT = ModelConfig(
    id="llama-3.1-8b-instruct",
    kind="chat",
    family="llama3",
    workers=["http://w"],
    max_output_tokens=64,
    default_max_tokens=8,
    capabilities=Capabilities(tools=True, json_mode=True, logprobs=True),
)
EMBED = ModelConfig(id="bge-m3", kind="embedding", workers=["http://w"], dimensions=1024)
MSGS = [{"role": "user", "content": "hi"}]


def _chat(**fields: object) -> bytes:
    req = decode(orjson.dumps({"model": CHAT.id, "messages": MSGS, **fields}), ChatRequest)
    return plan_chat(req, Resolved(CHAT, None, CHAT.id)).body


def _completion(**fields: object) -> bytes:
    req = decode(orjson.dumps({"model": CHAT.id, **fields}), CompletionRequest)
    return plan_completion(req, Resolved(CHAT, None, CHAT.id)).body


def test_explicit_nulls_are_not_forwarded() -> None:
    # trtllm-serve refuses null for n, top_k, echo...: it answered 400 upstream_rejected
    body = orjson.loads(_chat(n=None, top_k=None, min_p=None, stop=None, seed=None))
    assert not [k for k, v in body.items() if v is None], body
    body = orjson.loads(_completion(prompt="x", echo=None, n=None, best_of=None))
    assert not [k for k, v in body.items() if v is None], body


def test_a_completion_suffix_is_refused_by_the_gateway() -> None:
    with pytest.raises(ApiError) as exc:
        _completion(prompt="x", suffix="tail")
    assert (exc.value.status, exc.value.code, exc.value.param) == (
        400,
        "unsupported_parameter",
        "suffix",
    )
    # an empty one is no suffix: the worker takes it
    assert orjson.loads(_completion(prompt="x", suffix=""))["prompt"] == "x"


def test_top_logprobs_needs_logprobs() -> None:
    with pytest.raises(ApiError) as exc:
        _chat(top_logprobs=2)
    assert (exc.value.status, exc.value.param) == (400, "top_logprobs")
    assert orjson.loads(_chat(top_logprobs=2, logprobs=True))["top_logprobs"] == 2


@pytest.mark.parametrize(
    ("fields", "key", "want"),
    [
        ({"max_tokens": 16.0}, "max_completion_tokens", 16),
        ({"min_tokens": 1.0, "seed": -3.0}, "seed", -3),
        ({"stop_token_ids": [2.0, 7]}, "stop_token_ids", [2, 7]),
    ],
)
def test_whole_floats_are_integers(fields: dict[str, object], key: str, want: object) -> None:
    body = orjson.loads(_chat(**fields))
    assert body[key] == want and type(body[key]) is type(want)


def test_whole_float_token_ids() -> None:
    assert orjson.loads(_completion(prompt=[[1.0, 2], [3.0]]))["prompt"] == [[1, 2], [3]]
    assert orjson.loads(_completion(prompt=[5.0, 6]))["prompt"] == [5, 6]
    req = decode(orjson.dumps({"model": "bge-m3", "input": [[473.0, 5]]}), EmbeddingRequest)
    plan = plan_embedding(req, Resolved(EMBED, None, EMBED.id))
    assert orjson.loads(plan.body)["input"] == [[473, 5]]


@pytest.mark.parametrize(
    "fields",
    [{"max_tokens": 16.5}, {"stop_token_ids": [2.5]}, {"n": True}, {"max_tokens": "16"}],
)
def test_other_non_integers_stay_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ApiError) as exc:
        _chat(**fields)
    assert exc.value.status == 400 and exc.value.code == "invalid_type"


@pytest.mark.parametrize(
    "body",
    [b'{"model": 1e-400, "messages": [], "max_tok', b'{"model": "m", "n": 2.0, "messages": [',
     b'{"model": "m", "messages": [], "n": 2.0, "stop": 7}'],
)  # fmt: skip
def test_a_float_then_a_broken_body_is_a_400(body: bytes) -> None:
    # found by tests/proof/test_fuzz_decoding.py: the whole-float retry met a truncated
    # body (msgspec reports the first problem only) and answered 500
    with pytest.raises(ApiError) as exc:
        decode(body, ChatRequest)
    assert exc.value.status == 400


def test_fractional_token_ids_stay_refused() -> None:
    with pytest.raises(ApiError):
        _completion(prompt=[1.5, 2])
    with pytest.raises(ApiError):
        _completion(prompt=[True, 2])


def test_adapter_names_and_repos_match_whole() -> None:
    # Python's `$` matches before a final newline: "lora\n" was a valid name
    with pytest.raises(ApiError):
        _check_name("lora\n")
    with pytest.raises(ApiError):
        _text({"repo": "acme/lora\n"}, "repo", REPO)
    assert _check_name("lora-1") == "lora-1"


def test_empty_pages_have_null_ids_in_the_document() -> None:
    doc = orjson.loads(document())
    for name in ("ListFilesResponse", "ListBatchesResponse"):
        first = doc["components"]["schemas"][name]["properties"]["first_id"]
        assert "null" in first["type"], name


def test_completion_chunks_may_have_null_usage_and_finish_reason() -> None:
    import jsonschema

    doc = orjson.loads(document())
    chunk = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [{"text": "a", "index": 0, "logprobs": None, "finish_reason": None}],
        "usage": None,
    }
    schema = {"$ref": "#/components/schemas/CompletionStreamChunk", **doc}
    jsonschema.Draft202012Validator(schema).validate(chunk)
