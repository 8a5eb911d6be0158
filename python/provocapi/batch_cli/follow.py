"""`--wait`: poll a batch until it ends, drawing its progress. Ctrl-C stops following and
leaves the batch running: nothing here ever cancels."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .client import ApiFailure, BatchApi, Unreachable
from .progress import Reporter
from .summary import ENDED

# A gateway restarting (or busy) mid-batch is no reason to stop following: transient
# failures are retried on the next poll until they have lasted this long.
GIVE_UP_S = 300.0


def _transient(exc: Exception) -> bool:
    return isinstance(exc, Unreachable) or (
        isinstance(exc, ApiFailure) and (exc.status >= 500 or exc.status == 429)
    )


def follow(
    api: BatchApi, batch_id: str, poll_s: float, tty: bool, out: TextIO = sys.stderr
) -> dict[str, Any]:
    """The batch once it has ended. KeyboardInterrupt propagates (the caller says what it
    means), as do ApiFailure (4xx) and failures lasting GIVE_UP_S."""
    reporter = Reporter(out, tty)
    failing_since: float | None = None
    try:
        while True:
            try:
                batch = api.get(batch_id)
            except (ApiFailure, Unreachable) as exc:
                now = time.monotonic()
                if not _transient(exc):
                    raise
                failing_since = failing_since or now
                if now - failing_since >= GIVE_UP_S:
                    raise
                reporter.finish()
                out.write(f"still following {batch_id}: {exc}; retrying\n")
                out.flush()
                time.sleep(poll_s)
                continue
            failing_since = None
            reporter.show(batch)
            if batch.get("status") in ENDED:
                return batch
            time.sleep(poll_s)
    finally:
        reporter.finish()
