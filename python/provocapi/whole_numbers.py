"""Whole numbers written as floats (`16.0`) read as the integers they are.

JSON Schema, pydantic (the worker's validation) and most clients treat `16.0` as
the integer 16; msgspec decodes it as a float, which an `int` field refuses. The
gateway takes it as 16. Nothing here runs for a body that uses plain integers.
"""

from __future__ import annotations

from typing import Any


def _whole(x: object) -> bool:
    return type(x) is float and x.is_integer()


def as_int(x: Any) -> Any:
    """`x` as an int when it is a whole float, else unchanged."""
    return int(x) if _whole(x) else x


def int_list(values: list[Any]) -> list[Any] | None:
    """The list with whole floats as ints, if every item is then an int; else None."""
    out = [as_int(v) for v in values]
    return out if all(type(v) is int for v in out) else None


def top_level(obj: Any) -> Any:
    """A decoded body with whole floats made ints: top-level values and the items of
    top-level lists (token ids, stop_token_ids); deeper values stay as they were."""
    if type(obj) is not dict:
        return obj
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if type(v) is list:
            v = [as_int(x) for x in v]
        out[k] = as_int(v)
    return out
