"""GET /openapi.json: what this gateway really serves.

Request schemas come from the same msgspec Structs that decode requests, so the
document cannot drift from the code. Responses use OpenAI's schemas, extracted
from the vendored spec by scripts/extract_openai_schemas.py; each route's error
statuses come from the catalogue entries it declares (route_errors.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
import orjson

from . import __version__, openapi_links, openapi_requests, route_errors
from .config import ModelConfig
from .errors import RetryAfter
from .schemas import (
    ADAPTER_NAME_PATTERN,
    EXPIRY_MAX_S,
    EXPIRY_MIN_S,
    HF_REPO_PATTERN,
    HF_REVISION_PATTERN,
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
)
from .schemas import BATCH_ENDPOINTS as ENDPOINTS
from .schemas import FILE_PURPOSES as PURPOSES

_COMPONENTS = Path(__file__).with_name("openapi_components.json")


def _error_responses(path: str, method: str) -> dict[str, Any]:
    """Every status the route's catalogue entries can answer, with their codes."""
    out: dict[str, Any] = {}
    for status, specs in route_errors.statuses(path, method).items():
        codes = ", ".join(dict.fromkeys(f"`{s.code}`" for s in specs))
        resp: dict[str, Any] = {
            "description": f"{HTTPStatus(status).phrase}: {codes}.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
            },
        }
        if any(s.retry_after is not RetryAfter.NONE for s in specs):
            resp["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying (on the codes that say so).",
                    "schema": {"type": "integer"},
                }
            }
        out[str(status)] = resp
    return out


def _op(
    path: str,
    method: str,
    summary: str,
    request: str | None,
    response: str,
    chunk: str | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{response}"}}
    }
    if chunk:
        # OpenAPI 3.1: the schema of each event (`data: <chunk JSON>`, then `data: [DONE]`)
        content["text/event-stream"] = {
            "schema": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "data": {
                        "anyOf": [
                            {"const": "[DONE]"},
                            {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": {"$ref": f"#/components/schemas/{chunk}"},
                            },
                        ]
                    }
                },
                "description": f"SSE: `data: <{chunk} JSON>` events, then `data: [DONE]`",
            },
        }
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            "200": {"description": "OK", "content": content},
            **_error_responses(path, method),
        },
    }
    if request:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}
            },
        }
    return op


def _plain(path: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    """A route of our own (no key): its own answers, then its catalogue errors."""
    return {"summary": summary, "responses": {**responses, **_error_responses(path, "GET")}}


USAGE_SUMMARY = (
    "Usage per UTC day and resolved model for the caller's tenant (any tenant with the "
    "admin key and `tenant`); the range is inclusive and at most [usage].max_range_days "
    "(default 366) days"
)
_TENANT = {"type": "string", "minLength": 1}  # the admin key must name one
_DATE = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


def _usage_params(names: list[str]) -> list[dict[str, Any]]:
    model = {"type": "string", "enum": names} if names else {"type": "string"}
    return [
        {"name": n, "in": "query", "required": r, "schema": s, "description": d}
        for n, r, s, d in (
            ("start_date", True, _DATE, "YYYY-MM-DD (UTC), inclusive"),
            ("end_date", True, _DATE, "YYYY-MM-DD (UTC), inclusive, not before start_date"),
            ("model", False, model, "a model id or alias: only its rows"),
            ("tenant", False, _TENANT, "admin key only: whose usage; another key gets 403"),
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
_HEALTH_REF: dict[str, object] = {"$ref": "#/components/schemas/Health"}
_RELOADED = {
    "type": "object",
    "required": ["status", "generation", "models", "not_applied"],
    "properties": {
        "status": {"const": "reloaded"},
        "generation": {"type": "integer"},
        "models": {"type": "array", "items": {"type": "string"}},
        # `[server]`, `[usage]` and `redis_url` settings the file changed: at a restart
        "not_applied": {"type": "array", "items": {"type": "string"}},
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


_ADAPTER = {
    "type": "object",
    "required": ["id", "object", "name", "base_model", "created_at", "status", "rank",
                 "target_modules", "bytes", "source", "owned_by"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "adapter"},
        "name": {"type": "string"},
        "base_model": {"type": "string"},
        "created_at": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "ready", "failed"]},
        "error": {"type": "string", "description": "why it failed (status failed)"},
        "rank": {"type": ["integer", "null"]},
        "target_modules": {"type": "array", "items": {"type": "string"}},
        "bytes": {"type": "integer"},
        "source": {"type": "object"},
        "owned_by": {"type": "string", "description": "the tenant"},
    },
}  # fmt: skip
_ADAPTER_REF = {"$ref": "#/components/schemas/Adapter"}
_ADAPTER_LIST = {
    "type": "object",
    "required": ["object", "data", "first_id", "last_id", "has_more"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": _ADAPTER_REF},
        "first_id": {"type": ["string", "null"]},
        "last_id": {"type": ["string", "null"]},
        "has_more": {"type": "boolean"},
    },
}
_ADAPTER_DELETED = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "adapter.deleted"},
        "deleted": {"const": True},
    },
}
_UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["name", "base_model", "adapter_config", "adapter_model"],
                "properties": {
                    "name": {"type": "string", "pattern": ADAPTER_NAME_PATTERN},
                    "base_model": {"$ref": "#/components/schemas/ChatModelName"},
                    "adapter_config": {
                        "type": "string",
                        "format": "binary",
                        "description": "PEFT's adapter_config.json",
                    },
                    "adapter_model": {
                        "type": "string",
                        "format": "binary",
                        "description": "adapter_model.safetensors",
                    },
                },
            }
        }
    },
}
_FROM_HUB = {
    "type": "object",
    "required": ["name", "base_model", "repo"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": ADAPTER_NAME_PATTERN},
        "base_model": {"$ref": "#/components/schemas/ChatModelName"},
        "repo": {
            "type": "string",
            "pattern": HF_REPO_PATTERN,
            "description": "a Hugging Face repo id, `owner/name`",
        },
        "revision": {
            "type": "string",
            "pattern": HF_REVISION_PATTERN,
            "description": "a branch, tag or commit (default main)",
        },
        "hf_token": {"type": "string", "description": "used for this fetch only, never stored"},
    },
}
_ADAPTER_ID = [{"name": "adapter_id", "in": "path", "required": True, "schema": {"type": "string"}}]
_LIST_ADAPTERS = [
    {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "the last id of the previous page"},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
    {"name": "tenant", "in": "query", "required": False, "schema": _TENANT,
     "description": "admin key only: whose adapters (another key: ignored)"},
]  # fmt: skip


def _adapter_paths() -> dict[str, Any]:
    return {
        "/v1/adapters": {
            "get": {
                **_op("/v1/adapters", "GET", "List your LoRA adapters", None, "AdapterList"),
                "parameters": _LIST_ADAPTERS,
            },
            "post": _op(
                "/v1/adapters",
                "POST",
                "Create an adapter from a Hugging Face repo: answered pending, fetched and "
                "checked in the background, then ready or failed with the reason",
                "AdapterFromHub",
                "Adapter",
            ),
        },
        "/v1/adapters/upload": {
            "post": {
                **_op(
                    "/v1/adapters/upload",
                    "POST",
                    "Upload a LoRA adapter (PEFT files), checked against its base model",
                    None,
                    "Adapter",
                ),
                "requestBody": _UPLOAD,
            }
        },
        "/v1/adapters/{adapter_id}": {
            "get": {
                **_op("/v1/adapters/{adapter_id}", "GET", "Retrieve an adapter", None, "Adapter"),
                "parameters": _ADAPTER_ID,
            },
            "delete": {
                **_op(
                    "/v1/adapters/{adapter_id}",
                    "DELETE",
                    "Delete an adapter (refused at once; files removed after delete_grace_s)",
                    None,
                    "AdapterDeleted",
                ),
                "parameters": _ADAPTER_ID,
            },
        },
    }


def _json(schema: dict[str, object]) -> dict[str, object]:
    return {"content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str = "path", desc: str = "") -> dict[str, object]:
    return {"name": name, "in": where, "required": where == "path",
            "schema": {"type": "string"}, "description": desc}  # fmt: skip


_BYTES = {
    "200": {
        "description": "The file's bytes, streamed",
        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
    }
}
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "purpose"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "purpose": {"enum": list(PURPOSES)},
                },
            }
        }
    },
}
_CREATE_BATCH = {
    "type": "object",
    "required": ["input_file_id", "endpoint", "completion_window"],
    "additionalProperties": False,
    "properties": {
        "input_file_id": {"type": "string"},
        "endpoint": {"enum": list(ENDPOINTS)},
        "completion_window": {"const": "24h"},
        "metadata": {
            "type": ["object", "null"],
            "maxProperties": 16,
            "propertyNames": {"maxLength": 64},
            "additionalProperties": {"type": "string", "maxLength": 512},
        },
        "output_expires_after": {
            "type": ["object", "null"],
            "required": ["anchor", "seconds"],
            "properties": {
                "anchor": {"const": "created_at"},
                "seconds": {"type": "integer", "minimum": EXPIRY_MIN_S, "maximum": EXPIRY_MAX_S},
            },
        },
    },
}
_SUBMIT_BODY = {
    "required": True,
    "content": {
        "application/jsonl": {"schema": {"type": "string", "description": "The batch's lines"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "endpoint": {"enum": list(ENDPOINTS)},
                },
            }
        },
    },
}


def _limit(most: int) -> dict[str, object]:
    return {"name": "limit", "in": "query", "required": False, "description": "page size",
            "schema": {"type": "integer", "minimum": 1, "maximum": most}}  # fmt: skip


_LIST = [_param("after", "query", "the last id of the previous page"), _limit(100)]
_ENDPOINT_PARAM = {
    "name": "endpoint",
    "in": "query",
    "required": True,  # a multipart form may carry it instead; the document asks the query
    "schema": {"enum": list(ENDPOINTS)},
    "description": "the lines' endpoint (or the form field `endpoint`)",
}
_ENDPOINT_PARAM = {
    "name": "endpoint",
    "in": "query",
    "required": True,  # a multipart form may carry it instead; the document asks the query
    "schema": {"enum": list(ENDPOINTS)},
    "description": "the lines' endpoint (or the form field `endpoint`)",
}
_FILES_LIST = [
    _param("after", "query", "the last id of the previous page"),
    _limit(10_000),
    {"name": "purpose", "in": "query", "required": False, "schema": {"enum": list(PURPOSES)}},
    {"name": "order", "in": "query", "required": False, "schema": {"enum": ["asc", "desc"]}},
]


def _with(op: dict[str, Any], **extra: object) -> dict[str, Any]:
    return {**op, **extra}


def _batch_paths() -> dict[str, Any]:
    """Files, batches and our one-call /v1/batch (handlers/files.py, handlers/batches.py)."""
    fid = [_param("file_id")]
    bid = [_param("batch_id")]

    def op(path: str, method: str, summary: str, response: str) -> dict[str, Any]:
        return _op(path, method, summary, None, response)

    def raw(path: str, summary: str) -> dict[str, Any]:
        return {"summary": summary, "security": [{"bearer": []}],
                "responses": {**_BYTES, **_error_responses(path, "GET")}}  # fmt: skip

    return {
        "/v1/files": {
            "post": _with(
                op("/v1/files", "POST", "Upload a file (streamed; [batch] limits)", "OpenAIFile"),
                requestBody=_UPLOAD_BODY,
            ),
            "get": _with(
                op("/v1/files", "GET", "List the tenant's files", "ListFilesResponse"),
                parameters=_FILES_LIST,
            ),
        },
        "/v1/files/{file_id}": {
            "get": _with(
                op("/v1/files/{file_id}", "GET", "Retrieve a file", "OpenAIFile"), parameters=fid
            ),
            "delete": _with(
                op(
                    "/v1/files/{file_id}",
                    "DELETE",
                    "Delete a file (409 while a running batch reads it)",
                    "DeleteFileResponse",
                ),
                parameters=fid,
            ),
        },
        "/v1/files/{file_id}/content": {
            "get": _with(raw("/v1/files/{file_id}/content", "A file's bytes"), parameters=fid)
        },
        "/v1/batches": {
            "post": _with(
                op("/v1/batches", "POST", "Create a batch from an uploaded file", "Batch"),
                requestBody={"required": True, **_json(_CREATE_BATCH)},
            ),
            "get": _with(
                op("/v1/batches", "GET", "List the tenant's batches", "ListBatchesResponse"),
                parameters=_LIST,
            ),
        },
        "/v1/batches/{batch_id}": {
            "get": _with(
                op("/v1/batches/{batch_id}", "GET", "Retrieve a batch", "Batch"), parameters=bid
            ),
        },
        "/v1/batches/{batch_id}/cancel": {
            "post": _with(
                op("/v1/batches/{batch_id}/cancel", "POST", "Cancel a batch", "Batch"),
                parameters=bid,
            ),
        },
        "/v1/batch": {
            "post": _with(
                op(
                    "/v1/batch",
                    "POST",
                    "Upload the JSONL and create its batch in one call "
                    "(`endpoint` as a query or form field)",
                    "Batch",
                ),
                requestBody=_SUBMIT_BODY,
                parameters=[_ENDPOINT_PARAM],
            ),
            "get": _with(
                op("/v1/batch", "GET", "As GET /v1/batches", "ListBatchesResponse"),
                parameters=_LIST,
            ),
        },
        "/v1/batch/{batch_id}": {
            "get": _with(
                op("/v1/batch/{batch_id}", "GET", "As GET /v1/batches/{batch_id}", "Batch"),
                parameters=bid,
            ),
        },
        "/v1/batch/{batch_id}/cancel": {
            "post": _with(
                op(
                    "/v1/batch/{batch_id}/cancel",
                    "POST",
                    "As POST /v1/batches/{batch_id}/cancel",
                    "Batch",
                ),
                parameters=bid,
            ),
        },
        "/v1/batch/{batch_id}/output": {
            "get": _with(
                raw(
                    "/v1/batch/{batch_id}/output",
                    "The output file's bytes (409 before the batch ends)",
                ),
                parameters=bid,
            ),
        },
    }


def _nullable_page_ids(schemas: dict[str, Any]) -> None:
    """An empty page has no first or last id: null, as OpenAI answers it (its spec says string)."""
    for name in ("ListFilesResponse", "ListBatchesResponse"):
        props = schemas[name]["properties"]
        for key in ("first_id", "last_id"):
            if key in props:
                props[key] = {"type": ["string", "null"]}


def _completion_chunk(schemas: dict[str, Any]) -> dict[str, Any]:
    """A streamed completion chunk: OpenAI's CreateCompletionResponse, whose `usage` and
    `finish_reason` are null until the last chunks (as OpenAI streams them; its spec,
    written for the whole answer, has no null)."""
    chunk = orjson.loads(orjson.dumps(schemas["CreateCompletionResponse"]))
    choice = chunk["properties"]["choices"]["items"]["properties"]
    choice["finish_reason"] = {"anyOf": [choice["finish_reason"], {"type": "null"}]}
    chunk["properties"]["usage"] = {
        "anyOf": [{"$ref": "#/components/schemas/CompletionUsage"}, {"type": "null"}]
    }
    return chunk


# What provocapi adds to OpenAI's Model object (handlers/models.py): the card a
# client sizes its requests by. Optional: the SDKs keep them as extra fields.
_MODEL_CARD: dict[str, Any] = {
    "context_length": {"type": "integer", "description": "Prompt plus output tokens."},
    "max_output_tokens": {"type": "integer", "description": "Cap on max_tokens."},
    "capabilities": {
        "type": "object",
        "properties": {
            k: {"type": "boolean"} for k in ("tools", "json_object", "json_schema", "logprobs")
        },
    },
    "aliases": {"type": "array", "items": {"type": "string"}},
    "dimensions": {"type": "integer", "description": "Embedding models: the native size."},
    "min_dimensions": {"type": "integer", "description": "Embedding models: smallest size."},
    "base_model": {"type": "string", "description": "Adapters: the model they apply to."},
}


def document(models: Sequence[ModelConfig] = ()) -> bytes:
    """The document for a gateway serving `models` (their ids and aliases are the
    `model` enums, so a generated request names a model that exists)."""
    (_, components) = msgspec.json.schema_components(
        [ChatRequest, CompletionRequest, EmbeddingRequest],
        ref_template="#/components/schemas/{name}",
    )
    openapi_requests.refine(components, models)
    openai_schemas = orjson.loads(_COMPONENTS.read_bytes())["schemas"]
    clash = components.keys() & openai_schemas.keys()
    assert not clash, f"request Structs named like OpenAI's schemas: {clash}"
    components.update(openai_schemas)
    components["Model"]["properties"].update(_MODEL_CARD)
    _nullable_page_ids(components)
    components["CompletionStreamChunk"] = _completion_chunk(components)
    chat_names = [n for m in models if m.kind == "chat" for n in (m.id, *m.aliases)]
    components["ChatModelName"] = (
        {"type": "string", "enum": chat_names, "description": "a chat model id or alias"}
        if chat_names
        else {"type": "string", "description": "a chat model id or alias"}
    )
    all_names = [n for m in models for n in (m.id, *m.aliases)]
    components["UsageList"] = _usage_schema()
    components["Health"] = _HEALTH
    components["Reloaded"] = _RELOADED
    components["Adapter"] = _ADAPTER
    components["AdapterList"] = _ADAPTER_LIST
    components["AdapterDeleted"] = _ADAPTER_DELETED
    components["AdapterFromHub"] = _FROM_HUB
    model_param = [
        {
            "name": "model",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": all_names} if all_names else {"type": "string"},
        }
    ]
    doc: dict[str, Any] = {
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
                "post": _op(
                    "/v1/chat/completions",
                    "POST",
                    "Create a chat completion",
                    "ChatRequest",
                    "CreateChatCompletionResponse",
                    "CreateChatCompletionStreamResponse",
                )
            },
            "/v1/completions": {
                "post": _op(
                    "/v1/completions",
                    "POST",
                    "Create a completion",
                    "CompletionRequest",
                    "CreateCompletionResponse",
                    "CompletionStreamChunk",
                )
            },
            "/v1/embeddings": {
                "post": _op(
                    "/v1/embeddings",
                    "POST",
                    "Create embeddings",
                    "EmbeddingRequest",
                    "CreateEmbeddingResponse",
                )
            },
            "/v1/models": {
                "get": _op(
                    "/v1/models",
                    "GET",
                    "List the models this key may use",
                    None,
                    "ListModelsResponse",
                )
            },
            "/v1/models/{model}": {
                "get": {
                    **_op("/v1/models/{model}", "GET", "Retrieve a model", None, "Model"),
                    "parameters": model_param,
                }
            },
            "/v1/usage": {
                "get": {
                    **_op("/v1/usage", "GET", USAGE_SUMMARY, None, "UsageList"),
                    "parameters": _usage_params(all_names),
                }
            },
            **_batch_paths(),
            **_adapter_paths(),
            "/admin/reload": {
                "post": {
                    **_op(
                        "/admin/reload",
                        "POST",
                        "Reload the config file (admin key); calls in flight finish on the old one",
                        None,
                        "Reloaded",
                    ),
                }
            },
            "/health": {
                "get": _plain(
                    "/health",
                    "Liveness, with each model's ready and total workers",
                    {"200": {"description": "OK", **_json(_HEALTH_REF)}},
                )
            },
            "/health/ready": {
                "get": {
                    **_plain(
                        "/health/ready",
                        "Readiness: 503 while draining or a named model has no ready worker",
                        {
                            "200": {"description": "Ready", **_json(_HEALTH_REF)},
                            "503": {
                                "description": "Draining, or a named model not ready",
                                **_json(_HEALTH_REF),
                            },
                        },
                    ),
                    "parameters": [_READY_MODEL],
                }
            },
            "/metrics": {
                "get": _plain(
                    "/metrics",
                    "Prometheus metrics, summed over all worker processes",
                    {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                )
            },
            "/openapi.json": {
                "get": _plain(
                    "/openapi.json",
                    "This document",
                    {"200": {"description": "OK", **_json({"type": "object"})}},
                )
            },
        },
    }
    openapi_links.add(doc["paths"])
    return orjson.dumps(doc)
