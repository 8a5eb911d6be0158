"""A batch as text: the summary `get` prints and the rows of `list`."""

from __future__ import annotations

import time
from typing import Any

from .progress import counts

ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


def when(ts: Any) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def summary(batch: dict[str, Any]) -> list[str]:
    rc = batch.get("request_counts") or {}
    lines = [
        f"id:           {batch.get('id')}",
        f"status:       {batch.get('status')}",
        f"endpoint:     {batch.get('endpoint')}",
        f"input file:   {batch.get('input_file_id')}",
        f"output file:  {batch.get('output_file_id') or '-'}",
        f"error file:   {batch.get('error_file_id') or '-'}",
        f"lines:        {rc.get('total', 0)} total, {rc.get('completed', 0)} completed, "
        f"{rc.get('failed', 0)} failed",
        f"created:      {when(batch.get('created_at'))}",
    ]
    for key in ("completed_at", "failed_at", "expired_at", "cancelled_at"):
        if batch.get(key):
            lines.append(f"{key.removesuffix('_at') + ':':<14}{when(batch[key])}")
    lines += file_errors(batch)
    return lines


def file_errors(batch: dict[str, Any]) -> list[str]:
    """The file-level errors a failed batch carries (errors.data[]), one line each."""
    data = (batch.get("errors") or {}).get("data") or []
    out = []
    for e in data:
        where = f"line {e['line']}: " if e.get("line") is not None else ""
        out.append(f"error:        {where}{e.get('code')}: {e.get('message')}")
    return out


HEADER = f"{'ID':<34} {'STATUS':<11} {'ENDPOINT':<22} {'DONE/TOTAL':>13}  CREATED"


def row(batch: dict[str, Any]) -> str:
    done, total = counts(batch)
    return (
        f"{batch.get('id', '?'):<34} {batch.get('status', '?'):<11} "
        f"{batch.get('endpoint', '?'):<22} {f'{done}/{total}':>13}  {when(batch.get('created_at'))}"
    )
