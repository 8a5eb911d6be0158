"""Validate JSON bodies against OpenAI's published OpenAPI spec.

The spec (``openai-openapi.yaml`` beside this file, its source and license in ``SOURCE.md``;
or the file named by ``PROVOCAPI_OPENAPI_SPEC``) is OpenAPI 3.1 with OpenAPI 3.0 leftovers.
Before a JSON-Schema 2020-12 validator can use it we normalise it:

* ``{..., nullable: true}`` becomes ``{anyOf: [{...}, {type: "null"}]}``;
* boolean ``exclusiveMinimum`` / ``exclusiveMaximum`` (3.0 style) become numbers (3.1 style);
* lenient mode: a property that is not ``required`` may also be ``null`` (the real API sends
  ``null`` for absent optional fields);
* duplicate entries of ``required`` are dropped.

One documented patch on top: ``Embedding.embedding`` may also be a string, the base64 of
little-endian float32 values that the API returns for ``encoding_format: "base64"`` (the
spec only describes the float array).

Parsing 3 MB of YAML takes about a second, so the normalised document is cached as JSON under
``<repo>/.cache/`` keyed by the spec file's sha256 (and the normaliser's version).

Usage::

    from contract.spec import validate
    validate("CreateChatCompletionResponse", body)   # raises SpecValidationError
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "SPEC_URI",
    "SpecValidationError",
    "load_spec",
    "schema_names",
    "spec_path",
    "validate",
]

SPEC_URI = "urn:openai"
# Bump when the normalisation below changes: it is part of the cache key.
_NORMALISER_VERSION = "1"

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"


class SpecValidationError(AssertionError):
    """A JSON body does not match the named schema of OpenAI's spec."""


def spec_path() -> Path:
    """The spec file: ``$PROVOCAPI_OPENAPI_SPEC`` or the copy beside this module."""
    override = os.environ.get("PROVOCAPI_OPENAPI_SPEC")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "openai-openapi.yaml"


# --------------------------------------------------------------------------- normalisation


def _plain(node: Any) -> Any:
    """YAML → JSON-compatible values (the safe loader turns some examples into dates)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, _dt.date | _dt.datetime):
        return node.isoformat()
    return node


def _or_null(schema: Any) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _allows_null(schema: Any) -> bool:
    """Cheap syntactic check, to avoid wrapping twice."""
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


def _normalise(node: Any, *, lenient: bool) -> Any:
    if isinstance(node, list):
        return [_normalise(v, lenient=lenient) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("example", "examples", "x-oaiMeta", "description"):
            out[key] = value  # documentation: keep, but do not walk
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _normalise(sub, lenient=lenient) for name, sub in value.items()}
        else:
            out[key] = _normalise(value, lenient=lenient)

    # boolean exclusiveMinimum / exclusiveMaximum (OpenAPI 3.0) → numeric bound (3.1)
    for excl, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(excl)
        if isinstance(flag, bool):
            del out[excl]
            if flag and bound in out:
                out[excl] = out.pop(bound)

    if isinstance(out.get("required"), list):
        out["required"] = list(dict.fromkeys(out["required"]))

    if lenient and isinstance(out.get("properties"), dict):
        required = set(out.get("required", []))
        out["properties"] = {
            name: sub if name in required or _allows_null(sub) else _or_null(sub)
            for name, sub in out["properties"].items()
        }

    nullable = out.pop("nullable", None)
    if nullable is True:
        return _or_null(out)
    return out


def _patch(doc: dict[str, Any]) -> None:
    """The one documented patch: base64 embeddings (``encoding_format: "base64"``)."""
    embedding = doc["components"]["schemas"]["Embedding"]["properties"]
    float_array = embedding["embedding"]
    embedding["embedding"] = {
        "anyOf": [
            float_array,
            {
                "type": "string",
                "contentEncoding": "base64",
                "description": "provocapi patch: base64 of little-endian float32 values",
            },
        ]
    }


def _build(raw: bytes) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = _plain(yaml.load(raw, Loader=loader))  # a safe loader
    assert isinstance(doc, dict)
    doc = _normalise(doc, lenient=True)
    _patch(doc)
    return doc


@functools.cache
def load_spec() -> dict[str, Any]:
    """The normalised spec document (cached on disk by sha256, and in memory)."""
    path = spec_path()
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    cached = CACHE_DIR / f"openai-openapi.{digest[:16]}.v{_NORMALISER_VERSION}.json"
    if cached.is_file():
        try:
            doc = json.loads(cached.read_bytes())
            if isinstance(doc, dict):
                return doc
        except ValueError:
            pass  # torn or stale file: rebuild it
    doc = _build(raw)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, prefix=".openapi-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, cached)  # atomic: concurrent test runs never see half a file
    return doc


def schema_names() -> list[str]:
    return sorted(load_spec()["components"]["schemas"])


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@functools.cache
def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    if schema_name not in load_spec()["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {spec_path()}")
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}, registry=_registry()
    )


def _describe(error: ValidationError) -> str:
    where = error.json_path
    schema_at = "/".join(str(p) for p in error.relative_schema_path)
    return f"at {where}: {error.message} (schema path {schema_at})"


def _format(schema_name: str, instance: object, errors: Iterable[ValidationError]) -> str:
    errs = list(errors)
    best = best_match(errs)
    lines = [f"body does not match OpenAI schema {schema_name}: {_describe(best)}"]
    others = [e for e in errs if e is not best][:5]
    lines += [f"  also {_describe(e)}" for e in others]
    text = json.dumps(instance, default=str)
    lines.append(f"  body: {text if len(text) <= 2000 else text[:2000] + '...'}")
    return "\n".join(lines)


def validate(schema_name: str, instance: object) -> None:
    """Raise :class:`SpecValidationError` unless ``instance`` matches ``schema_name``."""
    errors = list(_validator(schema_name).iter_errors(instance))
    if errors:
        raise SpecValidationError(_format(schema_name, instance, errors))
