"""The processes of a running gateway, read from /proc: Granian workers, the usage
flusher, the batch runner, the simulators the launcher started."""

from __future__ import annotations

import os
from pathlib import Path

from provocapi.batch.runner_process import PROCESS_NAME as RUNNER_NAME
from provocapi.usage.flusher_process import PROCESS_NAME as FLUSHER_NAME

SIM = b"provocapi.sim"


def _stat_fields(pid: int) -> list[str]:
    # after the command name, which may itself hold spaces and parentheses
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def state(pid: int) -> str | None:
    """The process's state letter (Z: a zombie), None once it is gone."""
    try:
        return _stat_fields(pid)[0]
    except OSError:
        return None


def running(pids: list[int]) -> list[int]:
    """Those of `pids` still running (gone, or a zombie, is not running)."""
    return [p for p in pids if state(p) not in (None, "Z")]


def processes() -> list[tuple[int, int, str, bytes]]:
    """(pid, parent pid, state, command line) of every process there is."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry))
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # gone meanwhile
        out.append((int(entry), int(fields[1]), fields[0], cmd))
    return out


def children(parent: int, marker: bytes = b"") -> list[int]:
    """Live (not zombie) children of `parent` whose command line holds `marker`."""
    return [
        pid for pid, ppid, st, cmd in processes() if ppid == parent and marker in cmd and st != "Z"
    ]


def descendants(root: int) -> set[int]:
    """`root` and every process under it."""
    parents = {pid: ppid for pid, ppid, _, _ in processes()}
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def comm(pid: int) -> str | None:
    """The process's name (/proc/PID/comm), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().rstrip("\n")
    except OSError:
        return None


def describe(pid: int) -> str:
    """`pid`, its name, and what each of its threads waits in (state letter and the
    kernel's wait channel): what a test that finds it still running should say."""
    threads = []
    try:
        for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
            try:
                name = (task / "comm").read_text().strip()
                wchan = (task / "wchan").read_text().strip() or "-"
                st = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            threads.append(f"{name} {st} {wchan}")
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} {comm(pid)}: " + ", ".join(threads)


def batch_runners(serve_pid: int) -> list[int]:
    """The batch runner process of `provocapi serve`: forked from the launcher (its command
    line is the launcher's), told apart by the name it gives itself."""
    return [pid for pid in children(serve_pid) if comm(pid) == RUNNER_NAME]


def flushers(serve_pid: int) -> list[int]:
    """The usage flusher process of `provocapi serve` (forked and named like the runner)."""
    return [pid for pid in children(serve_pid) if comm(pid) == FLUSHER_NAME]


def granian_workers(serve_pid: int) -> list[int]:
    """The Granian worker processes of `provocapi serve` (forked: their command line is
    the launcher's), not its flusher, batch runner or simulator processes."""
    return [
        pid
        for pid in children(serve_pid, b"serve")
        if not _cmd_has(pid, SIM) and comm(pid) not in (RUNNER_NAME, FLUSHER_NAME)
    ]


def _cmd_has(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
