"""A JSON value that satisfies a JSON Schema, deterministic per key: what guided decoding
(xgrammar on a real worker) makes a model write. And, on request, one that does not.

Covers the keywords clients' schemas use (Pydantic's and the SDKs' among them): ``type``
(one or a list), ``properties``, ``required``, ``additionalProperties``, ``min/maxProperties``,
``enum``, ``const``, ``items`` / ``prefixItems``, ``min/maxItems``, ``uniqueItems``,
``minimum`` / ``maximum`` (and exclusive), ``multipleOf``, ``min/maxLength``, common
``format`` values, ``anyOf`` / ``oneOf`` / ``allOf``, ``$ref`` into ``$defs`` /
``definitions``. ``pattern`` is not: a string is words.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from .textgen import WORDS

MAX_DEPTH = 12
_FORMATS = {
    "date-time": "2025-01-02T03:04:05Z",
    "date": "2025-01-02",
    "time": "03:04:05Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "ipv4": "192.0.2.1",
}


T = TypeVar("T")


def _field(schema: dict[str, Any], name: str, kind: type[T], default: T) -> T:
    """`schema[name]` when it has the expected type, else `default` (schemas are client input)."""
    v = schema.get(name)
    return v if isinstance(v, kind) else default


def _mix(key: int, salt: int) -> int:
    return (key * 2654435761 + salt * 40503) & 0xFFFFFFFF


def _resolve(schema: Any, root: Any) -> Any:
    """Follow local ``$ref``s (``#/$defs/X``, ``#/definitions/X``, ``#``)."""
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        ref = schema["$ref"]
        target: Any = root
        if not ref.startswith("#"):
            return {}
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            return {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest} if rest and isinstance(target, dict) else target
        seen += 1
    return schema


def _merge_all_of(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        part = _resolve(part, root)
        if not isinstance(part, dict):
            continue
        part = _merge_all_of(part, root)
        for k, v in part.items():
            if k == "properties" and isinstance(v, dict):
                merged["properties"] = {**merged.get("properties", {}), **v}
            elif k == "required" and isinstance(v, list):
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *v]))
            else:
                merged.setdefault(k, v)
    return merged


def kind_of(schema: Any) -> str | None:
    """The JSON type a schema asks for, or None when it does not say."""
    if not isinstance(schema, dict):
        return None
    t = schema.get("type")
    if isinstance(t, list):
        return next((k for k in t if k != "null"), "null" if t else None)
    if isinstance(t, str):
        return t
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def value(schema: Any, key: int, root: Any = None, depth: int = 0) -> Any:
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if schema is True or schema is None or schema == {}:
        return WORDS[key % len(WORDS)]
    if not isinstance(schema, dict):
        return None
    schema = _merge_all_of(schema, root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[key % len(enum)]
    for combo in ("anyOf", "oneOf"):
        options = schema.get(combo)
        if isinstance(options, list) and options:
            # prefer a non-null branch, so Optional fields carry a value
            real = [o for o in options if _resolve(o, root) != {"type": "null"}] or options
            base = {k: v for k, v in schema.items() if k != combo}
            chosen = _resolve(real[key % len(real)], root)
            merged = {**base, **chosen} if isinstance(chosen, dict) else chosen
            return value(merged, key, root, depth + 1)
    if depth > MAX_DEPTH:
        return None
    kind = kind_of(schema)
    if kind == "object":
        return _object(schema, key, root, depth)
    if kind == "array":
        return _array(schema, key, root, depth)
    if kind == "integer":
        return _integer(schema, key)
    if kind == "number":
        return _number(schema, key)
    if kind == "boolean":
        return key % 2 == 0
    if kind == "null":
        return None
    return _string(schema, key)


def _object(schema: dict[str, Any], key: int, root: Any, depth: int) -> dict[str, Any]:
    props: dict[str, Any] = _field(schema, "properties", dict, {})
    out: dict[str, Any] = {}
    for i, (name, sub) in enumerate(props.items()):
        out[name] = value(sub, _mix(key, i + 1), root, depth + 1)
    extra = schema.get("additionalProperties", True)
    required: list[Any] = _field(schema, "required", list, [])
    for name in required:
        if isinstance(name, str) and name not in out:
            out[name] = value(extra if isinstance(extra, dict) else {}, key, root, depth + 1)
    low = schema.get("minProperties")
    i = 0
    while isinstance(low, int) and len(out) < low and extra is not False and i < 64:
        out.setdefault(f"field_{i}", value(extra if isinstance(extra, dict) else {}, key + i, root))
        i += 1
    if not props and not required and not low and extra is not False:
        out["answer"] = " ".join(WORDS[(key + j) % len(WORDS)] for j in range(3))
    high = schema.get("maxProperties")
    if isinstance(high, int) and len(out) > high:
        keep = [n for n in required if n in out] + [n for n in out if n not in required]
        out = {n: out[n] for n in keep[:high]}
    return out


def _array(schema: dict[str, Any], key: int, root: Any, depth: int) -> list[Any]:
    prefix: list[Any] = _field(schema, "prefixItems", list, [])
    items = schema.get("items")
    lo = _field(schema, "minItems", int, 0)
    hi = _field(schema, "maxItems", int, lo + 3)
    count = max(lo, len(prefix), min(hi, 1 + key % 3))
    count = min(count, hi, lo + 16)
    if items is False:
        count = min(count, len(prefix))
    out: list[Any] = []
    unique = bool(schema.get("uniqueItems"))
    for i in range(count):
        sub = prefix[i] if i < len(prefix) else (items if isinstance(items, dict) else {})
        v = value(sub, _mix(key, i + 101), root, depth + 1)
        tries = 0
        while unique and v in out and tries < 16:
            tries += 1
            v = value(sub, _mix(key, i + 101 + tries * 977), root, depth + 1)
        if unique and v in out:
            break  # a small enum: stop short rather than repeat
        out.append(v)
    return out


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None, bool, bool]:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    lo_x = hi_x = False
    if isinstance(xlo, (int, float)) and not isinstance(xlo, bool):
        if lo is None or xlo >= lo:
            lo, lo_x = xlo, True
    if isinstance(xhi, (int, float)) and not isinstance(xhi, bool):
        if hi is None or xhi <= hi:
            hi, hi_x = xhi, True
    num = (int, float)
    return (
        lo if isinstance(lo, num) else None,
        hi if isinstance(hi, num) else None,
        lo_x,
        hi_x,
    )


def _integer(schema: dict[str, Any], key: int) -> int:
    lo_f, hi_f, lo_x, hi_x = _bounds(schema)
    lo = None if lo_f is None else (math.floor(lo_f) + 1 if lo_x else math.ceil(lo_f))
    hi = None if hi_f is None else (math.ceil(hi_f) - 1 if hi_x else math.floor(hi_f))
    if lo is None:
        lo = min(0, hi) if hi is not None else 0
    if hi is None:
        hi = lo + 100
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0:
        first = -(-lo // step) * step
        count = (hi - first) // step + 1
        return first + (key % count) * step if count > 0 else first
    return lo + key % (hi - lo + 1) if hi >= lo else lo


def _number(schema: dict[str, Any], key: int) -> float:
    lo, hi, lo_x, hi_x = _bounds(schema)
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0:
        return _multiple(lo, hi, float(step), key)
    if lo is None and hi is None:
        return (key % 1000) / 10
    if lo is None:
        lo = float(hi) - 100  # type: ignore[arg-type]
    if hi is None:
        hi = float(lo) + 100
    frac = ((key % 997) + 1) / 999  # strictly inside (0, 1): exclusive bounds hold
    v = float(lo) + (float(hi) - float(lo)) * frac
    if not (lo_x or hi_x):
        v = round(v, 3) if float(lo) <= round(v, 3) <= float(hi) else v
    return v


def _multiple(lo: float | None, hi: float | None, step: float, key: int) -> float:
    start = math.ceil((lo if lo is not None else 0.0) / step)
    end = math.floor((hi if hi is not None else (lo or 0.0) + 100 * step) / step)
    n = start + key % max(end - start + 1, 1)
    return n * step


def _string(schema: dict[str, Any], key: int) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    words = [WORDS[(key + i * 7) % len(WORDS)] for i in range(1 + key % 3)]
    s = " ".join(words)
    lo = _field(schema, "minLength", int, 0)
    max_length = schema.get("maxLength")
    hi = max_length if isinstance(max_length, int) else None
    while len(s) < lo:
        s += " " + WORDS[(key + len(s)) % len(WORDS)]
    if hi is not None:
        s = s[:hi]
        if len(s) < lo:
            s += "x" * (lo - len(s))
    return s


def invalid(schema: Any, key: int) -> Any:
    """A value that breaks the schema: what a worker without guided decoding may write."""
    resolved = _resolve(schema, schema)
    if isinstance(resolved, dict):
        resolved = _merge_all_of(resolved, schema)
    if kind_of(resolved) == "object":
        good = value(schema, key)
        required = resolved.get("required") if isinstance(resolved, dict) else None
        if isinstance(good, dict) and isinstance(required, list) and required:
            good.pop(required[0], None)
            return good
        return "not an object"
    return {"invalid": True}
