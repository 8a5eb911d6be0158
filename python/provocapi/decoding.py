"""JSON bodies → request Structs, with msgspec's errors turned into OpenAI's.

msgspec reports the first problem with a path (`$.messages[0]`); clients get
the same fact as an OpenAI error whose `param` names the field. A body that
nests too deeply is refused here too (`json_depth`), and the free-form fields
later code relies on are checked (`request_shapes`): after `decode`, nothing a
client can send makes a handler raise anything but an ApiError.
"""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from . import error_catalog as E
from . import request_shapes, whole_numbers
from .errors import ApiError, quote
from .json_depth import MAX_DEPTH, deep_param, depth_exceeds

T = TypeVar("T")

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")
_CONSTRAINT = re.compile(r"^Expected `\w+` [<>]=? ")
_INT_GOT_FLOAT = re.compile(r"^Expected `int( \| null)?`, got `float`")

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
        obj = dec.decode(body)
    except msgspec.ValidationError as exc:
        if not _INT_GOT_FLOAT.match(str(exc)):
            raise _translate(str(exc)) from None
        obj = _with_whole_floats(body, typ)
    except msgspec.DecodeError:
        raise E.INVALID_JSON.build() from None
    except RecursionError:  # about 1000 levels: far past MAX_DEPTH
        raise too_deep(deep_param(body)) from None
    if depth_exceeds(body):
        raise too_deep(deep_param(body))
    request_shapes.check(obj)
    return obj


def _with_whole_floats(body: bytes, typ: type[T]) -> T:
    """An int field got a float: decoded again with whole floats as ints (`16.0`).
    msgspec stops at the first problem, so the rest of the body may still be broken."""
    try:
        return msgspec.convert(whole_numbers.top_level(msgspec.json.decode(body)), typ)
    except msgspec.ValidationError as exc:
        raise _translate(str(exc)) from None
    except msgspec.DecodeError:
        raise E.INVALID_JSON.build() from None


def too_deep(param: str | None) -> ApiError:
    where = f"'{param}'" if param else "The request body"
    return E.INVALID_VALUE.build(
        message=f"{where} nests arrays and objects too deeply: a request body may nest at "
        f"most {MAX_DEPTH} levels.",
        param=param,
    )


def _translate(msg: str) -> ApiError:
    m = _PATH.search(msg)
    path = m.group("path") if m else ""
    head = msg[: m.start()] if m else msg
    if miss := _MISSING.match(head):
        param = _param(path, miss.group("field"))
        return E.MISSING_PARAMETER.build(name=quote(param), param=param)
    if unk := _UNKNOWN.match(head):
        param = _param(path, unk.group("field"))
        return E.UNKNOWN_PARAMETER.build(name=quote(param), param=param)
    param = _param(path)
    if param is None:
        return E.INVALID_BODY.build(detail=quote(head))
    if _CONSTRAINT.match(head):  # the right type, outside its range
        return E.INVALID_VALUE.build(
            message=f"Invalid value for '{quote(param)}': {_lower(head)}.", param=param
        )
    return E.INVALID_TYPE.build(
        message=f"Invalid type for '{quote(param)}': {quote(_lower(head))}.", param=param
    )


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]
