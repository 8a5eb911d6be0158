"""The data dir: made and checked before anything opens it, and held by one
`provocapi serve` at a time.

Two serves on one data dir would each rewrite the other's effective config and
shared state table: a process of one that is respawned would then serve the
other's models and keys settings. `serve` holds an exclusive lock on
`DATA_DIR/serve.lock` for its lifetime (forked children inherit it, so it frees
when the last of them is gone); the `keys` commands take no lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = "serve.lock"
# a serve killed just now may still have forked children on their way out
LOCK_WAIT_S = 3.0


class DataDirError(Exception):
    """The data dir cannot be used; the message names it and says why."""


def prepare(data: Path) -> None:
    """Create the data dir if missing; refuse one that is not a writable directory."""
    try:
        data.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataDirError(f"data dir {data} is a file, not a directory") from None
    except OSError as exc:
        raise DataDirError(f"cannot create the data dir {data}: {exc.strerror}") from None
    if not data.is_dir():  # a symlink to a file, ...
        raise DataDirError(f"data dir {data} is not a directory")
    if not os.access(data, os.W_OK | os.X_OK):  # also EROFS on a read-only mount
        raise DataDirError(f"data dir {data} is not writable (a read-only mount, or not ours)")


def hold(data: Path, wait_s: float = LOCK_WAIT_S) -> int:
    """Take the data dir for this serve; returns the lock's fd, kept open until exit."""
    path = data / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DataDirError(f"cannot open {path}: {exc.strerror}") from None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise DataDirError(
                    f"data dir {data} is in use by another provocapi serve (pid {holder}); "
                    "give each serve its own --data-dir"
                ) from None
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
