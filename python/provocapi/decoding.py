"""JSON bodies → request Structs, with msgspec's errors turned into OpenAI's.

msgspec reports the first problem with a path (`$.messages[0]`); clients get
the same fact as an OpenAI error whose `param` names the field.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from .errors import ApiError

T = TypeVar("T")

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")

_decoders: dict[type, msgspec.json.Decoder] = {}


def _param(path: str, field: str | None = None) -> str | None:
    # "$.messages[0].role" → "messages[0].role"; msgspec gives the container's path
    p = path.lstrip(".")
    if field:
        p = f"{p}.{field}" if p else field
    return p or None


def decode(body: bytes, typ: type[T]) -> T:
    dec = _decoders.get(typ)
    if dec is None:
        dec = _decoders[typ] = msgspec.json.Decoder(typ)
    try:
        return dec.decode(body)
    except msgspec.ValidationError as exc:
        raise _translate(str(exc)) from None
    except msgspec.DecodeError:
        raise ApiError(
            400,
            "We could not parse the JSON body of your request. The body must be valid JSON "
            "(Content-Type: application/json).",
            code="invalid_json",
        ) from None


def _translate(msg: str) -> ApiError:
    m = _PATH.search(msg)
    path = m.group("path") if m else ""
    head = msg[: m.start()] if m else msg
    if miss := _MISSING.match(head):
        param = _param(path, miss.group("field"))
        return ApiError(
            400,
            f"Missing required parameter: '{param}'.",
            code="missing_required_parameter",
            param=param,
        )
    if unk := _UNKNOWN.match(head):
        param = _param(path, unk.group("field"))
        return ApiError(
            400,
            f"Unrecognized request argument supplied: {param}",
            code="unknown_parameter",
            param=param,
        )
    param = _param(path)
    if param is None:
        return ApiError(400, f"Invalid request body: {head}.", code="invalid_type")
    return ApiError(
        400,
        f"Invalid type for '{param}': {head[0].lower() + head[1:]}.",
        code="invalid_type",
        param=param,
    )
