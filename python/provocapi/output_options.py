"""The form of the output a client asks for: logprobs and response_format.

Each is checked against the model's capabilities and limits, so a model that cannot
honour it answers a 400 naming the parameter instead of a silent null or free text.
``response_format`` goes to the worker's guided decoding, which constrains every generated
token (``strict`` or not, the schema is enforced): trtllm-serve turns ``{"type": "json",
"schema": S}`` into ``GuidedDecodingParams(json=S)`` and ``json_object`` into
``json_object=True`` (openai_protocol.py, ``_response_format_to_guided_decoding_params``).
A ``json_schema`` is sent as ``json`` with its inner schema: releases such as 1.2.1 hand
the OpenAI wrapper ``{"name", "schema"}`` itself to the grammar backend (NVIDIA/TensorRT
issue 4855), so the schema would be lost; ``json`` means the same on every release.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from .config import ModelConfig
from .error_catalog import MISSING_PARAMETER, invalid, refuse_unknown_keys, unsupported
from .errors import quote
from .schemas import ChatRequest, CompletionRequest, given

# OpenAI's keys of each response_format. The worker forbids unknown keys in `text` and
# `json_object` (a pydantic dump as the 400); a `json_schema` is rebuilt before it is sent,
# so its unknown keys would vanish unseen: both are refused by name instead.
_TYPE_ONLY = frozenset({"type"})
_JSON_SCHEMA_FORMAT = frozenset({"type", "json_schema"})
_JSON_SCHEMA_FIELDS = frozenset({"name", "description", "schema", "strict"})


def _capable(model: ModelConfig) -> None:
    if not model.capabilities.logprobs:
        raise unsupported("logprobs", f"model '{model.id}' does not return log probabilities")


def _count(value: Any, name: str, lo: int, model: ModelConfig) -> None:
    hi = model.max_top_logprobs
    if not lo <= value <= hi:
        raise invalid(
            f"Invalid '{name}': {quote(value)} is outside [{lo}, {hi}] for model '{model.id}'.",
            param=name,
        )


def chat_logprobs(req: ChatRequest, model: ModelConfig) -> None:
    """``logprobs: true`` and ``top_logprobs`` (0..max_top_logprobs, only with logprobs)."""
    top = req.top_logprobs
    if given(top) and req.logprobs is not True:
        # trtllm-serve refuses it too (check_logprobs), even top_logprobs: 0
        raise invalid(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is given.",
            param="top_logprobs",
        )
    if req.logprobs is not True:
        return
    _capable(model)
    if given(top):
        _count(top, "top_logprobs", 0, model)


def completion_logprobs(req: CompletionRequest, model: ModelConfig) -> None:
    """Completions' ``logprobs: k``: the sampled token and the k most likely, k >= 1.

    trtllm-serve treats 0 as "none asked" and answers null, where OpenAI answers the
    sampled tokens: refused rather than silently dropped.
    """
    if not given(req.logprobs):
        return
    _capable(model)
    _count(req.logprobs, "logprobs", 1, model)


def response_format(req: ChatRequest, model: ModelConfig) -> dict[str, Any] | UnsetType:
    """The ``response_format`` the worker is sent (UNSET: none)."""
    rf = req.response_format
    if not given(rf):
        return UNSET
    assert isinstance(rf, dict)
    kind = rf.get("type")
    if kind == "text":
        refuse_unknown_keys(rf, _TYPE_ONLY, "response_format")
        return rf
    if kind == "json_object":
        refuse_unknown_keys(rf, _TYPE_ONLY, "response_format")
        if not model.capabilities.json_mode:
            raise unsupported("response_format", f"model '{model.id}' has no JSON mode")
        return rf
    if kind != "json_schema":
        raise invalid(
            "'response_format.type' must be 'text', 'json_object' or 'json_schema'.",
            param="response_format.type",
        )
    if not model.capabilities.json_schema:
        raise unsupported(
            "response_format", f"model '{model.id}' has no structured output (json_schema)"
        )
    refuse_unknown_keys(rf, _JSON_SCHEMA_FORMAT, "response_format")
    return _json_schema(rf)


def _json_schema(rf: dict[str, Any]) -> dict[str, Any]:
    js = rf.get("json_schema")
    if not isinstance(js, dict):
        raise MISSING_PARAMETER.build(
            name="response_format.json_schema", param="response_format.json_schema"
        )
    refuse_unknown_keys(js, _JSON_SCHEMA_FIELDS, "response_format.json_schema")
    name = js.get("name")
    if not isinstance(name, str) or not name:
        raise MISSING_PARAMETER.build(
            name="response_format.json_schema.name", param="response_format.json_schema.name"
        )
    strict = js.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid(
            "Invalid type for 'response_format.json_schema.strict': expected a boolean.",
            param="response_format.json_schema.strict",
            code="invalid_type",
        )
    schema = js.get("schema")
    if schema is None:
        # trtllm would take the wrapper itself as the schema; without one, any JSON object
        return {"type": "json_object"}
    if not isinstance(schema, dict):
        raise invalid(
            "Invalid type for 'response_format.json_schema.schema': expected an object.",
            param="response_format.json_schema.schema",
            code="invalid_type",
        )
    return {"type": "json", "schema": schema}
