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


def _now_ds() -> int:
    return int((time.time() - _EPOCH) * 10)


class Lease:
    def __init__(self, table: StateTable, key: str, ttl_s: float) -> None:
        self.table = table
        self.slot = table.slot(key)
        self.ttl_ds = max(2, round(ttl_s * 10))
        self.me = os.getpid() & _PID_MASK

    def hold(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        now = _now_ds()
        cur = self.table.get(self.slot, 0)
        owner, expires = cur & _PID_MASK, cur >> _PID_BITS
        if owner != self.me and expires >= now:
            return False
        new = ((now + self.ttl_ds) << _PID_BITS) | self.me
        return self.table.compare_and_swap(self.slot, 0, cur, new)
