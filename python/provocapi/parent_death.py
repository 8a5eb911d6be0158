"""A process that ends when the one that started it dies, even by SIGKILL.

`provocapi serve` killed alone (the OOM killer, `kill -9 PID`) left its Granian
workers serving on the port with nobody to stop them; they held the lifelines of
the flusher and runner (lifeline.py) open, so those stayed too, and so did the
simulator. Each asks the kernel for a signal when its parent goes: SIGTERM for the
simulator, to end as on a normal stop; SIGKILL for a Granian worker (app.py says
why). The kernel may send it more than once (again each time the child is handed
to another thread of the dying parent): a handler must take repeats
(worker_signals.py). A generic OS helper: the simulator may use it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h
# set in the environment of a child that is to end with its parent (serve's simulator)
DIE_WITH_PARENT_ENV = "PROVOCAPI_DIE_WITH_PARENT"


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Send this process `sig` when its parent dies. The signal follows the thread that
    forked it: Granian forks its workers from the launcher's main thread, and the
    simulator's supervisor thread lives as long as serve. `parent`: the pid that
    started this process, when known; a child whose parent died before this call
    (serve killed while the worker imported its modules) has another parent by now,
    and gets `sig` at once (else nobody would ever send it)."""
    if not sys.platform.startswith("linux"):
        return
    if parent is None:
        parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the old behaviour, nothing worse
    if os.getppid() != parent:  # the parent died before the call: nobody will signal
        os.kill(os.getpid(), sig)
