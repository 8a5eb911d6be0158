"""A small JSON Schema check for the keywords tool and response schemas use in practice
(type, properties, required, additionalProperties, items, enum, const, minimum/maximum,
minLength/maxLength, minItems/maxItems, anyOf/oneOf/allOf). Unknown keywords pass, and
so do keywords whose value is of the wrong type (a golden file's schema is the user's
text: a malformed one must not stop the scoring).

`jsonschema` is a test dependency only; a client-side audit should not need it."""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("number", "integer") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(kind, (object,)))


def _well_formed(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without the keywords whose value has the wrong type for the keyword."""
    num = (int, float)
    wanted: dict[str, tuple[type, ...]] = {
        "type": (str, list), "enum": (list,), "minimum": num, "maximum": num,
        "minLength": (int,), "maxLength": (int,), "minItems": (int,), "maxItems": (int,),
        "properties": (dict,), "required": (list,), "additionalProperties": (bool, dict),
        "allOf": (list,), "anyOf": (list,), "oneOf": (list,),
    }  # fmt: skip
    return {k: v for k, v in schema.items() if k not in wanted or isinstance(v, wanted[k])}


def errors(value: Any, schema: Any, path: str = "$") -> list[str]:
    """Every way `value` breaks `schema`, as `path: reason` lines (empty: it matches)."""
    if schema is True or not isinstance(schema, dict):
        return []
    schema = _well_formed(schema)
    out: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = [k for k in (kind if isinstance(kind, list) else [kind]) if isinstance(k, str)]
        if kinds and not any(_is(value, k) for k in kinds):
            return [f"{path}: expected {'/'.join(map(str, kinds))}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in enum")
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: {value!r} is not {schema['const']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: {value} > maximum {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            out.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']}")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if isinstance(name, str) and name not in value:
                out.append(f"{path}: missing required {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                out += errors(item, props[name], f"{path}.{name}")
            elif extra is False:
                out.append(f"{path}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                out += errors(item, extra, f"{path}.{name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                out += errors(item, schema["items"], f"{path}[{i}]")
    for sub in schema.get("allOf") or []:
        out += errors(value, sub, path)
    if "anyOf" in schema and not any(not errors(value, s, path) for s in schema["anyOf"]):
        out.append(f"{path}: matches none of anyOf")
    if "oneOf" in schema and sum(not errors(value, s, path) for s in schema["oneOf"]) != 1:
        out.append(f"{path}: does not match exactly one of oneOf")
    return out
