"""exit_watch.py: a supervisor's thread waits for its child's end, or for stop(), asleep."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from provocapi.exit_watch import ExitWatch


def _voluntary_switches(tid: int) -> int:
    status = Path(f"/proc/self/task/{tid}/status").read_text()
    return next(int(x.split()[1]) for x in status.splitlines() if x.startswith("voluntary"))


def test_the_wait_ends_when_the_child_ends() -> None:
    watch = ExitWatch(poll_s=10.0)  # a poll would make this test time out
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    try:
        started = time.monotonic()
        assert watch.until_exit(child.pid) is False
        assert time.monotonic() - started < 5
        assert child.poll() == 0  # ended, and reaped here: the caller's part
    finally:
        child.kill()
        child.wait()
        watch.close()


def test_stop_ends_a_wait_at_once_and_the_thread_slept_meanwhile() -> None:
    watch = ExitWatch(poll_s=0.05)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    got: list[bool] = []
    tid: list[int] = []

    def waiter() -> None:
        tid.append(threading.get_native_id())
        got.append(watch.until_exit(child.pid))

    t = threading.Thread(target=waiter)
    try:
        t.start()
        time.sleep(0.2)
        before = _voluntary_switches(tid[0])
        time.sleep(1.0)
        # polling every 50 ms would have woken it ~20 times
        assert _voluntary_switches(tid[0]) - before <= 2
        stopped = time.monotonic()
        watch.stop()
        t.join(5)
        assert not t.is_alive() and time.monotonic() - stopped < 1.0
        assert got == [True] and child.poll() is None  # the child is the caller's to stop
        assert watch.sleep(10.0) is True  # and a backoff after stop() does not wait
    finally:
        child.kill()
        child.wait()
        watch.close()
        watch.close()  # twice: nothing to close the second time


def test_a_child_reaped_already_ends_the_wait() -> None:
    watch = ExitWatch(poll_s=10.0)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    try:
        assert watch.until_exit(child.pid) is False
    finally:
        watch.close()


def test_next_exit_returns_the_current_child_reaped_and_none_once_stopped() -> None:
    watch = ExitWatch(poll_s=10.0)
    children = [subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])]
    try:
        ended = watch.next_exit(lambda: children[-1])
        assert ended is children[0] and ended.returncode == 3  # reaped by its poll()
        # a restart replaces the child: the next wait is on the new one, until stop()
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        threading.Timer(0.3, watch.stop).start()
        assert watch.next_exit(lambda: children[-1]) is None
        assert children[-1].poll() is None
    finally:
        for c in children:
            c.kill()
            c.wait()
        watch.close()
