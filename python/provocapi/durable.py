"""A file's name made to survive a power cut, not only its bytes.

`os.fsync` of a file makes its contents durable; the directory entry a rename or a
create wrote lives in the page cache until the directory itself is synced (ext4
in its default mode usually commits it with the next journal transaction, but
nothing promises when). A store that acknowledges a file (a batch upload, a batch's
output, an adapter) syncs the file and then its directory, before the row that
names it commits: after a power cut the row never points at a name that is gone.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Makes the entries of directory `path` (renames, creates, removes) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Every file under `root`, then every directory from the leaves up: the whole
    tree is on disk once this returns. Blocking (a large tree takes a while): call
    it off the event loop."""
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))
