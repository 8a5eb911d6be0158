"""What `/health` and `/health/ready` say: each model's ready workers, and draining.

Readiness comes from the shared table (routing's probes write it), so every
gateway process answers the same. Draining is a flag in that table too: the
launcher raises it when `serve` gets SIGTERM and keeps serving for
`[server].drain_delay_s`, so a load balancer sees 503 on `/health/ready` and
takes the replica out before its listener closes.
"""

from __future__ import annotations

from ._core import StateTable
from .query_params import query_pairs

DRAIN_KEY = "srv/drain"  # field 0: 1 while the process group drains


def mark_draining(table: StateTable) -> None:
    table.set(table.slot(DRAIN_KEY), 0, 1)


def is_draining(table: StateTable) -> bool:
    slot = table.find(DRAIN_KEY)
    return slot is not None and table.get(slot, 0) == 1


def requested_models(query_string: bytes) -> list[str]:
    """The `model=` values of a query string, in order (repeatable)."""
    return [value for name, value in query_pairs(query_string) if name == "model"]
