"""GET /openapi.json: what this gateway really serves.

Request schemas come from the same msgspec Structs that decode requests, so the
document cannot drift from the code; responses refer to OpenAI's shapes.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from . import __version__
from .schemas import ChatRequest, CompletionRequest, EmbeddingRequest

_ERRORS = {
    "400": "Invalid request (malformed JSON, missing/ill-typed/unknown/unsupported field).",
    "401": "Missing, unknown or revoked API key.",
    "404": "Unknown model, adapter or URL, or a model this key may not use.",
    "413": "Body over the configured limit.",
    "502": "The worker failed or answered garbage.",
    "503": "No healthy worker, or the model's workers are overloaded (Retry-After).",
    "504": "The worker did not answer in time.",
}


def _error_responses() -> dict[str, Any]:
    return {
        code: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in _ERRORS.items()
    }


def _op(summary: str, request: str | None, response: str, stream: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{response}"}}
    }
    if stream:
        content["text/event-stream"] = {
            "schema": {"type": "string", "description": "SSE: data: <chunk JSON>, then [DONE]"}
        }
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {"200": {"description": "OK", "content": content}, **_error_responses()},
    }
    if request:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}
            },
        }
    return op


def _open(schema: str) -> dict[str, Any]:
    return {"type": "object", "description": f"As OpenAI's {schema}.", "additionalProperties": True}


USAGE_SUMMARY = (
    "Usage per UTC day and resolved model for the caller's tenant (any tenant with the "
    "admin key and `tenant`); the range is inclusive and at most [usage].max_range_days "
    "(default 366) days"
)
_USAGE = [
    {"name": n, "in": "query", "required": r, "schema": {"type": "string"}, "description": d}
    for n, r, d in (
        ("start_date", True, "YYYY-MM-DD (UTC), inclusive"),
        ("end_date", True, "YYYY-MM-DD (UTC), inclusive, not before start_date"),
        ("model", False, "a model id or alias: only its rows"),
        ("tenant", False, "admin key only: whose usage"),
    )
]


def _usage_schema() -> dict[str, Any]:
    pct = {"type": ["number", "null"]}
    pcts = {
        "type": "object",
        "required": ["p50", "p90", "p99"],
        "properties": {"p50": pct, "p90": pct, "p99": pct},
    }
    fields = {
        "date": {"type": "string", "format": "date"},
        "model": {"type": "string"},
        "requests": {"type": "integer"},
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
        "latency_ms": pcts,
        "ttft_ms": pcts,
    }
    row = {"type": "object", "required": list(fields), "properties": fields}
    return {
        "type": "object",
        "required": ["object", "start_date", "end_date", "data"],
        "properties": {
            "object": {"const": "list"},
            "start_date": {"type": "string"},
            "end_date": {"type": "string"},
            "data": {"type": "array", "items": row},
        },
    }


_HEALTH = {
    "type": "object",
    "required": ["status", "models"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "ready", "unready", "draining"]},
        "models": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["ready_workers", "workers"],
                "properties": {
                    "ready_workers": {"type": "integer", "minimum": 0},
                    "workers": {"type": "integer", "minimum": 0},
                },
            },
        },
        "unready_models": {"type": "array", "items": {"type": "string"}},
    },
}
_READY_MODEL = {
    "name": "model",
    "in": "query",
    "required": False,
    "description": "A model id or alias that must have a ready worker (repeatable)",
    "schema": {"type": "array", "items": {"type": "string"}},
    "style": "form",
    "explode": True,
}


def _json(schema: dict[str, object]) -> dict[str, object]:
    return {"content": {"application/json": {"schema": schema}}}


def document() -> bytes:
    (_, components) = msgspec.json.schema_components(
        [ChatRequest, CompletionRequest, EmbeddingRequest],
        ref_template="#/components/schemas/{name}",
    )
    components.update(
        {
            "ChatCompletion": _open("CreateChatCompletionResponse"),
            "Completion": _open("CreateCompletionResponse"),
            "EmbeddingList": _open("CreateEmbeddingResponse"),
            "Model": {
                "type": "object",
                "required": ["id", "object", "created", "owned_by"],
                "properties": {
                    "id": {"type": "string"},
                    "object": {"const": "model"},
                    "created": {"type": "integer"},
                    "owned_by": {"type": "string"},
                },
            },
            "ModelList": {
                "type": "object",
                "properties": {
                    "object": {"const": "list"},
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
                },
            },
            "UsageList": _usage_schema(),
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["message", "type", "param", "code"],
                        "properties": {
                            "message": {"type": "string"},
                            "type": {"type": "string"},
                            "param": {"type": ["string", "null"]},
                            "code": {"type": ["string", "null"]},
                        },
                    }
                },
            },
        }
    )
    model_param = [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}]
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "provocapi",
            "version": __version__,
            "description": "OpenAI-compatible gateway in front of TensorRT-LLM workers.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/chat/completions": {
                "post": _op("Create a chat completion", "ChatRequest", "ChatCompletion", True)
            },
            "/v1/completions": {
                "post": _op("Create a completion", "CompletionRequest", "Completion", True)
            },
            "/v1/embeddings": {
                "post": _op("Create embeddings", "EmbeddingRequest", "EmbeddingList")
            },
            "/v1/models": {"get": _op("List the models this key may use", None, "ModelList")},
            "/v1/models/{model}": {
                "get": {**_op("Retrieve a model", None, "Model"), "parameters": model_param}
            },
            "/v1/usage": {"get": {**_op(USAGE_SUMMARY, None, "UsageList"), "parameters": _USAGE}},
            "/health": {
                "get": {
                    "summary": "Liveness, with each model's ready and total workers",
                    "responses": {"200": {"description": "OK", **_json(_HEALTH)}},
                }
            },
            "/health/ready": {
                "get": {
                    "summary": "Readiness: 503 while draining or a named model has no ready worker",
                    "parameters": [_READY_MODEL],
                    "responses": {
                        "200": {"description": "Ready", **_json(_HEALTH)},
                        "404": {"description": "A named model does not exist"},
                        "503": {"description": "Draining, or a named model not ready"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics, summed over all worker processes",
                    "responses": {"200": {"description": "Prometheus text format"}},
                }
            },
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}
            },
        },
    }
    return orjson.dumps(doc)
