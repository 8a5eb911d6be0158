"""Memory and scheduler figures of a process tree from /proc (Linux), for the bench scripts.

PSS (proportional set size, /proc/<pid>/smaps_rollup) charges each shared page to the
processes sharing it in equal parts, so the PSS of a tree adds up to the memory the tree
really holds: pages a forked worker still shares with its parent are not counted twice,
as they are in a sum of RSS.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from floor import tree


def pss_bytes(pid: int) -> int:
    """PSS of one process (0 when it is gone or unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def tree_pss(root: int) -> dict[int, int]:
    """PSS per process of `root` and its descendants."""
    return {pid: pss_bytes(pid) for pid in tree(root)}


def run_delay_ns(pid: int) -> int:
    """Time the process's main thread spent runnable but waiting for a CPU (schedstat
    field 2, ns): the kernel's time slices given to others, not the process's own work."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
    return 0
