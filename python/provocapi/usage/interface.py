"""The recorder interface the pipeline calls, and the no-op default."""

from __future__ import annotations

from typing import Protocol

from ..call import Call


class UsageRecorder(Protocol):
    def begin(self, call: Call) -> None:
        """May raise a 503 ApiError when the record cannot be kept (spool full)."""
        ...

    def end(self, call: Call) -> None: ...


class NoUsage:
    def begin(self, call: Call) -> None:
        return None

    def end(self, call: Call) -> None:
        return None
