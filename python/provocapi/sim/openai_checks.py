"""The --openai profile's field checks: a bad type or range is a 400 as OpenAI words it.

OpenAI answers a field of the wrong type with `invalid_type` ("Invalid type for 'n':
expected an integer, but got a string instead.") and a number out of its range with
`integer_below_min_value`, `decimal_above_max_value`, ... naming the field in `param`.
Only the fields the simulator reads are checked (the plan would otherwise fail on
them with a Python error, a 500 no provider sends); unknown fields pass, as OpenAI
lets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Refused:
    message: str
    code: str
    param: str


_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a decimal",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def _got(value: object) -> str:
    return _TYPE_NAMES.get(type(value), "an unsupported value")


def _wrong(field: str, expected: str, value: object) -> Refused:
    return Refused(
        f"Invalid type for '{field}': expected {expected}, but got {_got(value)} instead.",
        "invalid_type",
        field,
    )


def _bounds(field: str, value: float, lo: float, hi: float | None, kind: str) -> Refused | None:
    """OpenAI's range error for `value` outside [lo, hi]; `kind` "integer" or "decimal"."""
    if value < lo:
        side, code, limit = "below minimum", f"{kind}_below_min_value", f">= {_limit(lo)}"
    elif hi is not None and value > hi:
        side, code, limit = "above maximum", f"{kind}_above_max_value", f"<= {_limit(hi)}"
    else:
        return None
    return Refused(
        f"Invalid '{field}': {kind} {side} value. Expected a value {limit}, "
        f"but got {value} instead.",
        code,
        field,
    )


def _limit(x: float) -> str:
    return str(x) if type(x) is int else f"{x:g}"


def _int(body: dict[str, Any], field: str, lo: int, hi: int | None) -> Refused | None:
    value = body.get(field)
    if value is None:
        return None
    if type(value) is not int:
        return _wrong(field, "an integer", value)
    return _bounds(field, value, lo, hi, "integer")


def _number(body: dict[str, Any], field: str, lo: float, hi: float) -> Refused | None:
    value = body.get(field)
    if value is None:
        return None
    if type(value) not in (int, float):
        return _wrong(field, "a decimal", value)
    return _bounds(field, value, lo, hi, "decimal")


def _bool(body: dict[str, Any], field: str) -> Refused | None:
    value = body.get(field)
    if value is None or type(value) is bool:
        return None
    return _wrong(field, "a boolean", value)


def _stop(body: dict[str, Any]) -> Refused | None:
    stop = body.get("stop")
    if stop is None or isinstance(stop, str):
        return None
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        return _wrong("stop", "a string or an array of strings", stop)
    if len(stop) > 4:
        return Refused(
            f"Invalid 'stop': array too long. Expected an array with maximum length 4, "
            f"but got an array with length {len(stop)} instead.",
            "array_above_max_length",
            "stop",
        )
    return None


def _common(body: dict[str, Any]) -> Refused | None:
    return (
        _int(body, "n", 1, 128)
        or _int(body, "max_tokens", 1, None)
        or _int(body, "seed", -(2**63), 2**63 - 1)
        or _number(body, "temperature", 0, 2)
        or _number(body, "top_p", 0, 1)
        or _number(body, "presence_penalty", -2, 2)
        or _number(body, "frequency_penalty", -2, 2)
        or _bool(body, "stream")
        or _stop(body)
    )


def chat(body: dict[str, Any]) -> Refused | None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return _wrong("messages", "an array", messages)
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return _wrong(f"messages[{i}]", "an object", m)
        if not isinstance(m.get("role"), str):
            return _wrong(f"messages[{i}].role", "a string", m.get("role"))
    return (
        _common(body)
        or _int(body, "max_completion_tokens", 1, None)
        or _bool(body, "logprobs")
        or _int(body, "top_logprobs", 0, 20)
    )


def completion(body: dict[str, Any]) -> Refused | None:
    prompt = body.get("prompt")
    if not isinstance(prompt, (str, list)):
        return _wrong("prompt", "a string or an array", prompt)
    return _common(body) or _bool(body, "echo") or _int(body, "logprobs", 0, 5)
