"""A request's query string as text: percent-escapes decode to UTF-8, `+` is a space.

Anything else is a 400 naming the parameter, never a guess: raw non-ASCII bytes (a
URI has none; clients percent-encode) and escapes that are not UTF-8 would otherwise
become mojibake (latin-1) or U+FFFD, and then an id nobody has.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from .error_catalog import invalid
from .errors import ApiError, quote


def query_pairs(
    raw: bytes, *, keep_blank: bool = True, max_fields: int | None = None
) -> list[tuple[str, str]]:
    """(name, value) in order, fields split on `&` as `urllib.parse.parse_qsl` does."""
    fields = [f for f in raw.split(b"&") if f]
    if max_fields is not None and len(fields) > max_fields:
        raise invalid(f"The query string could not be read: more than {max_fields} parameters.")
    pairs: list[tuple[str, str]] = []
    for field in fields:
        raw_name, _, raw_value = field.partition(b"=")
        name = _text(raw_name, None)
        if raw_value or keep_blank:
            pairs.append((name, _text(raw_value, name)))
    return pairs


def query_dict(raw: bytes, *, keep_blank: bool = True) -> dict[str, str]:
    """Each parameter's last value."""
    return dict(query_pairs(raw, keep_blank=keep_blank))


def _text(part: bytes, name: str | None) -> str:
    if not part.isascii():
        raise _unreadable(name, "has bytes that are not percent-encoded")
    try:
        return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise _unreadable(name, "is not UTF-8 once percent-decoded") from None


def _unreadable(name: str | None, why: str) -> ApiError:
    what = "A query parameter name" if name is None else f"Query parameter '{quote(name)}'"
    return invalid(
        f"{what} {why}; send it as UTF-8, percent-encoded (e.g. %D0%B9 for 'й').",
        param=name,
    )
