"""Tool calls and JSON answers built from JSON schemas, deterministically.

trtllm-serve has no Llama 3 or Mistral tool parser and skips special tokens by default, so
those families' calls come back as plain content text in the shape each model writes them.
Qwen's <tool_call> tags are ordinary text, so they stay unless a parser (qwen3) lifts them.
"""

from __future__ import annotations

import json
from typing import Any

from . import schema_value
from .textgen import WORDS


def value_for(schema: Any, key: int, depth: int = 0) -> Any:
    if not isinstance(schema, dict) or depth > 6:
        return WORDS[key % len(WORDS)]
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[key % len(enum)]
    for combo in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combo)
        if isinstance(options, list) and options:
            return value_for(options[0], key, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return object_for(schema, key, depth + 1)
    if kind == "array":
        return [value_for(schema.get("items"), key, depth + 1)]
    if kind == "integer":
        return key % 100
    if kind == "number":
        return (key % 1000) / 10
    if kind == "boolean":
        return key % 2 == 0
    if kind == "null":
        return None
    return WORDS[key % len(WORDS)]


def object_for(schema: dict[str, Any], key: int, depth: int = 0) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        return {"answer": " ".join(WORDS[(key + i) % len(WORDS)] for i in range(3))}
    return {
        name: value_for(sub, key + i * 31, depth) for i, (name, sub) in enumerate(props.items())
    }


def pick_tool(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    """The function a model would call: the named one, else the first tool."""
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        for tool in tools:
            fn = tool.get("function") or {}
            if fn.get("name") == name:
                return fn
        return {"name": name, "parameters": None}
    for tool in tools:
        fn = tool.get("function")
        if isinstance(fn, dict):
            return fn
    return None


def arguments_for(function: dict[str, Any], key: int) -> dict[str, Any]:
    params = function.get("parameters")
    if isinstance(params, dict) and params.get("properties"):
        return object_for(params, key)
    return {}


def dumps(value: Any) -> str:
    # json's default separators put a space after ',' and ':', so the text splits into
    # several tokens the way a model writes it.
    return json.dumps(value, ensure_ascii=False)


def call_text(family: str, name: str, args: dict[str, Any]) -> str:
    """The tool call as the model family writes it in plain text."""
    if family == "qwen2":
        return "<tool_call>\n" + dumps({"name": name, "arguments": args}) + "\n</tool_call>"
    if family == "mistral":
        return dumps([{"name": name, "arguments": args}])
    return dumps({"name": name, "parameters": args})


def qwen_call_parts(name: str, args: dict[str, Any]) -> tuple[str, str, str]:
    """Qwen's call split where a streaming parser sees the name, the arguments, the end."""
    head = "<tool_call>\n" + dumps({"name": name, "arguments": 0})[:-2]
    return head, dumps(args), "}\n</tool_call>"


def json_answer(response_format: dict[str, Any], key: int, invalid: bool = False) -> str | None:
    """Content for response_format json_object / json / json_schema; None for other types.

    The answer satisfies the schema, as guided decoding makes it; ``invalid`` breaks it (a
    worker without a guided-decoding backend): a schema-violating value, or for
    ``json_object`` no JSON at all (None: the caller writes prose).
    """
    kind = response_format.get("type")
    schema: Any = None
    if kind == "json":
        schema = response_format.get("schema")
    elif kind == "json_schema":
        schema = response_format.get("json_schema")
        if isinstance(schema, dict) and "schema" in schema:
            schema = schema["schema"]
    elif kind != "json_object":
        return None
    if invalid:
        return dumps(schema_value.invalid(schema, key)) if isinstance(schema, dict) else None
    if isinstance(schema, dict):
        return dumps(schema_value.value(schema, key))
    return dumps(object_for({}, key))
