"""One page of a cursor-paginated list (files, batches, adapters): the store is
asked for `limit + 1` rows after the `after` cursor, and the one past the page
only says `has_more`. A cursor the store does not know is `UnknownCursor`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

Row = TypeVar("Row")


class UnknownCursor(LookupError):
    """A list's `after` names no object the caller could list: paging on from the top
    (or from where the id would sort) would hand a client that lost its place the
    first page again (duplicates, or a loop), so the routes answer 404 as for any id
    that does not exist. args[0] is the cursor."""


def cursor_page(
    rows: Sequence[Row], limit: int, render: Callable[[Row], Mapping[str, object]]
) -> dict[str, Any]:
    """OpenAI's list object for the first `limit` of `rows`."""
    items = [render(r) for r in rows[:limit]]
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": len(rows) > limit,
    }
