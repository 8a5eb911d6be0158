"""The usage store interface: write spooled rows, answer the usage query.

Both stores aggregate in their own SQL and agree on every answer: one row per
(UTC day, resolved model), `requests` over every event, latency percentiles over
completed 2xx calls, TTFT over those that streamed; exact nearest-rank
percentiles (the value at rank ceil(p/100 * n), computed in integers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..event import Values

PERCENTILES = (50, 90, 99)


class StoreError(Exception):
    """The store refused or could not be reached; the spool keeps the events."""


@dataclass(frozen=True, slots=True)
class UsageQuery:
    tenant: str
    start: str  # YYYY-MM-DD, inclusive
    end: str  # YYYY-MM-DD, inclusive
    model: str | None = None  # a resolved model id


Pcts = tuple[float | None, float | None, float | None]


@dataclass(frozen=True, slots=True)
class UsageRow:
    day: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: Pcts
    ttft_ms: Pcts


class UsageStore(Protocol):
    async def setup(self) -> None:
        """Create the schema or migrate it forward (idempotent); StoreError for a
        store of a newer release (storage/migrations.py)."""
        ...

    async def write(self, rows: Sequence[Values]) -> None:
        """Each row as its values in COLUMNS order (event.values makes them of a Row).
        Idempotent by event_id: the highest version of an event wins; of equal
        versions, the row written last (a batch line run again after a refusal)."""
        ...

    async def usage(self, q: UsageQuery) -> list[UsageRow]: ...

    async def close(self) -> None: ...


def rank(p: int, n: int) -> int:
    """Nearest rank, 1-based: ceil(p * n / 100) without floating point."""
    return (p * n + 99) // 100


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def usage_row(r: Sequence[Any]) -> UsageRow:
    """A result row (day, model, requests, pt, ct, 3 latency, 3 ttft) as a UsageRow;
    int() also reads 64-bit integers that ClickHouse's JSON quotes."""
    return UsageRow(
        str(r[0]),
        str(r[1]),
        int(r[2]),
        int(r[3]),
        int(r[4]),
        (_num(r[5]), _num(r[6]), _num(r[7])),
        (_num(r[8]), _num(r[9]), _num(r[10])),
    )
