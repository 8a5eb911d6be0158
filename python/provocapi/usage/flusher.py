"""The background flusher: spool → store in batches, retried until it works.

It drains this process's series and adopts the series of dead processes (a
previous run cut by kill -9, or a sibling worker that died), whose open begins
become `interrupted` events. A batch that fails stays in memory and is tried
again; nothing is read past it, so memory stays bounded by `flush_batch`.
Segments are deleted only after the store accepted their events; a crash in
between replays them, and the store collapses the duplicates by event_id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from .event import Row
from .reader import SeriesReader
from .spool import SpoolWriter, list_series, try_lock
from .stores import StoreError, UsageStore
from .telemetry import UsageMetrics

log = logging.getLogger("provocapi.usage")

MAX_BACKOFF_S = 30.0
READ_SLICE = 256  # spool events decoded between two yields to the event loop


class Flusher:
    def __init__(
        self,
        store: UsageStore,
        writer: SpoolWriter,
        metrics: UsageMetrics,
        batch: int,
        interval_s: float,
    ) -> None:
        self.store = store
        self.writer = writer
        self.metrics = metrics
        self.batch_size = batch
        self.interval_s = interval_s
        self.dir: Path = writer.dir
        self.own = SeriesReader(self.dir, writer.token, writer)
        self.adopted: dict[str, tuple[SeriesReader, int]] = {}  # token → reader, lock fd
        self._pending: list[Row] = []  # read, not yet accepted by the store
        self._pending_from: set[str] = set()
        self._ready = False
        self.caught_up_at = time.time()
        self.failures = 0

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
                self.failures = 0
                delay = self.interval_s
            except StoreError as exc:
                self.failures += 1
                self.metrics.store_error()
                delay = min(MAX_BACKOFF_S, self.interval_s * 2 ** min(self.failures, 6))
                log.warning("usage store: %s (retrying in %.1f s)", exc, delay)
            except Exception:
                self.failures += 1
                delay = min(MAX_BACKOFF_S, self.interval_s * 2 ** min(self.failures, 6))
                log.exception("usage flusher failed (retrying in %.1f s)", delay)
            self.report()
            await asyncio.sleep(delay)

    def report(self) -> None:
        self.writer.rescan()
        lag = 0.0 if self.caught_up() else time.time() - self.caught_up_at
        self.metrics.spool(self.writer.total_bytes, self.writer.max_bytes, lag)

    def caught_up(self) -> bool:
        return not self._pending and self.own.at_end and not self.adopted

    def adopt_dead(self) -> None:
        for token in list_series(self.dir):
            if token == self.writer.token or token in self.adopted:
                continue
            fd = try_lock(self.dir, token)
            if fd is None:
                continue  # its process lives, or another flusher replays it
            log.info("usage: replaying spool series %s", token)
            self.adopted[token] = (SeriesReader(self.dir, token, None), fd)

    async def _fill(self) -> None:
        if self._pending:
            return
        # Read in slices, giving the loop back between them: decoding a second's
        # worth of spool in one go stalls every request in flight (it showed in
        # the p99 as a stall once per flush interval).
        while len(self._pending) < self.batch_size:
            room = min(READ_SLICE, self.batch_size - len(self._pending))
            rows = self.own.read(room)
            if rows:
                self._pending_from.add(self.writer.token)
                self._pending.extend(rows)
            if len(rows) < room:
                break
            await asyncio.sleep(0)
        for token, (reader, _fd) in self.adopted.items():
            room = self.batch_size - len(self._pending)
            if room <= 0:
                break
            got = reader.read(room)
            if reader.at_end:
                got.extend(reader.interrupted())
            self._pending.extend(got)
            self._pending_from.add(token)

    async def tick(self) -> None:
        """Flush until caught up (or the store fails: StoreError, batch kept)."""
        if not self._ready:
            await self.store.setup()
            self._ready = True
        self.adopt_dead()
        try:
            self.writer.flush()  # this turn's queued end lines first
        except OSError as exc:
            log.error("usage spool write failed for end lines: %s", exc)
            self.metrics.write_error()
        while True:
            await self._fill()
            if self._pending:
                await self.store.write(self._pending)
                self.metrics.flushed(len(self._pending))
            full = len(self._pending) >= self.batch_size
            self._pending = []
            self._commit()
            if not full:
                break
        if self.caught_up():
            self.caught_up_at = time.time()

    def _commit(self) -> None:
        """The store has everything read so far: delete what no longer matters."""
        touched, self._pending_from = self._pending_from, set()
        if self.writer.token in touched or self.own.at_end:
            self.writer.removed(self.own.remove_done())
        for token in list(self.adopted):
            reader, fd = self.adopted[token]
            if reader.at_end and not reader.open:
                reader.remove_all()
                os.close(fd)
                del self.adopted[token]
            elif token in touched:
                reader.remove_done()

    async def drain(self, timeout_s: float) -> None:
        """At shutdown: one last bounded attempt; what is left is replayed later."""
        try:
            await asyncio.wait_for(self.tick(), timeout_s)
        except (StoreError, TimeoutError) as exc:
            log.warning("usage: left unflushed in the spool until the next start: %s", exc)
