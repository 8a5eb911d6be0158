"""The data dir: made and checked before anything opens it; what one serve owns in it.

Several serves may share a data dir (replicas on one host share its keys, usage and
batch stores). What belongs to one serve alone (its effective config, which a
respawned process starts from, and its shared state table) lives in a run dir of
its own, `DATA_DIR/run/HOST-PORT/`. That dir is held by an exclusive lock for the
serve's lifetime (forked children inherit it, so it frees when the last of them is
gone): a second serve on the same address and data dir is refused, instead of each
rewriting the other's files.
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


def run_dir(data: Path, host: str, port: int) -> Path:
    """This serve's own folder in the data dir (made if missing)."""
    safe_host = "".join(c if c.isalnum() or c in ".-_" else "_" for c in host)
    own = data / "run" / f"{safe_host}-{port}"
    try:
        own.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create {own}: {exc.strerror}") from None
    return own


def hold(own: Path, wait_s: float = LOCK_WAIT_S) -> int:
    """Take this serve's run dir; returns the lock's fd, kept open until exit."""
    path = own / LOCK_FILE
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
                    f"{own} is in use by another provocapi serve (pid {holder}) on the same "
                    "address and data dir"
                ) from None
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
