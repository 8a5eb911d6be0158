"""What this process holds in shared counters, so that its death gives it back.

Routing counts calls in flight (per worker) and calls waiting (per pool) in the
shared table; each process adds when a call takes a unit and subtracts when it
ends. A process killed in between (kill -9, the OOM killer) would leave its
units counted forever: a worker at its max_concurrency would stay "full".

So each process also books its units in its own ledger slots, keyed by a seat:
a small number it holds an exclusive flock on for its whole life (the kernel
drops the lock when it dies). Whoever next takes a seat whose lock is free (a
new process, or the health leader's sweep) subtracts what the dead owner still
held and zeroes its ledger.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import weakref
from pathlib import Path

from .._core import StateTable

log = logging.getLogger("provocapi.routing")

MAX_SEATS = 1024
PREFIX = "rt/held/"


def _lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


_ledgers: weakref.WeakSet[Ledger] = weakref.WeakSet()


def _after_fork() -> None:
    for ledger in list(_ledgers):
        ledger._forget()


# like the usage recorder: a forked child claims its own seat (no getpid per call)
os.register_at_fork(after_in_child=_after_fork)


class Ledger:
    def __init__(self, table: StateTable, seats_dir: Path) -> None:
        self.table = table
        self.dir = seats_dir
        self.seat = -1
        self._fd = -1
        # (slot, field) → ledger slot; a new dict whenever the seat changes (claimed, or
        # forgotten in a forked child): what a pool's core books into compares it
        self.owned: dict[tuple[int, int], int] = {}
        _ledgers.add(self)

    def _forget(self) -> None:
        self.seat, self._fd, self.owned = -1, -1, {}  # the parent's seat and lock stay its own

    def _claim(self) -> None:
        # lazily, in the process that serves
        self.dir.mkdir(parents=True, exist_ok=True)
        for seat in range(MAX_SEATS):
            fd = _lock(self.dir / f"seat-{seat}.lock")
            if fd is not None:
                self.reclaim(seat)  # a dead predecessor's units, if any
                self.seat, self._fd = seat, fd
                self.owned = {}
                return
        raise RuntimeError(f"no free routing seat in {self.dir}")

    def add(self, slot: int, field: int, delta: int) -> None:
        """Book `delta` units of (slot, field) to this process (after adding them there)."""
        self.table.add(self.own(slot, field), 0, delta)

    def own(self, slot: int, field: int) -> int:
        """The slot where this process books its units of (slot, field): field 0 of it.
        A core that books there itself (RoutePool.hold) must ask again once `owned`
        is another dict."""
        if self.seat < 0:
            self._claim()
        own = self.owned.get((slot, field))
        if own is None:
            own = self.owned[(slot, field)] = self.table.slot(f"{PREFIX}{self.seat}/{slot}/{field}")
        return own

    def reclaim(self, seat: int) -> int:
        """Give back what seat `seat`'s dead owner held; returns the units given back."""
        total = 0
        for key, own in self.table.entries(f"{PREFIX}{seat}/"):
            held = self.table.get(own, 0)
            if held == 0:
                continue
            _, _, slot, field = key.rsplit("/", 3)
            s, f = int(slot), int(field)
            left = self.table.add(s, f, -held)
            while left < 0 and not self.table.compare_and_swap(s, f, left, 0):
                left = self.table.get(s, f)  # never below zero: that would attract traffic
            self.table.add(own, 0, -held)
            total += held
        if total:
            log.warning("routing: gave back %d units held by a process that died", total)
        return total

    def sweep(self) -> int:
        """Reclaim every seat whose owner died and that no new process took yet."""
        total = 0
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.dir):
                name = entry.name
                if not (name.startswith("seat-") and name.endswith(".lock")):
                    continue
                seat = int(name[5:-5])
                if seat == self.seat:
                    continue
                fd = _lock(Path(entry.path))
                if fd is None:
                    continue  # alive
                try:
                    total += self.reclaim(seat)
                finally:
                    os.close(fd)
        return total
