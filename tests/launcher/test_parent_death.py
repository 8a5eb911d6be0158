"""`die_with_parent` in a child whose parent is already gone, and the once-only signal
handler of a Granian worker (the process-level cases: test_orphans, test_repeated_signals)."""

from __future__ import annotations

import os
import signal
import subprocess

from harness.procs import PY
from provocapi.worker_signals import once


def _child(parent: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import signal; from provocapi.parent_death import die_with_parent; "
        f"die_with_parent(signal.SIGTERM, {parent}); print('alive')"
    )
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_child_whose_parent_died_before_the_call_gets_the_signal_at_once() -> None:
    # serve killed while its worker still imported: the worker's parent is another by then
    gone = _child("1 << 22")  # above pid_max's default: no process has this pid
    assert gone.returncode == -signal.SIGTERM, (gone.returncode, gone.stdout, gone.stderr)


def test_a_child_whose_parent_lives_goes_on() -> None:
    alive = _child(str(os.getpid()))
    assert alive.returncode == 0 and alive.stdout.strip() == "alive", alive.stderr


def test_once_passes_the_first_signal_and_drops_the_rest() -> None:
    calls: list[int] = []
    handler = once(lambda: calls.append(1))
    for _ in range(3):
        handler(signal.SIGTERM, None)
    assert calls == [1]
