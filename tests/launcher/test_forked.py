"""forked.py: a child forked from this process runs its target with a lifeline on stdin,
under its own name, holding none of the parent's pipes, and always ends with an exit
code the parent reads like a `subprocess.Popen`'s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from harness.waiting import poll
from provocapi.forked import ForkedChild, fork_child


def _until_eof() -> int:
    while os.read(0, 4096):
        pass
    return 0


def test_the_child_lives_until_its_lifeline_closes() -> None:
    child = fork_child(_until_eof, "lifeline-test")
    try:
        name = poll(lambda: Path(f"/proc/{child.pid}/comm").read_text().strip(),
                    lambda n: n == "lifeline-test", 10)  # fmt: skip
        assert name == "lifeline-test"
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(0.2)  # blocked on its stdin: the parent still holds the pipe
        assert child.poll() is None
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(10) == 0
    finally:
        child.kill()


def test_exit_codes_reach_the_parent() -> None:
    def fails() -> int:
        raise RuntimeError("boom")

    def exits() -> int:
        sys.exit(5)

    for target, code in ((lambda: 3, 3), (fails, 1), (exits, 5)):
        child = fork_child(target, "code-test")
        assert child.wait(10) == code


def test_a_killed_child_reports_the_signal() -> None:
    child = fork_child(_until_eof, "kill-test")
    child.kill()
    assert child.wait(10) == -signal.SIGKILL
    assert not Path(f"/proc/{child.pid}").exists()  # reaped


def test_the_child_holds_none_of_the_parents_pipes(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    started = tmp_path / "started"

    def target() -> int:  # runs once the child let go of what it inherited
        started.write_text("yes")
        return _until_eof()

    child = fork_child(target, "pipes-test")
    try:
        assert poll(started.exists, bool, 10)
        os.close(write_end)
        os.set_blocking(read_end, False)
        # EOF at once: the child did not keep the write end open (it would block)
        assert os.read(read_end, 1) == b""
    finally:
        os.close(read_end)
        child.kill()
        child.wait(10)


def test_a_child_forked_from_a_thread_may_set_its_signals(tmp_path: Path) -> None:
    """The supervisor's watch thread forks the restarts: in the child that thread is
    the main one, so the target can ignore SIGINT/SIGTERM as at the first start."""
    marker = tmp_path / "ignored"

    def target() -> int:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        marker.write_text("yes")
        return _until_eof()

    got: list[ForkedChild] = []
    thread = threading.Thread(target=lambda: got.append(fork_child(target, "thread-test")))
    thread.start()
    thread.join()
    child = got[0]
    try:
        assert child.stdin is not None
        child.stdin.close()
        assert child.wait(10) == 0
        assert marker.read_text() == "yes"
    finally:
        child.kill()
