"""A thread's own scheduler accounting: /proc/thread-self/schedstat, the nanoseconds
it has run and waited on a run queue. Read by looplag.py (a late tick's share that
was the kernel's) and sched_adaptive.py (how saturated the event loop is). Open it
on the thread to be measured: the file is that thread's."""

from __future__ import annotations

import os

PATH = "/proc/thread-self/schedstat"


def open_own(path: str = PATH) -> int | None:
    """The calling thread's schedstat, None where there is none (not Linux) or where the
    kernel does not fill it in: it then reads "0 0 0", and a thread that is running has
    always run for some time, so a zero first field means no accounting."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    got = read(fd)
    if got is None or got[0] <= 0:
        os.close(fd)
        return None
    return fd


def read(fd: int) -> tuple[int, int] | None:
    """(ns run, ns waited on a run queue) so far; None if the read fails."""
    try:
        ran, waited = os.pread(fd, 128, 0).split()[:2]
        return int(ran), int(waited)
    except (OSError, ValueError):  # (fewer than two fields: ValueError too)
        return None


def shares(before: tuple[int, int], after: tuple[int, int], wall_ns: int) -> tuple[float, float]:
    """The shares of `wall_ns` the thread ran and waited on a run queue between two reads."""
    return (after[0] - before[0]) / wall_ns, (after[1] - before[1]) / wall_ns
