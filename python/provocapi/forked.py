"""A child process forked from `provocapi serve`'s launcher, with a lifeline on its stdin.

Forking (instead of starting a fresh interpreter) lets the child share, copy-on-write,
what the launcher loaded before: the tokenizer tables (admission.vocabularies.preload)
and the imported modules. Granian forks its workers the same way. `ForkedChild` looks
like the `subprocess.Popen` the supervisor used before (pid, stdin, poll, wait, kill).

The launcher has threads when it forks (the supervisors' watch threads, Granian's main
loop; a respawn forks from a watch thread), and the child keeps only the forking one.
So the child touches no object another thread may have held at that instant: it gets
new stdio objects on fds 0-2 (their buffer locks could be held), drops the signal
handlers and wakeup fd the launcher or Granian installed, and closes the pipes and
sockets it inherited (other children's lifelines, Granian's listening socket) so that
it keeps nothing alive that is not its own. It never returns into the launcher's code:
whatever the target does, the child ends with `os._exit`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from typing import IO

WAIT_POLL_S = 0.05


class ForkedChild:
    """The launcher's handle on a forked child (the parts of `subprocess.Popen` it uses)."""

    def __init__(self, pid: int, stdin: IO[bytes]) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin  # the lifeline's write end
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status once it ended (reaped then: no zombie stays), else None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone all the same
                self.returncode = -1
                return self.returncode
            if pid != 0:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"forked child {self.pid}", timeout or 0.0)
            time.sleep(WAIT_POLL_S)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def fork_child(target: Callable[[], int], name: str) -> ForkedChild:
    """Fork; the child runs `target` with a pipe on its stdin (EOF: the launcher let go)
    under the process name `name` (/proc/PID/comm, at most 15 bytes, what `ps -o comm`
    and the tests see: its command line stays the launcher's)."""
    for stream in (sys.stdout, sys.stderr):  # else the child would inherit unwritten text
        with contextlib.suppress(Exception):
            stream.flush()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns on fork with threads; the child is written for it (above)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        _child(target, name, read_end, write_end)  # never returns
    os.close(read_end)
    return ForkedChild(pid, os.fdopen(write_end, "wb", buffering=0))


def _child(target: Callable[[], int], name: str, read_end: int, write_end: int) -> None:
    code = 1
    try:
        os.close(write_end)
        if read_end != 0:  # (0 already when the launcher had no stdin)
            os.dup2(read_end, 0)
            os.close(read_end)
        _fresh_stdio()
        _close_inherited_channels()
        _default_signals()
        _set_name(name)
        code = target()
    except SystemExit as e:  # sys.exit(): None is 0, a message is 1, as in an interpreter
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)  # never back into the launcher


def _fresh_stdio() -> None:
    # new objects on the same fds: the launcher's carry locks another thread may hold
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = open(
        2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
    )


def _close_inherited_channels() -> None:
    """Let go of every inherited pipe and socket above stderr: another child's lifeline
    held open here would keep that child from seeing its launcher go (and a listening
    socket would stay bound). Each such fd is pointed at /dev/null rather than closed, so
    its number is never reused here: a launcher object (a socket, a pipe) the child's
    garbage collector finalizes later closes /dev/null, not a connection of the child's."""
    null = os.open(os.devnull, os.O_RDWR)
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd <= 2 or fd == null:
            continue
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue  # the directory listing's own fd, already closed
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.dup2(null, fd, inheritable=False)
    os.close(null)


def _default_signals() -> None:
    """The launcher's (Granian's) handlers and wakeup fd are not the child's."""
    signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError, TypeError):
            if callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a fresh interpreter's


def _set_name(name: str) -> None:
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write(name[:15])
