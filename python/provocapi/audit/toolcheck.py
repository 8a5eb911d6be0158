"""Whether a tool call is a valid call of the tools offered: a known name, arguments
that parse as a JSON object and match that tool's parameter schema."""

from __future__ import annotations

import json
from typing import Any

from . import schema
from .assemble import Call
from .verdicts import short


def call_problem(call: Call, tools: list[dict[str, Any]]) -> str | None:
    """Why `call` is not a valid call of one of `tools` (None: it is)."""
    by_name = {
        t["function"]["name"]: t["function"]
        for t in tools
        # a malformed tool (a golden file's text) is no tool rather than a crash
        if isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
    }
    if call.name not in by_name:
        return f"called {call.name!r}, not one of the tools"
    try:
        args = json.loads(call.arguments)
    except ValueError:
        return f"{call.name} arguments are not JSON: {short(call.arguments, 60)!r}"
    if not isinstance(args, dict):
        return f"{call.name} arguments are not a JSON object"
    problems = schema.errors(args, by_name[call.name].get("parameters") or {})
    return f"{call.name} arguments break the schema: {problems[0]}" if problems else None
