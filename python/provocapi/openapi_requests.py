"""The request schemas of /openapi.json, narrowed to what this gateway accepts.

msgspec gives each request Struct's field types; the values the gateway and its
workers accept are narrower (ranges, the served model ids, message shapes, the
fields a worker cannot honour). A generated client or a fuzzer reading the
document should find every request it calls valid accepted, so those limits are
written here, next to the code that enforces them (request_policy.py,
request_shapes.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .config import ModelConfig
from .request_policy import CHAT_UNSUPPORTED

Schema = dict[str, Any]

# Every vocabulary the chat families use has at least this many ids.
TOKEN_ID = {"type": "integer", "minimum": 0, "maximum": 127_999}
_TEXT = {"type": "string", "maxLength": 2000}
_INPUT = {"type": "string", "minLength": 1, "maxLength": 2000}  # an embedding input: never ""
_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _range(lo: float, hi: float, kind: str = "number") -> Schema:
    return {"type": kind, "minimum": lo, "maximum": hi}


def _message(roles: Sequence[str], **extra: Schema) -> Schema:
    props: Schema = {"role": {"enum": list(roles)}, "content": _TEXT, **extra}
    return {
        "type": "object",
        "required": ["role", "content"],
        "additionalProperties": False,
        "properties": props,
    }


_TEXT_PARTS = {
    "type": "array",
    "minItems": 1,
    "maxItems": 4,
    "items": {
        "type": "object",
        "required": ["type", "text"],
        "additionalProperties": False,
        "properties": {"type": {"const": "text"}, "text": _TEXT},
    },
}
MESSAGE: Schema = {
    "oneOf": [
        _message(("system", "developer", "user"), name=_NAME),
        {
            **_message(("user",)),
            "properties": {"role": {"const": "user"}, "content": _TEXT_PARTS},
        },
        _message(("assistant",)),
        {
            **_message(("tool",), tool_call_id={"type": "string", "maxLength": 64}),
            "required": ["role", "content", "tool_call_id"],
        },
    ],
    "examples": [{"role": "user", "content": "Say hello in French."}],
}
_TOOL = {
    "type": "object",
    "required": ["type", "function"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _NAME,
                "description": {"type": "string", "maxLength": 200},
                "parameters": {"type": "object"},
            },
        },
    },
}
_RESPONSE_FORMAT = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {"type": {"enum": ["text", "json_object"]}},
        },
        {
            "type": "object",
            "required": ["type", "json_schema"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "json_schema"},
                "json_schema": {
                    "type": "object",
                    "required": ["name", "schema"],
                    "properties": {"name": _NAME, "schema": {"type": "object"}},
                },
            },
        },
    ]
}
_STREAM_OPTIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"include_usage": {"type": "boolean"}},
}
_STOP = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": 32},
        {
            "type": "array",
            "maxItems": 4,
            "items": {"type": "string", "minLength": 1, "maxLength": 32},
        },
    ]
}
_LOGIT_BIAS = {
    "type": "object",
    "maxProperties": 8,
    "propertyNames": {"pattern": "^[0-9]{1,5}$"},
    "additionalProperties": _range(-100, 100),
}


def _sampling(max_tokens: int) -> Schema:
    """Fields common to chat and completions (request_policy._sampling, _max_tokens)."""
    return {
        "temperature": _nullable(_range(0, 2)),
        "top_p": _nullable(_range(0, 1)),
        "frequency_penalty": _nullable(_range(-2, 2)),
        "presence_penalty": _nullable(_range(-2, 2)),
        "n": _nullable(_range(1, 4, "integer")),
        "max_tokens": _nullable(_range(1, max_tokens, "integer")),
        "seed": _nullable(_range(-(2**63), 2**63 - 1, "integer")),
        "stop": _nullable(_STOP),
        "logit_bias": _nullable(_LOGIT_BIAS),
        "top_k": _nullable(_range(0, 1000, "integer")),
        "min_p": _nullable(_range(0, 1)),
        "repetition_penalty": _nullable({"type": "number", "exclusiveMinimum": 0, "maximum": 2}),
        "min_tokens": _nullable(_range(0, 8, "integer")),
        "stop_token_ids": _nullable({"type": "array", "maxItems": 4, "items": TOKEN_ID}),
    }


# stream_options only with stream: true (the gateway's and the worker's rule)
_STREAM_RULE = {
    "if": {"required": ["stream_options"], "properties": {"stream_options": {"type": "object"}}},
    "then": {"required": ["stream"], "properties": {"stream": {"const": True}}},
}
# tool_choice other than none only with tools
_TOOL_RULE = {
    "if": {
        "required": ["tool_choice"],
        "properties": {"tool_choice": {"enum": ["auto", "required"]}},
    },
    "then": {"required": ["tools"], "properties": {"tools": {"type": "array", "minItems": 1}}},
}
# best_of from n to 20 and never streamed above n: JSON Schema cannot compare two fields,
# so the document offers best_of only with n 1 and without stream (a narrower truth)
_BEST_OF_RULE = {
    "if": {"required": ["best_of"], "properties": {"best_of": {"type": "integer"}}},
    "then": {"properties": {"n": {"enum": [1, None]}, "stream": {"enum": [False, None]}}},
}
_LOGPROBS_RULE = {
    "if": {"required": ["top_logprobs"], "properties": {"top_logprobs": {"type": "integer"}}},
    "then": {"required": ["logprobs"], "properties": {"logprobs": {"const": True}}},
}


def _names(models: Sequence[ModelConfig]) -> list[str]:
    return [n for m in models for n in (m.id, *m.aliases)]


def _model_field(models: Sequence[ModelConfig]) -> Schema:
    names = _names(models)
    if not names:
        return {"type": "string"}
    return {
        "type": "string",
        "enum": names,
        "examples": names[:1],
        "description": "A model id or alias this gateway serves (`id:adapter` selects an "
        "adapter); a key limited to other models gets 404 `model_not_found`.",
    }


def _refine(schema: Schema, props: Schema, rules: Sequence[Schema] = ()) -> None:
    schema["properties"].update(props)
    if rules:
        schema["allOf"] = list(rules)


def _cap(models: Sequence[ModelConfig]) -> int:
    return min((m.max_output_tokens for m in models), default=4096)


def refine(components: Schema, models: Sequence[ModelConfig]) -> None:
    """Narrow the Struct-generated request schemas in place."""
    chat = [m for m in models if m.kind == "chat"]
    embed = [m for m in models if m.kind == "embedding"]
    tools_ok = bool(chat) and all(m.capabilities.tools for m in chat)
    json_ok = bool(chat) and all(m.capabilities.json_mode for m in chat)
    # what the document calls valid must be valid for every model it lists
    schema_ok = bool(chat) and all(m.capabilities.json_schema for m in chat)
    logprobs_ok = bool(chat) and all(m.capabilities.logprobs for m in chat)
    top = min((m.max_top_logprobs for m in chat), default=0)

    c = components["ChatRequest"]
    for name in CHAT_UNSUPPORTED:  # refused with 400 unsupported_parameter
        c["properties"].pop(name, None)
    sampling = _sampling(_cap(chat))
    _refine(
        c,
        {
            "model": _model_field(chat),
            "messages": {"type": "array", "minItems": 1, "maxItems": 6, "items": MESSAGE},
            **sampling,
            "max_completion_tokens": sampling["max_tokens"],
            "top_logprobs": _nullable(_range(0, top, "integer")),
            "stream_options": _nullable(_STREAM_OPTIONS),
            "response_format": _nullable(_RESPONSE_FORMAT),
            "tools": _nullable({"type": "array", "minItems": 1, "maxItems": 4, "items": _TOOL}),
            "tool_choice": _nullable({"enum": ["none", "auto", "required"]}),
            "parallel_tool_calls": _nullable({"type": "boolean"}),
        },
        [_STREAM_RULE, _TOOL_RULE, _LOGPROBS_RULE],
    )
    if not tools_ok:
        for name in ("tools", "tool_choice", "parallel_tool_calls"):
            c["properties"].pop(name)
        c["allOf"].remove(_TOOL_RULE)
    if not json_ok:
        c["properties"].pop("response_format")
    elif not schema_ok:  # text and json_object only
        c["properties"]["response_format"] = _nullable(_RESPONSE_FORMAT["oneOf"][0])
    if not logprobs_ok:
        for name in ("logprobs", "top_logprobs"):
            c["properties"].pop(name, None)
        c["allOf"].remove(_LOGPROBS_RULE)

    p = components["CompletionRequest"]
    prompt = {
        "anyOf": [
            _TEXT,
            {"type": "array", "minItems": 1, "maxItems": 4, "items": _TEXT},
            {"type": "array", "minItems": 1, "maxItems": 64, "items": TOKEN_ID},
            {
                "type": "array",
                "minItems": 1,
                "maxItems": 4,
                "items": {"type": "array", "minItems": 1, "maxItems": 64, "items": TOKEN_ID},
            },
        ],
        "examples": ["Once upon a time"],
    }
    _refine(
        p,
        {
            "model": _model_field(chat),
            "prompt": prompt,
            **_sampling(_cap(chat)),
            "best_of": _nullable(_range(1, 4, "integer")),
            "logprobs": _nullable(_range(1, max(1, top), "integer")),
            "stream_options": _nullable(_STREAM_OPTIONS),
            # trtllm-serve refuses a suffix (the gateway answers 400 unsupported_parameter)
            "suffix": _nullable({"const": ""}),
        },
        [_STREAM_RULE, _BEST_OF_RULE],
    )
    if not logprobs_ok:
        p["properties"].pop("logprobs", None)

    e = components["EmbeddingRequest"]
    fixed = [m for m in embed if m.min_dimensions is None]
    _refine(
        e,
        {
            "model": _model_field(embed),
            "input": {
                "anyOf": [
                    _INPUT,
                    {"type": "array", "minItems": 1, "maxItems": 8, "items": _INPUT},
                    {"type": "array", "minItems": 1, "maxItems": 64, "items": TOKEN_ID},
                    {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 4,
                        "items": {"type": "array", "minItems": 1, "items": TOKEN_ID},
                    },
                ],
                "examples": ["The food was delicious."],
            },
            "dimensions": _nullable(
                _range(
                    min((m.min_dimensions or 1 for m in embed), default=1),
                    max((m.dimensions or 1 for m in embed), default=1),
                    "integer",
                )
            ),
        },
        # `dimensions` within the chosen model's own range; a fixed-size model's own size
        [_dimensions_rule(m, fixed) for m in embed] if embed else [],
    )


def _dimensions_rule(m: ModelConfig, fixed: Sequence[ModelConfig]) -> Schema:
    names = [m.id, *m.aliases]
    if m in fixed:
        allowed: Schema = _nullable({"const": m.dimensions or 1})
    else:
        allowed = _nullable(_range(m.min_dimensions or 1, m.dimensions or 1, "integer"))
    return {
        "if": {"required": ["model"], "properties": {"model": {"enum": names}}},
        "then": {"properties": {"dimensions": allowed}},
    }
