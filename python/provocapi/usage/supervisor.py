"""The launcher's side of the flusher process: start it, restart it if it dies, stop it.

Usage is billing data, so a flusher that dies is started again (its successor
re-reads every series from the start of what is still on disk; the store
collapses the replays by event_id). A thread watches it, since Granian's
`serve()` holds the launcher's main thread.

`provocapi serve` forks it from the launcher (forked.py) rather than starting a
fresh interpreter, so it shares the modules the launcher imported; a restart
forks from the launcher again. The batch runner process is
supervised the same way, and shares the tokenizer tables the launcher loaded.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

from ..exit_watch import ExitWatch
from ..forked import ForkedChild, fork_child

WATCH_S = 0.5  # where the system has no pidfds (exit_watch.py): how often it looks
QUICK_EXIT_S = 5.0  # a flusher that dies this soon after its start is crash-looping
MAX_BACKOFF_S = 10.0
STOP_GRACE_S = 15.0  # its last drain is bounded at 5 s, plus start-up and store close


def say(msg: str, label: str = "usage flusher") -> None:
    print(f"==> {label}: {msg}", file=sys.stderr, flush=True)


class FlusherSupervisor:
    def __init__(
        self, fork: Callable[[], int], process_name: str, label: str = "usage flusher"
    ) -> None:
        self.label = label  # the batch runner process is supervised the same way
        self.fork = fork  # what the child runs, forked from this process (forked.py)
        self.process_name = process_name
        self.proc: ForkedChild | None = None
        self.restarts = 0
        self._started_at = 0.0
        self._exits = ExitWatch(WATCH_S)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name="usage-flusher", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        # stdin is the stop signal: the flusher ends at EOF (see flusher_process.py)
        self.proc = fork_child(self.fork, self.process_name)
        self._started_at = time.monotonic()

    def _watch(self) -> None:
        backoff = 0.0
        # no wake-up while the child runs; its poll() reaps it once it ended
        while (proc := self._exits.next_exit(lambda: self.proc)) is not None:
            quick = time.monotonic() - self._started_at < QUICK_EXIT_S
            backoff = min(MAX_BACKOFF_S, max(1.0, backoff * 2)) if quick else 0.0
            say(f"process {proc.pid} exited with {proc.returncode}; restarting it"
                + (f" in {backoff:.0f} s" if backoff else ""), self.label)  # fmt: skip
            if proc.stdin is not None:
                proc.stdin.close()
            if backoff and self._exits.sleep(backoff):
                return
            self._spawn()
            self.restarts += 1

    def stop(self) -> None:
        """After Granian's workers stopped: let it drain once more, then wait for it."""
        self._exits.stop()
        if self._thread is not None:
            self._thread.join()
        self._exits.close()
        proc = self.proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            say(f"process {proc.pid} did not stop in time; killed", self.label)
            proc.kill()
            proc.wait()
