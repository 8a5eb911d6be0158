"""Usage accounting: every call that reaches admission is recorded.

The gateway calls `begin(call)` before admission decides and `end(call)` when
the answer ended (any status). This module holds the interface and the no-op
default; the usage issue supplies the durable spool and the stores.
"""

from __future__ import annotations

from typing import Protocol

from .call import Call


class UsageRecorder(Protocol):
    def begin(self, call: Call) -> None:
        """May raise ApiError(503) when the record cannot be kept (spool full)."""
        ...

    def end(self, call: Call) -> None: ...


class NoUsage:
    def begin(self, call: Call) -> None:
        return None

    def end(self, call: Call) -> None:
        return None
