"""One leader per machine, elected through the state table.

trtllm-serve drains `/metrics` on every read, so exactly one process may poll
it (and probing once per machine is enough). The lease is one i64: expiry in
deciseconds since 2020 in the high bits, the holder's pid in the low 22 bits,
so taking and renewing are each a single compare-and-swap.
"""

from __future__ import annotations

import os
import time

from .._core import StateTable

_EPOCH = 1_577_836_800  # 2020-01-01
_PID_BITS = 22
_PID_MASK = (1 << _PID_BITS) - 1
_PREFERRED = 1 << _PID_BITS
_EXPIRY_SHIFT = _PID_BITS + 1


def _now_ds() -> int:
    return int((time.time() - _EPOCH) * 10)


class Lease:
    def __init__(self, table: StateTable, key: str, ttl_s: float, preferred: bool = False) -> None:
        self.table = table
        self.slot = table.slot(key)
        self.ttl_ds = max(2, round(ttl_s * 10))
        self.me = os.getpid() & _PID_MASK
        self.preferred = preferred

    def hold(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        now = _now_ds()
        cur = self.table.get(self.slot, 0)
        owner, expires = cur & _PID_MASK, cur >> _EXPIRY_SHIFT
        live = owner != self.me and expires >= now
        if live and (cur & _PREFERRED or not self.preferred):
            return False
        mine = (_PREFERRED if self.preferred else 0) | self.me
        return self.table.compare_and_swap(
            self.slot, 0, cur, ((now + self.ttl_ds) << _EXPIRY_SHIFT) | mine
        )

    def holder(self) -> int | None:
        """The pid (its low 22 bits) of the process holding the lease now, if any."""
        cur = self.table.get(self.slot, 0)
        return cur & _PID_MASK if cur >> _EXPIRY_SHIFT >= _now_ds() else None
