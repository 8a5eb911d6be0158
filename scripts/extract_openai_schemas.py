#!/usr/bin/env python3
"""Extract the OpenAI response schemas that /openapi.json refers to.

Reads the vendored spec (tests/contract/openai-openapi.yaml; its source and MIT
license in tests/contract/SOURCE.md) and writes the named component schemas,
with every schema they `$ref`, to python/provocapi/openapi_components.json.
The spec mixes OpenAPI 3.0 into 3.1; the extract is made valid 3.1 the way
tests/contract/spec.py does it: `nullable: true` becomes a null alternative,
boolean exclusive bounds become numeric, duplicate `required` entries go, an
optional property may be null (the API sends null for absent fields), and an
embedding may be base64 (encoding_format: "base64"). Examples and x-oaiMeta
are dropped.

    .venv/bin/python scripts/extract_openai_schemas.py          # rewrite the extract
    .venv/bin/python scripts/extract_openai_schemas.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests/contract/openai-openapi.yaml"
OUT = ROOT / "python/provocapi/openapi_components.json"
WANTED = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateCompletionResponse",
    "CreateEmbeddingResponse",
    "ListModelsResponse",
    "Model",
    "ErrorResponse",
    "Error",
    "OpenAIFile",
    "ListFilesResponse",
    "DeleteFileResponse",
    "Batch",
    "ListBatchesResponse",
)
_REF = "#/components/schemas/"
_DROP = ("example", "examples", "x-oaiMeta")


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items() if k not in _DROP}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, dt.date | dt.datetime):
        return node.isoformat()
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"][len(_REF) :]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _nullable(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return schema is True
    t = schema.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    return any(
        isinstance(s, dict) and s.get("type") == "null"
        for key in ("anyOf", "oneOf")
        for s in schema.get(key, [])
    )


def _or_null(schema: Any) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _as_31(node: Any) -> Any:
    if isinstance(node, list):
        return [_as_31(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description":
            out[key] = value
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _as_31(sub) for name, sub in value.items()}
        else:
            out[key] = _as_31(value)
    for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(excl)
        if isinstance(flag, bool):
            del out[excl]
            if flag and bound in out:
                out[excl] = out.pop(bound)
    if isinstance(out.get("required"), list):
        out["required"] = list(dict.fromkeys(out["required"]))
    if isinstance(out.get("properties"), dict):
        required = set(out.get("required", []))
        out["properties"] = {
            name: sub if name in required or _nullable(sub) else _or_null(sub)
            for name, sub in out["properties"].items()
        }
    if out.pop("nullable", None) is True:
        return _or_null(out)
    return out


def extract(spec_bytes: bytes) -> bytes:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schemas = _plain(yaml.load(spec_bytes, Loader=loader))["components"]["schemas"]
    picked: dict[str, Any] = {}
    todo = list(WANTED)
    while todo:
        name = todo.pop()
        if name in picked:
            continue
        picked[name] = schemas[name]
        todo.extend(sorted(_refs(schemas[name]) - picked.keys()))
    out = {name: _as_31(picked[name]) for name in sorted(picked)}
    embedding = out["Embedding"]["properties"]
    embedding["embedding"] = {
        "anyOf": [
            embedding["embedding"],
            {"type": "string", "contentEncoding": "base64", "description": "base64 float32 LE"},
        ]
    }
    doc = {
        "x-source": {
            "spec": "https://github.com/openai/openai-openapi openapi.yaml "
            "(vendored as tests/contract/openai-openapi.yaml; see tests/contract/SOURCE.md)",
            "sha256": hashlib.sha256(spec_bytes).hexdigest(),
            "license": "MIT, Copyright (c) OpenAI",
            "generator": "scripts/extract_openai_schemas.py",
        },
        "schemas": out,
    }
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def main(argv: list[str]) -> int:
    fresh = extract(SPEC.read_bytes())
    if "--check" in argv:
        stale = not OUT.is_file() or OUT.read_bytes() != fresh
        print(f"{OUT.relative_to(ROOT)} is {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    OUT.write_bytes(fresh)
    print(f"wrote {OUT.relative_to(ROOT)} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
