"""The batch stores of one process, opened once per gateway.

Two views of the same files: `stores(gw)` for the runner, which calls them
directly from its own low-priority loop, and `handler_stores(gw)` for the
files/batches routes, whose every SQLite call (and fsync) runs on one thread
of its own so a slow disk or a lock held by another process never stalls the
event loop that serves online calls.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from ..error_catalog import STORAGE_QUOTA_EXCEEDED
from ..gateway import Gateway
from .interface import BatchStore, FileStore
from .local import LocalFileStore, SqliteBatchStore, connect
from .records import FileRecord, OverQuota

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(slots=True)
class Stores:
    files: FileStore
    batches: BatchStore


class OffLoopStores:
    """The stores for request handlers: `await st.run(st.files.get, ...)`.

    One thread owns the connection (opened there, lazily), so calls are
    serialised without a lock and the connection never changes threads.
    """

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-store")
        self._stores: Stores | None = None

    def _open(self) -> Stores:
        if self._stores is None:
            root = self._gw.data_dir / "batch"
            conn = connect(root)
            self._stores = Stores(
                LocalFileStore(root, conn, self._gw.cfg.batch.file_expiry_s),
                SqliteBatchStore(conn),
            )
        return self._stores

    @property
    def files(self) -> FileStore:
        """Only to name a method for `run`; call nothing on it from the loop."""
        return self._open_known().files

    @property
    def batches(self) -> BatchStore:
        return self._open_known().batches

    def _open_known(self) -> Stores:
        if self._stores is None:
            raise RuntimeError("batch stores not opened yet: await ready() first")
        return self._stores

    async def ready(self) -> OffLoopStores:
        """Opens (and migrates) the database on the store thread the first time."""
        if self._stores is None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._open)
        return self

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args)` on the store thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def put(
        self, tenant: str, purpose: str, filename: str, chunks: AsyncIterator[bytes], quota: int
    ) -> FileRecord:
        """An upload: its bytes land in a temporary file as they stream in, then
        the fsync, the quota's last check, rename and row happen on the store thread."""
        files = self.files
        part = await files.receive(chunks)
        try:
            return await self.run(files.commit, part, tenant, purpose, filename, quota=quota)
        except OverQuota as over:  # others' uploads were stored while this one streamed
            raise STORAGE_QUOTA_EXCEEDED.build(quota=quota, used=over.used) from None

    async def chunks(self, file_id: str) -> AsyncIterator[bytes]:
        """A stored file's bytes, each read on a thread (a cold disk can be slow)."""
        it = self.files.chunks(file_id)
        try:
            while (chunk := await asyncio.to_thread(next, it, None)) is not None:
                yield chunk
        finally:
            await asyncio.to_thread(it.close)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


_open: weakref.WeakKeyDictionary[Gateway, Stores] = weakref.WeakKeyDictionary()
_handlers: weakref.WeakKeyDictionary[Gateway, OffLoopStores] = weakref.WeakKeyDictionary()


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


async def handler_stores(gw: Gateway) -> OffLoopStores:
    found = _handlers.get(gw)
    if found is None:
        found = _handlers[gw] = OffLoopStores(gw)
    return await found.ready()
