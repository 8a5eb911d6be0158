"""A watch thread's wait for its child process to end, or for the watch to stop, with no
wake-up in between.

The launcher's supervisors (the usage flusher's, the batch runner's, the simulators')
polled their child every 0.2-0.5 s: an idle launcher woke four to nine times a second, and
on a virtual machine a wake-up costs ~190 µs of CPU however little it does
(bench/idle_wakeups.py). A pidfd (Linux 5.3+) turns readable when its process ends, and a
pipe that `stop()` writes to ends the wait at once. Where `pidfd_open` is missing (another
system, an old kernel, a seccomp filter), the wait falls back to a poll every `poll_s`.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable
from typing import Protocol, TypeVar


class Child(Protocol):
    """What a supervisor holds of its child (`subprocess.Popen`, `forked.ForkedChild`)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


C = TypeVar("C", bound=Child)


class ExitWatch:
    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s  # the fallback's period
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._fds: tuple[int, ...] = (self._wake_r, self._wake_w)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Ends a wait under way (and every later one) at once."""
        self._stopping.set()
        if self._fds:
            with contextlib.suppress(OSError):  # a full pipe: it is awake already
                os.write(self._wake_w, b"\0")

    def until_exit(self, pid: int) -> bool:
        """Blocks until process `pid` (a child of this one, not yet reaped) has ended or
        `stop()` was called; True if stopping. On the fallback it may return after
        `poll_s` with the child still alive: the caller looks again."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # ended and reaped already
            return self.stopping
        except (AttributeError, OSError):  # no pidfds here
            return self._stopping.wait(self.poll_s)
        try:
            poller = select.poll()  # (select() stops at fd 1024)
            poller.register(fd, select.POLLIN)
            poller.register(self._wake_r, select.POLLIN)
            poller.poll()
        finally:
            os.close(fd)
        return self.stopping

    def next_exit(self, current: Callable[[], C | None]) -> C | None:
        """The supervisor's wait: blocks until its current child (`current()`, read again
        after each wait: a restart replaces it) has ended, and returns it, reaped by its
        `poll()`; None once stopping."""
        while True:
            proc = current()
            if proc is None:  # not started yet
                if self.sleep(self.poll_s):
                    return None
                continue
            if self.until_exit(proc.pid):
                return None
            if proc.poll() is not None:  # else the fallback's poll found it running
                return proc

    def sleep(self, seconds: float) -> bool:
        """A pause (a restart's backoff) that `stop()` ends; True if stopping."""
        return self._stopping.wait(seconds)

    def close(self) -> None:
        """Once the watch thread is done; a second call does nothing (the numbers may be
        another file's by then)."""
        fds, self._fds = self._fds, ()
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
