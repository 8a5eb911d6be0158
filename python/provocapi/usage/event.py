"""A usage event as it is spooled and stored: one flat row, the store's columns.

The spool holds two lines per call: `begin` when it reaches admission (enough to
record it as `interrupted` if the process dies) and `end` with everything. Both
carry the same gateway-generated `event_id`. In between, a `progress` line per
process and second lists the tokens each open stream relayed so far (progress.py),
so an interrupted stream keeps them. `version` lets a store keep the fullest row
whatever order they arrive in: end (3) beats an interrupted row with relayed
tokens (2), which beats a bare begin (1).

Spool format 1 (before progress lines) wrote ends as version 2; `decode` reads them
as ends. A store's rows from then keep version 2 for an end: no event has both a
format-1 end and a progress row, so the order still holds for every event.
"""

from __future__ import annotations

import itertools
import operator
import os
import secrets
import time
from collections.abc import Sequence
from typing import Any

import orjson

from ..call import Call

BEGIN, PROGRESS, END = 1, 2, 3  # versions: a store keeps the highest per event_id
LEGACY_END = 2  # an end line of spool format 1

COLUMNS: tuple[str, ...] = (
    "event_id",
    "version",
    "day",
    "started_ms",
    "request_id",
    "tenant",
    "key_id",
    "model_asked",
    "model",
    "adapter",
    "worker",
    "endpoint",
    "stream",
    "status",
    "outcome",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "queue_ms",
    "ttft_ms",
    "latency_ms",
    "batch_id",  # the batch a line of belongs to; "" for an online call
)

Row = dict[str, Any]
# A row as the stores take it: its values in COLUMNS order (a list or a tuple). The
# flusher moves rows in this form: the reader decodes most of them straight into it
# (reader.py), and a store binds it as is.
Values = Sequence[Any]
# what every spool line holds (a line spooled before batch_id existed reads as "")
_COLUMN_SET = frozenset(COLUMNS) - {"batch_id"}
_OPTIONAL = {"batch_id": ""}  # columns added since: a row made before them reads as this
# each column taken in C; positional values also bind faster than names (10 → 7 µs a row)
_VALUES = operator.itemgetter(*COLUMNS)


def values(row: Row) -> Values:
    """A row's values in COLUMNS order (keys outside COLUMNS are left out)."""
    try:
        return _VALUES(row)  # type: ignore[no-any-return]
    except KeyError:  # a row of an older release: a column added since
        return _VALUES({**_OPTIONAL, **row})  # type: ignore[no-any-return]


def as_row(v: Values) -> Row:
    return dict(zip(COLUMNS, v, strict=True))


def _new_id_prefix() -> None:
    global _id_prefix, _id_counter
    _id_prefix = "ev_" + secrets.token_hex(8) + "_"
    _id_counter = itertools.count()


_id_prefix = ""
_id_counter = itertools.count()
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)  # a forked worker draws its own


def new_event_id() -> str:
    """Unique per attempt: 64 random bits per process, then a counter (cheaper than
    random bytes per call)."""
    return _id_prefix + str(next(_id_counter))


_day_memo: tuple[int, str] = (-1, "")


def utc_day(epoch_s: float) -> str:
    global _day_memo
    n = int(epoch_s // 86400)  # UTC days since the epoch: no leap seconds in Unix time
    if _day_memo[0] != n:
        _day_memo = (n, time.strftime("%Y-%m-%d", time.gmtime(n * 86400)))
    return _day_memo[1]


def begin_row(call: Call, event_id: str) -> Row:
    """What is known when the call reaches admission; stored as-is only if it never ends."""
    adapter = call.res.adapter
    wall = call.started_wall
    return {
        "event_id": event_id,
        "version": BEGIN,
        "day": utc_day(wall),
        "started_ms": int(wall * 1000),
        "request_id": call.request_id,
        "tenant": call.key.tenant,
        "key_id": call.key.id,
        "model_asked": call.model_asked,
        "model": call.res.model.id,
        "adapter": adapter.name if adapter else "",
        "worker": "",
        "endpoint": call.endpoint,
        "stream": int(call.stream),
        "status": 0,
        "outcome": "interrupted",
        "error_code": "",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "queue_ms": 0.0,
        "ttft_ms": None,
        "latency_ms": 0.0,
        "batch_id": call.batch_id,
    }


def outcome(status: int, error_code: str | None) -> str:
    if 200 <= status < 300 and not error_code:
        return "completed"
    return "error"


def served_tokens(call: Call) -> tuple[int, int]:
    """(prompt, completion) tokens the call's usage row records; metrics count the same.

    Tokens count when an answer started (a 2xx, or a stream the client left after its
    first token). A refused or failed call keeps 0, even if admission had counted its
    prompt: nothing was served."""
    if 200 <= call.status < 300 or call.ttft_s is not None:
        return call.prompt_tokens or 0, call.completion_tokens or 0
    return 0, 0


def end_row(call: Call, begin: Row) -> Row:
    return finish_row(call, dict(begin))


def finish_row(call: Call, row: Row) -> Row:
    """`end_row` in place: the recorder's begin row becomes the end row (it is not
    needed once the call ended), sparing a copy of every column per call."""
    status = call.status
    ttft = call.ttft_s
    error_code = call.error_code
    prompt, completion = served_tokens(call)
    # rounded once here, so every store holds the very same doubles
    row["version"] = END
    row["worker"] = call.worker or ""
    row["status"] = status
    row["outcome"] = outcome(status, error_code)
    row["error_code"] = error_code or ""
    row["prompt_tokens"] = prompt
    row["completion_tokens"] = completion
    row["queue_ms"] = round(call.queue_ms, 3)
    row["ttft_ms"] = None if ttft is None else round(ttft * 1000, 3)
    row["latency_ms"] = round(call.elapsed_s() * 1000, 3)
    return row


def encode(row: Row) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)


# (prompt tokens, completion tokens, worker, ttft_ms, wall ms of the progress line)
Progress = tuple[int, int, str, float | None, int]


def interrupted_row(begin: Row, progress: Progress | None) -> Row:
    """A call whose process died: its begin, with what its last progress entry says
    it relayed (progress.py); without one nothing was served, and it stays a begin."""
    if progress is None:
        return begin
    prompt, completion, worker, ttft_ms, at_ms = progress
    return {
        **begin,
        "version": PROGRESS,
        "worker": worker,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "ttft_ms": ttft_ms,
        "latency_ms": float(max(0, at_ms - begin["started_ms"])),
    }


def decode(line: bytes) -> Row | None:
    """A spool line back to a row (a progress line: {"progress": [...], "at_ms": t});
    None for a torn or foreign line (never fatal)."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(row) is not dict:
        return None
    version = row.get("version")
    if version not in (BEGIN, END, LEGACY_END):
        if type(row.get("progress")) is list and type(row.get("at_ms")) is int:
            return row
        return None
    if not _COLUMN_SET <= row.keys():  # a set comparison in C: this runs per spooled line
        return None
    if version == LEGACY_END:
        row["version"] = END
    if "batch_id" not in row:
        row["batch_id"] = ""
    return row
