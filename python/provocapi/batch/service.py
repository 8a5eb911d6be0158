"""The batch stores of one process, opened once per gateway."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from ..gateway import Gateway
from .interface import BatchStore, FileStore
from .local import LocalFileStore, SqliteBatchStore, connect


@dataclass(slots=True)
class Stores:
    files: FileStore
    batches: BatchStore


_open: weakref.WeakKeyDictionary[Gateway, Stores] = weakref.WeakKeyDictionary()


def stores(gw: Gateway) -> Stores:
    found = _open.get(gw)
    if found is None:
        root = gw.data_dir / "batch"
        conn = connect(root)
        found = Stores(
            LocalFileStore(root, conn, gw.cfg.batch.file_expiry_s), SqliteBatchStore(conn)
        )
        _open[gw] = found
    return found
