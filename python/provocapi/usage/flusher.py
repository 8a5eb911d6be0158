"""The flusher: spool → store in batches, retried until it works.

It runs in one of two places. Inline (the app built alone, or `flusher =
"inline"`), each serving process drains its own series. As the flusher process
(`provocapi serve`'s default, usage/flusher_process.py), there is no own series:
it follows the live series of every serving process. Either way it adopts the
series of dead processes (a previous run cut by kill -9, or a worker that
died), whose open begins become `interrupted` events. A batch that fails stays
in memory and is tried again; nothing is read past it, so memory stays bounded
by `flush_batch`. Segments are deleted only after the store accepted their
events; a crash in between replays them, and the store collapses the
duplicates by event_id.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from .event import Values, values
from .reader import SeriesReader
from .spool import SpoolWriter, list_series, spool_bytes, try_lock
from .stores import StoreError, UsageStore
from .telemetry import UsageMetrics

log = logging.getLogger("provocapi.usage")

MAX_BACKOFF_S = 30.0
READ_SLICE = 256  # spool events decoded between two yields to the event loop


class Flusher:
    def __init__(
        self,
        store: UsageStore,
        writer: SpoolWriter | None,
        metrics: UsageMetrics,
        batch: int,
        interval_s: float,
        directory: Path | None = None,
        max_bytes: int = 0,
    ) -> None:
        """`writer`: this process's series (inline). None: the flusher process,
        which follows every live series of `directory` (bounded by `max_bytes`)."""
        self.store = store
        self.writer = writer
        self.metrics = metrics
        self.batch_size = batch
        self.interval_s = interval_s
        self.dir: Path = writer.dir if writer is not None else directory  # type: ignore[assignment]
        self.max_bytes = writer.max_bytes if writer is not None else max_bytes
        self.own = SeriesReader(self.dir, writer.token, writer) if writer is not None else None
        self.live: dict[str, SeriesReader] = {}  # token → reader (flusher process only)
        self.adopted: dict[str, tuple[SeriesReader, int]] = {}  # token → reader, lock fd
        self._pending: list[Values] = []  # read, not yet accepted by the store
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
        if self.writer is not None:
            self.writer.rescan()
            used = self.writer.total_bytes
        else:
            used = spool_bytes(self.dir)
        lag = 0.0 if self.caught_up() else time.time() - self.caught_up_at
        self.metrics.spool(used, self.max_bytes, lag)

    def caught_up(self) -> bool:
        own_done = self.own is None or self.own.at_end
        live_done = all(r.at_end for r in self.live.values())
        return not self._pending and own_done and live_done and not self.adopted

    def discover(self) -> None:
        """New series on disk, and live ones whose owner died since the last look."""
        own = self.writer.token if self.writer is not None else None
        for token in list_series(self.dir):
            if token == own or token in self.adopted or token in self.live:
                continue
            fd = try_lock(self.dir, token)
            if fd is not None:
                log.info("usage: replaying spool series %s", token)
                self.adopted[token] = (SeriesReader(self.dir, token, None), fd)
            elif self.writer is None:  # its process lives: follow it as it writes
                self.live[token] = SeriesReader(self.dir, token, None, live=True)
            # inline: a live series is its owner's to drain
        for token, reader in list(self.live.items()):
            fd = try_lock(self.dir, token)
            if fd is None:
                continue
            # Same reader, same offset and open begins: each open begin becomes
            # `interrupted` once, when this series is read to its end.
            log.info("usage: spool series %s lost its process; finishing it", token)
            reader.owner_died()
            del self.live[token]
            self.adopted[token] = (reader, fd)

    async def _fill(self) -> None:
        if self._pending:
            return
        # Read in slices, giving the loop back between them: decoding a second's
        # worth of spool in one go stalls every request in flight (it showed in
        # the p99 as a stall once per flush interval).
        if self.own is not None:
            await self._fill_from(self.own)
        for reader in self.live.values():
            await self._fill_from(reader)
        for _token, (reader, _fd) in self.adopted.items():
            room = self.batch_size - len(self._pending)
            if room <= 0:
                break
            got = reader.read_values(room)
            if reader.at_end:
                got.extend(map(values, reader.interrupted()))
            self._pending.extend(got)
            self._pending_from.add(reader.token)

    async def _fill_from(self, reader: SeriesReader) -> None:
        while len(self._pending) < self.batch_size:
            room = min(READ_SLICE, self.batch_size - len(self._pending))
            rows = reader.read_values(room)
            if rows:
                self._pending_from.add(reader.token)
                self._pending.extend(rows)
            if len(rows) < room:
                break
            await asyncio.sleep(0)

    async def tick(self) -> None:
        """Flush until caught up (or the store fails: StoreError, batch kept)."""
        if not self._ready:
            await self.store.setup()
            self._ready = True
        self.discover()
        if self.writer is not None:
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
        if self.own is not None and self.writer is not None:
            if self.writer.token in touched or self.own.at_end:
                self.writer.removed(self.own.remove_done())
        for token, reader in self.live.items():
            if token in touched or reader.at_end:
                reader.remove_done()
        for token in list(self.adopted):
            reader, fd = self.adopted[token]
            if reader.at_end and not reader.open:
                reader.remove_all()
                os.close(fd)
                del self.adopted[token]
            elif token in touched:
                reader.remove_done()

    def release(self) -> None:
        """Unlocks the dead series still being replayed (a later flusher finishes them)."""
        for _reader, fd in self.adopted.values():
            os.close(fd)
        self.adopted.clear()

    async def drain(self, timeout_s: float) -> None:
        """At shutdown: one last bounded attempt; what is left is replayed later."""
        try:
            await asyncio.wait_for(self.tick(), timeout_s)
        except (StoreError, TimeoutError) as exc:
            log.warning("usage: left unflushed in the spool until the next start: %s", exc)
