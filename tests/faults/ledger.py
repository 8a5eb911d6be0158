"""What usage recorded, read from the gateway's SQLite store (`DATA_DIR/usage.db`):
the fault tests compare it with what each client saw, call by call (X-Request-Id)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    status: int
    outcome: str
    error_code: str
    completion_tokens: int


def rows(db: Path) -> dict[str, list[Row]]:
    """request_id → its stored events (a list: a call counted twice shows as two)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        found = con.execute(
            "SELECT request_id, status, outcome, error_code, completion_tokens FROM usage_events"
        ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        con.close()
    out: dict[str, list[Row]] = {}
    for rid, status, outcome, code, ct in found:
        out.setdefault(rid, []).append(Row(status, outcome, code, ct))
    return out
