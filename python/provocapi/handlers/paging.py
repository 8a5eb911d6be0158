"""The query of a cursor-paginated list (files, batches, adapters), read one way:
`limit`, and an `after` the store does not know answered 404 `param: "after"`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..error_catalog import invalid
from ..errors import ErrorSpec, quote
from ..listing import UnknownCursor


def page_size(params: dict[str, str], most: int, default: int | None = None) -> int:
    """`limit` from 1 to `most`; absent, `default` (or `most`)."""
    if "limit" not in params:
        return most if default is None else default
    try:
        limit = int(params["limit"])
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        raise invalid(f"'limit' must be an integer from 1 to {most}.", param="limit")
    return limit


@contextmanager
def known_cursor(not_found: ErrorSpec, id_field: str = "id") -> Iterator[None]:
    """The store's UnknownCursor as `not_found` (the kind's 404) naming `after`: never
    the first page again, so no pager that lost its place restarts unnoticed."""
    try:
        yield
    except UnknownCursor as exc:
        fields: dict[str, Any] = {id_field: quote(exc.args[0])}
        raise not_found.build(param="after", **fields) from None
