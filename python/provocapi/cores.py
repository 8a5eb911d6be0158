"""How many CPUs `provocapi serve` may use, and its banner's note when `--workers`
asks for more worker processes than that.

Two workers sharing one core spend more CPU a request than one worker alone
(bench/workers_memory.py, both pinned to one core: 1.15x in the quietest run,
1.13-1.58x in louder ones, where Granian's bare pass-through reads ~1.0-1.1x):
the two event loops take turns, so each turn carries fewer requests (per
request 0.45 -> 0.94 epoll waits, 0.40 -> 0.90 context switches,
bench/results/workers-cpu-2026-12-07-syscalls.md) and every switch between the
processes refills the core's caches with the other's interpreter. So a worker per CPU is
what `--workers` is for; more is allowed (a catalogue of slow upstreams leaves
the loops idle), and the banner says what it costs.

Usable CPUs: the process's affinity mask, narrowed by a cgroup CPU quota
(a container's `--cpus`, Kubernetes' CPU limit), rounded up.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """CPUs this process may run on, at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_quota(root, proc_cgroup)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def cgroup_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (1.5: a core and a half), or None
    when there is none or it cannot be read (cgroup v2 `cpu.max`, else v1's
    `cpu.cfs_quota_us` / `cpu.cfs_period_us`)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        rel = path.lstrip("/")
        if hier == "0" and controllers == "":
            got = _read_words(root / rel / "cpu.max") or _read_words(root / "cpu.max")
            if got and len(got) == 2 and got[0] != "max":
                return _ratio(got[0], got[1])
        elif "cpu" in controllers.split(","):
            base = root / controllers
            if not base.is_dir():
                base = root / "cpu"
            for d in (base / rel, base):
                quota = _read_words(d / "cpu.cfs_quota_us")
                period = _read_words(d / "cpu.cfs_period_us")
                if quota and period:
                    return _ratio(quota[0], period[0])
    return None


def _read_words(path: Path) -> list[str] | None:
    try:
        return path.read_text().split()
    except OSError:
        return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None  # v1: -1 is no quota


def describe_sharing(workers: int, cpus: int) -> str | None:
    """The banner's line when the workers outnumber the CPUs; None otherwise."""
    if workers <= cpus:
        return None
    plural = "s" if cpus != 1 else ""
    return (
        f"{workers} worker processes on {cpus} usable CPU{plural}: workers that share a "
        "core spend more CPU a request than one alone (1.15x measured for two on one "
        "core); a worker per CPU is what --workers is for"
    )
