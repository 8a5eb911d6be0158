"""The request path's side of usage: two spool lines per call, no network.

`begin` runs before admission decides: it refuses the call (503) when its
record cannot be kept, since usage is billing data; its line is in the page cache
before the call goes on. `end` always writes (an in-flight call's end may pass the
bound by a line: it was already accepted), grouped with the next write of the turn
(see spool.py: group commit). In between, once a second, one progress line for
every open stream (progress.py) bounds what a crash of this process loses.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
import weakref
from pathlib import Path

from ..beat import sleep_to_beat
from ..call import Call
from ..config import UsageConfig
from ..error_catalog import USAGE_SPOOL_FULL, USAGE_SPOOL_UNAVAILABLE
from . import progress
from .event import begin_row, encode, finish_row, new_event_id
from .flusher import Flusher
from .spool import SpoolWriter
from .stores import UsageStore
from .telemetry import UsageMetrics

log = logging.getLogger("provocapi.usage")

_recorders: weakref.WeakSet[SpoolRecorder] = weakref.WeakSet()


def _after_fork() -> None:
    for rec in list(_recorders):
        rec._forget()


os.register_at_fork(after_in_child=_after_fork)

DRAIN_TIMEOUT_S = 5.0
# Set by `provocapi serve` for its workers when it runs the flusher process
# (usage/flusher_process.py): the workers then only write the spool.
FLUSHER_ENV = "PROVOCAPI_USAGE_FLUSHER"
EXTERNAL = "external"
RESCAN_S = 1.0  # with an external flusher: how often the spool's size is re-read


class SpoolRecorder:
    def __init__(
        self,
        cfg: UsageConfig,
        spool_dir: Path,
        store: UsageStore,
        metrics: UsageMetrics,
        external: bool = False,
    ) -> None:
        """`external`: another process flushes the spool; this one only writes it."""
        self.cfg = cfg
        self.external = external
        self.dir = spool_dir
        self.store = store
        self.metrics = metrics
        self._writer: SpoolWriter | None = None
        self._flusher: Flusher | None = None
        self._open: dict[str, Call] = {}  # event_id → call, begun and not yet ended
        _recorders.add(self)

    @property
    def writer(self) -> SpoolWriter:
        # opened lazily in the process that serves (a Granian worker); a forked
        # child forgets its parent's (see _after_fork)
        w = self._writer
        if w is None:
            w = SpoolWriter(self.dir, self.cfg.spool_max_bytes, self.cfg.segment_bytes)
            w.on_error = self._end_write_failed
            self._writer = w
            self._flusher = None
        return w

    def _forget(self) -> None:
        self._writer = None
        self._flusher = None
        self._open = {}

    @property
    def flusher(self) -> Flusher:
        w = self.writer
        if self._flusher is None:
            self._flusher = Flusher(
                self.store, w, self.metrics, self.cfg.flush_batch,
                self.cfg.flush_interval_ms / 1000,
            )  # fmt: skip
        return self._flusher

    def begin(self, call: Call) -> None:
        w = self._writer or self.writer  # the property's first line: a call fewer
        if not w.has_room():
            self.metrics.rejected()
            raise USAGE_SPOOL_FULL.build()
        # a batch line names its own (batch id, line): a re-run replaces, never adds
        row = begin_row(call, call.event_id or new_event_id())
        try:
            w.write(encode(row))
        except OSError as exc:
            self.metrics.write_error()
            self.metrics.rejected()
            log.error("usage spool write failed: %s", exc)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # its disk is full: the same wait
                raise USAGE_SPOOL_FULL.build() from None
            raise USAGE_SPOOL_UNAVAILABLE.build() from None
        call.usage_row = row
        self._open[row["event_id"]] = call

    def end(self, call: Call) -> None:
        row = call.usage_row
        if row is None:
            return
        call.usage_row = None
        self._open.pop(row["event_id"], None)
        try:
            (self._writer or self.writer).append(encode(finish_row(call, row)))
        except OSError as exc:  # the begin line stays: the call is still recorded
            self._end_write_failed(exc)

    def _end_write_failed(self, exc: OSError) -> None:
        # the lines stay queued and are written once there is room; were the process
        # to die first, the begin lines still record those calls (as interrupted)
        self.metrics.write_error()
        log.error("usage spool write failed for end lines: %s", exc)

    def write_progress(self) -> int:
        """One line for the open streams that relayed something; its size in bytes."""
        data = progress.line(self._open, int(time.time() * 1000))
        if data is None:
            return 0
        try:
            self.writer.append(data)  # goes out with this turn's other lines
        except OSError as exc:  # their begins stay: those calls are still recorded
            self._end_write_failed(exc)
        return len(data)

    async def progress_loop(self) -> None:
        while True:
            await sleep_to_beat(progress.TICK_S)
            self.write_progress()

    async def run(self) -> None:
        """The background loops of this process: progress, group fsync and the flusher."""
        w = self.writer
        fsync_s = self.cfg.fsync_interval_ms / 1000
        if self.external:  # the spool shrinks behind our back: re-read its size
            await asyncio.gather(self.progress_loop(), w.sync_loop(fsync_s, rescan_s=RESCAN_S))
            return
        await asyncio.gather(self.progress_loop(), w.sync_loop(fsync_s), self.flusher.run())

    async def close(self) -> None:
        if self._writer is None or self._writer.pid != os.getpid():
            return
        await self._writer.sync_once()
        if not self.external:  # else the flusher process drains after every worker stopped
            await self.flusher.drain(DRAIN_TIMEOUT_S)
        self._writer.close()
        await self.store.close()
