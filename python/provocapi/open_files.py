"""The open-files limit, raised at start to what the administrator allows.

Every connection is a file descriptor, and a proxied call holds two (the client's and
the upstream's). Many shells and service managers start programs with a soft limit of
1024 under a far higher hard one (systemd: 1024 / 524288), so a worker would refuse
connections (EMFILE) near 500 calls in flight, well under its `backpressure`. Raising
the soft limit to the hard one is allowed to any user (Go's runtime does it at start);
the processes serve starts inherit it. Where even the hard limit is short, serve takes
fewer connections at once rather than fail accepts.
"""

from __future__ import annotations

import resource
from pathlib import Path

# descriptors a process holds besides its connections: databases, the spool, logs,
# the runtime's own (epoll, eventfds, pipes); an idle worker of the embedded default
# holds about 60, its idle upstream connections included
SPARE = 128


def _kernel_ceiling() -> int:
    """`fs.nr_open`: no limit may go past it (an unlimited hard limit reads as infinity)."""
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return 1 << 20  # the kernel's default


def raise_soft_limit() -> int:
    """Sets the soft limit to the hard one (capped by the kernel); returns the soft
    limit now in force. One that cannot be raised (a sandbox's rules) stays as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:  # (Linux allows none; read as the ceiling, not -1)
        return _kernel_ceiling()
    target = _kernel_ceiling() if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def fit_connections(limit: int, per_process: int) -> tuple[int, str | None]:
    """The connections a worker may hold at once within `limit` descriptors, each with
    its upstream call beside it, and the banner's note when that is fewer than
    `per_process` (the rest then wait in the listen backlog, as past `backpressure`,
    instead of a worker failing its accepts with EMFILE)."""
    fits = max(1, (limit - SPARE) // 2)
    if fits >= per_process:
        return per_process, None
    note = (
        f"{limit} a process: at most {fits} connections per process, not {per_process} "
        f"(two descriptors each; raise the hard limit, ulimit -Hn or LimitNOFILE=, for more)"
    )
    return fits, note
