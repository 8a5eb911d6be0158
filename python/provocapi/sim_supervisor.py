"""The launcher's watch over the simulator process of `simulate = true` models.

A simulator that dies (kill -9, the OOM killer, a crash) is reaped at once, so
no zombie stays, and started again with the same command on the same ports,
after a backoff that doubles from `FIRST_BACKOFF_S` to `MAX_BACKOFF_S` and starts
over once a process stayed up `STABLE_S`. Routing sees its workers come back
through its health probes, as it would a real worker. A clean exit (0) is the
simulator told to stop (a Ctrl-C or a SIGTERM to the whole group reaches it with
the launcher): it is reaped, not restarted. A thread watches, since Granian's
`serve()` holds the launcher's main thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from .exit_watch import ExitWatch
from .parent_death import DIE_WITH_PARENT_ENV

WATCH_S = 0.2  # where the system has no pidfds (exit_watch.py): how often it looks
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
STABLE_S = 10.0  # up this long: the next death restarts after FIRST_BACKOFF_S again
STOP_GRACE_S = 5.0


def say(msg: str) -> None:
    print(f"==> simulated workers: {msg}", file=sys.stderr, flush=True)


def next_backoff(previous: float, uptime_s: float) -> float:
    if previous <= 0 or uptime_s >= STABLE_S:
        return FIRST_BACKOFF_S
    return min(MAX_BACKOFF_S, previous * 2)


class SimSupervisor:
    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._started_at = 0.0
        self._exits = ExitWatch(WATCH_S)
        self._thread: threading.Thread | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        # it ends with the launcher, even one killed alone (parent_death.die_with_parent)
        env = {**os.environ, DIE_WITH_PARENT_ENV: str(os.getpid())}
        proc = subprocess.Popen(self.command, env=env)
        self.proc = proc
        self._started_at = time.monotonic()
        return proc

    def watch(self) -> None:
        """Starts the watching thread (after the first `spawn` came up healthy)."""
        self._thread = threading.Thread(target=self._watch, name="sim-supervisor", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        backoff = 0.0
        # no wake-up while the simulator runs; poll() reaps it once it ended
        while (proc := self._exits.next_exit(lambda: self.proc)) is not None:
            if proc.returncode == 0:
                say(f"process {proc.pid} stopped (exit 0); not restarted")
                return
            backoff = next_backoff(backoff, time.monotonic() - self._started_at)
            say(f"process {proc.pid} died ({_how(proc.returncode)}); "
                f"restarting it in {backoff:.1f} s")  # fmt: skip
            if self._exits.sleep(backoff):
                return
            new = self.spawn()
            self.restarts += 1
            say(f"restarted as process {new.pid} (restart {self.restarts})")

    def stop(self) -> None:
        """Stops watching, then the current simulator process (whichever it is)."""
        self._exits.stop()
        if self._thread is not None:
            self._thread.join()  # a spawn under way finishes: it is stopped below
        self._exits.close()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _how(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"exit {code}"
