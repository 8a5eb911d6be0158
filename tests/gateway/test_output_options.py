"""logprobs and response_format: checked against the model, forwarded as the worker takes them."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest
from provocapi.catalog import Resolved
from provocapi.config import Capabilities, ModelConfig
from provocapi.decoding import decode
from provocapi.errors import ApiError
from provocapi.request_policy import plan_chat, plan_completion
from provocapi.schemas import ChatRequest, CompletionRequest

FULL = Capabilities(tools=True, json_mode=True, json_schema=True, logprobs=True)
MODEL = ModelConfig(
    id="m",
    kind="chat",
    family="llama3",
    workers=["http://w"],
    max_output_tokens=4096,
    capabilities=FULL,
    max_top_logprobs=5,
)
MSGS = [{"role": "user", "content": "hi"}]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def _res(**caps: bool) -> Resolved:
    m = msgspec.structs.replace(MODEL, capabilities=msgspec.structs.replace(FULL, **caps))
    return Resolved(m, None, m.id)


def chat(res: Resolved | None = None, **fields: Any) -> dict[str, Any]:
    req = decode(orjson.dumps({"model": "m", "messages": MSGS, **fields}), ChatRequest)
    out = orjson.loads(plan_chat(req, res or _res()).body)
    assert isinstance(out, dict)
    return out


def completion(res: Resolved | None = None, **fields: Any) -> dict[str, Any]:
    req = decode(orjson.dumps({"model": "m", "prompt": "p", **fields}), CompletionRequest)
    out = orjson.loads(plan_completion(req, res or _res()).body)
    assert isinstance(out, dict)
    return out


def _refused(call: Any, **fields: Any) -> ApiError:
    with pytest.raises(ApiError) as exc:
        call(**fields)
    assert exc.value.status == 400
    return exc.value


def test_logprobs_are_forwarded() -> None:
    body = chat(logprobs=True, top_logprobs=5)
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert completion(logprobs=3)["logprobs"] == 3
    assert chat(logprobs=False)["logprobs"] is False  # nothing asked: no capability needed
    assert "logprobs" not in chat(_res(logprobs=False))


@pytest.mark.parametrize(
    "fields", [{"top_logprobs": 6}, {"top_logprobs": -1}], ids=["above", "negative"]
)
def test_top_logprobs_outside_the_models_range(fields: dict[str, Any]) -> None:
    err = _refused(chat, logprobs=True, **fields)
    assert err.code == "invalid_value" and err.param == "top_logprobs"
    assert "[0, 5]" in err.message


@pytest.mark.parametrize("logprobs", [None, False])
def test_top_logprobs_needs_logprobs_true(logprobs: bool | None) -> None:
    err = _refused(chat, logprobs=logprobs, top_logprobs=0)
    assert err.code == "invalid_value" and err.param == "top_logprobs"
    assert "'logprobs' must be set to true" in err.message


def test_a_model_without_logprobs_names_the_parameter() -> None:
    res = _res(logprobs=False)
    for call, fields in (
        (chat, {"logprobs": True}),
        (chat, {"logprobs": True, "top_logprobs": 2}),
        (completion, {"logprobs": 2}),
    ):
        err = _refused(call, res=res, **fields)
        assert err.code == "unsupported_parameter" and err.param == "logprobs", fields


@pytest.mark.parametrize("value", [0, 6])
def test_completion_logprobs_range(value: int) -> None:
    err = _refused(completion, logprobs=value)
    assert err.code == "invalid_value" and err.param == "logprobs"


def test_json_schema_goes_to_the_worker_as_its_schema() -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA, "strict": True}}
    assert chat(response_format=rf)["response_format"] == {"type": "json", "schema": SCHEMA}
    assert chat(response_format={"type": "text"})["response_format"] == {"type": "text"}


def test_json_schema_without_a_schema_is_any_json_object() -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "x"}}
    assert chat(response_format=rf)["response_format"] == {"type": "json_object"}


def test_json_schema_gated_on_its_own_capability() -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}
    err = _refused(chat, res=_res(json_schema=False), response_format=rf)
    assert err.code == "unsupported_parameter" and err.param == "response_format"
    assert "json_schema" in err.message
    # json_object only needs json_mode
    body = chat(_res(json_schema=False), response_format={"type": "json_object"})
    assert body["response_format"] == {"type": "json_object"}
    err = _refused(chat, res=_res(json_mode=False), response_format={"type": "json_object"})
    assert err.param == "response_format"
    # and json_schema does not need json_mode
    assert chat(_res(json_mode=False), response_format=rf)["response_format"]["type"] == "json"


@pytest.mark.parametrize(
    ("json_schema", "param", "code"),
    [
        (None, "response_format.json_schema", "missing_required_parameter"),
        ({"schema": SCHEMA}, "response_format.json_schema.name", "missing_required_parameter"),
        ({"name": "x", "schema": []}, "response_format.json_schema.schema", "invalid_type"),
        ({"name": "x", "strict": "yes"}, "response_format.json_schema.strict", "invalid_type"),
    ],
)
def test_malformed_json_schema(json_schema: Any, param: str, code: str) -> None:
    rf: dict[str, Any] = {"type": "json_schema"}
    if json_schema is not None:
        rf["json_schema"] = json_schema
    err = _refused(chat, response_format=rf)
    assert (err.param, err.code) == (param, code)
