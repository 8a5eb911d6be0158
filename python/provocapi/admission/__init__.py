"""Admission: may this call go ahead now? (rate limits, token budget, context guard)

The gateway calls `admit_async(call)` (or `admit`) before any worker is touched
and `settle(call)` when the answer ended. This package holds the interface and its
implementation (`gate.Gate`): prompt counting, context guard, and the core's
token buckets in the shared state table.
"""

from __future__ import annotations

from typing import Protocol

from ..call import Call


class Admission(Protocol):
    def admit(self, call: Call) -> list[tuple[bytes, bytes]]:
        """Admit or raise ApiError (429, 400 context_length_exceeded); returns headers
        for the response (x-ratelimit-*)."""
        ...

    async def admit_async(self, call: Call) -> list[tuple[bytes, bytes]]:
        """The same, with a large prompt counted off the event loop (the gateway's path)."""
        ...

    def settle(self, call: Call) -> None:
        """The answer ended (whatever its status): refund unused tokens."""
        ...
