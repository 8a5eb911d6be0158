"""Structured output: schema-valid answers (guided decoding), and invalid ones on request.

trtllm-serve's mapping (tensorrt_llm/serve/openai_protocol.py at commit
0076e9390e1ed11515f149eec356f5a03f4a00d8, _response_format_to_guided_decoding_params):
``json`` takes ``schema``; ``json_schema`` takes ``json_schema`` and unwraps its ``schema``;
``json_object`` is any JSON object.
"""

from __future__ import annotations

from typing import Any, Literal

import jsonschema
import orjson
import pytest
from provocapi.sim import schema_value
from pydantic import BaseModel, Field

from .client import post


class Address(BaseModel):
    street: str
    zip_code: str = Field(min_length=5, max_length=5)


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    score: float = Field(gt=0, lt=1)
    role: Literal["admin", "user"]
    tags: list[str] = Field(min_length=1, max_length=3)
    home: Address
    other: Address | None = None


SCHEMAS: dict[str, dict[str, Any]] = {
    "scalars": {
        "type": "object",
        "properties": {
            "i": {"type": "integer", "minimum": 10, "maximum": 12},
            "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
            "m": {"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 30},
            "b": {"type": "boolean"},
            "n": {"type": "null"},
            "s": {"type": "string", "minLength": 12, "maxLength": 14},
        },
        "required": ["i", "x", "m", "b", "n", "s"],
        "additionalProperties": False,
    },
    "enum_const": {
        "type": "object",
        "properties": {"e": {"enum": ["a", 2, None]}, "c": {"const": {"k": [1]}}},
        "required": ["e", "c"],
    },
    "arrays": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 9},
        "minItems": 4,
        "maxItems": 5,
        "uniqueItems": True,
    },
    "tuple": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
    "any_of": {"anyOf": [{"type": "string", "format": "date"}, {"type": "integer"}]},
    "nullable_list": {"type": ["null", "array"], "items": {"type": "string", "format": "uuid"}},
    "all_of": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    },
    "props_bounds": {
        "type": "object",
        "additionalProperties": {"type": "integer"},
        "minProperties": 2,
        "maxProperties": 3,
    },
    "pydantic": Person.model_json_schema(),
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_values_satisfy_the_schema(name: str) -> None:
    schema = SCHEMAS[name]
    seen = set()
    for key in range(60):
        v = schema_value.value(schema, key * 7919)
        jsonschema.validate(v, schema)
        seen.add(orjson.dumps(v))
    assert len(seen) > 1  # varied by the key
    assert schema_value.value(schema, 5) == schema_value.value(schema, 5)  # deterministic


def test_pydantic_models_round_trip() -> None:
    for key in range(30):
        Person.model_validate(schema_value.value(Person.model_json_schema(), key))


@pytest.mark.parametrize("name", ["scalars", "pydantic", "all_of", "arrays", "any_of"])
def test_invalid_values_break_the_schema(name: str) -> None:
    schema = SCHEMAS[name]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(schema_value.invalid(schema, 3), schema)


def _json_schema_body(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": "llama-x",
        "messages": [{"role": "user", "content": "Describe a person."}],
        "max_tokens": 400,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": schema, "strict": True},
        },
        **extra,
    }


@pytest.mark.parametrize("stream", [False, True])
async def test_the_worker_answers_schema_valid_json(sim, stream: bool) -> None:
    s = await sim("--model", "llama-x")
    schema = Person.model_json_schema()
    r = await post(s.port, "/v1/chat/completions", _json_schema_body(schema, stream=stream))
    if stream:
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in r.chunks()[1:])
    else:
        text = r.json()["choices"][0]["message"]["content"]
    Person.model_validate_json(text)
    # trtllm's own "json" type with the same schema: the same answer, streamed or not
    rf = {"type": "json", "schema": schema}
    r2 = await post(
        s.port, "/v1/chat/completions", {**_json_schema_body(schema), "response_format": rf}
    )
    assert r2.json()["choices"][0]["message"]["content"] == text


async def test_invalid_json_flag_breaks_the_schema(sim) -> None:
    s = await sim("--model", "llama-x", "--invalid-json")
    schema = Person.model_json_schema()
    r = await post(s.port, "/v1/chat/completions", _json_schema_body(schema))
    text = r.json()["choices"][0]["message"]["content"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(orjson.loads(text), schema)
    body = {**_json_schema_body(schema), "response_format": {"type": "json_object"}}
    r = await post(s.port, "/v1/chat/completions", body)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.json()["choices"][0]["message"]["content"])
