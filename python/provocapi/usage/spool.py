"""The local spool: append-only files, one series per process, fsync grouped.

A process writes `TOKEN.SEQ.spool` segments and holds an exclusive `flock` on
`TOKEN.lock` for its whole life: the kernel drops the lock when the process
dies (kill -9 included), which is how a flusher elsewhere knows a series is
orphaned and may replay it. Writes are plain `os.write` calls (the page cache
keeps them across a process crash); `fsync` runs off the event loop at most
`fsync_interval_ms` apart, never once per event.

Group commit: `write` (a call's begin line, which must reach the page cache before
the call is forwarded) goes out at once, together with every line `append`ed
before it; `append` (end lines) only queues, and the queue is written at the
latest at the start of the next event-loop turn. So a busy process pays about one
`write()` per call instead of two, and a crash loses at most one turn of end lines,
whose begin lines already record those calls (as interrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from ..durable import fsync_dir

log = logging.getLogger("provocapi.usage")

# New calls are refused while the spool's filesystem has less than this free, so the
# end lines of the calls already accepted (a few hundred bytes each) still fit.
DISK_RESERVE_BYTES = 256 * 1024
DISK_CHECK_S = 0.05  # statvfs at most this often (at 1,000 calls/s: 50 begins between)

SEGMENT_SUFFIX = ".spool"
LOCK_SUFFIX = ".lock"


def segment_path(directory: Path, token: str, seq: int) -> Path:
    return directory / f"{token}.{seq:08d}{SEGMENT_SUFFIX}"


def parse_segment(name: str) -> tuple[str, int] | None:
    if not name.endswith(SEGMENT_SUFFIX):
        return None
    token, _, seq = name[: -len(SEGMENT_SUFFIX)].rpartition(".")
    if not token or not seq.isdigit():
        return None
    return token, int(seq)


def list_series(directory: Path) -> dict[str, list[int]]:
    """token → its segment numbers on disk, ascending."""
    out: dict[str, list[int]] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            parsed = parse_segment(entry.name)
            if parsed:
                out.setdefault(parsed[0], []).append(parsed[1])
    for seqs in out.values():
        seqs.sort()
    return out


def try_lock(directory: Path, token: str) -> int | None:
    """An fd holding `token`'s lock, or None while its owner lives (or another adopter)."""
    fd = os.open(directory / f"{token}{LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def disk_free(directory: Path) -> int:
    """Bytes an unprivileged writer may still put on `directory`'s filesystem."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return DISK_RESERVE_BYTES  # unknown: the writes themselves will tell
    return st.f_bavail * st.f_frsize


def spool_bytes(directory: Path, skip_token: str | None = None) -> int:
    return sum(split_bytes(directory, skip_token))


def split_bytes(directory: Path, token: str | None) -> tuple[int, int]:
    """(bytes of `token`'s segments, bytes of every other series'), from one scan."""
    own = others = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            parsed = parse_segment(entry.name)
            if parsed:
                with contextlib.suppress(FileNotFoundError):
                    if parsed[0] == token:
                        own += entry.stat().st_size
                    else:
                        others += entry.stat().st_size
    return own, others


class SpoolWriter:
    """This process's series. Only the event loop thread calls `write`."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.pid = os.getpid()
        self.token = f"p{self.pid}-{secrets.token_hex(4)}"
        lock = try_lock(self.dir, self.token)
        if lock is None:  # a fresh random token: nobody else can hold it
            raise OSError(f"cannot lock the usage spool series {self.token} in {self.dir}")
        self._lock_fd = lock
        self.seq = 0
        self._fd = self._open(0)
        self._seg_size = 0
        self.own_bytes = 0  # bytes of this series' segments still on disk
        self.others_bytes = spool_bytes(self.dir, self.token)  # other series, last scan
        self._dirty = False
        self.closed = False
        self._queued: list[bytes] = []  # appended, not yet written (at most one loop turn)
        self._flush_scheduled = False
        self.on_error: Callable[[OSError], None] | None = None  # a failed deferred write
        self._disk_ok = True
        self._next_disk_check = 0.0
        self._wake: asyncio.Future[None] | None = None  # the idle sync loop, parked

    def _open(self, seq: int) -> int:
        path = segment_path(self.dir, self.token, seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._unnamed = True  # its name is durable at the next sync, with its lines
        return fd

    @property
    def total_bytes(self) -> int:
        return self.own_bytes + self.others_bytes

    def has_room(self) -> bool:
        if self.total_bytes >= self.max_bytes:
            return False
        now = time.monotonic()
        if now >= self._next_disk_check:
            self._next_disk_check = now + DISK_CHECK_S
            self._disk_ok = disk_free(self.dir) >= DISK_RESERVE_BYTES
        return self._disk_ok

    def write(self, data: bytes) -> None:
        """Written now (with whatever `append` queued before it): in the page cache on return."""
        queued = self._queued
        if not queued:
            self._write_now(data)
            return
        pending = b"".join(queued)
        queued.clear()
        try:
            self._write_now(pending + data)
        except OSError:
            queued.append(pending)  # the end lines wait for the next try; the begin fails
            raise

    def append(self, data: bytes) -> None:
        """Written with the next `write`, or at the start of the next loop turn at the latest."""
        self._queued.append(data)
        if not self._flush_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a script, a benchmark): no turn to wait for
                self.flush()
                return
            self._flush_scheduled = True
            loop.call_soon(self._deferred_flush)

    def flush(self) -> None:
        """Writes what `append` queued. OSError: they stay queued, for the next write,
        flush or fsync turn (a full disk: until there is room again)."""
        queued = self._queued
        if queued:
            data = b"".join(queued)
            queued.clear()
            try:
                self._write_now(data)
            except OSError:
                queued.append(data)
                raise

    def _deferred_flush(self) -> None:
        self._flush_scheduled = False
        if self.closed:
            return
        self._try_flush()

    def _try_flush(self) -> None:
        try:
            self.flush()
        except OSError as exc:
            if self.on_error is not None:
                self.on_error(exc)
            else:
                log.error("usage spool write failed: %s", exc)

    def _write_now(self, data: bytes) -> None:
        try:
            n = os.write(self._fd, data)
            if n < len(data):  # rare (a signal, a full disk): finish it
                view = memoryview(data)[n:]
                while view:
                    view = view[os.write(self._fd, view) :]
        except OSError:
            # a full disk may have taken part of it: cut that off, so the segment
            # ends on a whole line and the next write does not glue onto a torn one
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._seg_size)
            raise
        self._seg_size += len(data)
        self.own_bytes += len(data)
        self._dirty = True
        wake = self._wake
        if wake is not None:  # the first write after an idle spell: fsync it in time
            self._wake = None
            with contextlib.suppress(RuntimeError):  # (its loop closed: nobody waits)
                if not wake.done():
                    wake.set_result(None)

    def removed(self, nbytes: int) -> None:
        self.own_bytes -= nbytes

    def rescan(self) -> None:
        self.others_bytes = spool_bytes(self.dir, self.token)

    def rescan_all(self) -> None:
        """Own bytes from disk too: a flusher in another process deletes our segments
        without telling us (no `removed` calls). Exact: writes happen on this
        thread, so none is half-counted (queued lines are not counted until written)."""
        self.own_bytes, self.others_bytes = split_bytes(self.dir, self.token)

    async def sync_once(self) -> None:
        """fsync what was written since the last call; rotate a full segment."""
        self._try_flush()  # (a full disk: what is queued waits for the next turn)
        if self._dirty:
            self._dirty = False
            named = self._unnamed
            await asyncio.to_thread(_sync, self._fd, self.dir if named else None)
            if named:
                self._unnamed = False
        if self._seg_size >= self.segment_bytes:
            old = self._fd
            self.seq += 1
            self._fd = self._open(self.seq)
            self._seg_size = 0
            await asyncio.to_thread(_sync_close, old)

    async def sync_loop(self, interval_s: float, rescan_s: float | None = None) -> None:
        """`rescan_s`: also re-read the spool's size from disk this often (when a
        flusher process, not this one, deletes what was flushed)."""
        loop = asyncio.get_running_loop()
        next_scan = loop.time() + rescan_s if rescan_s is not None else None
        while True:
            if self._idle():
                # Nothing to fsync: sleep until the next write, not `interval_s` at a
                # time (an idle process woke 20 times a second for nothing).
                self._wake = loop.create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
            await asyncio.sleep(interval_s)
            await self.sync_once()
            if next_scan is not None and rescan_s is not None and loop.time() >= next_scan:
                next_scan = loop.time() + rescan_s
                self.rescan_all()

    def _idle(self) -> bool:
        """Nothing written since the last fsync, nothing queued, and under budget (over
        it, the size must be re-read as the flusher frees room: no write would wake us)."""
        return not self._dirty and not self._queued and self.total_bytes < self.max_bytes

    def close(self) -> None:
        if self.closed:
            return
        with contextlib.suppress(OSError):
            self.flush()
        self.closed = True
        with contextlib.suppress(OSError):
            _sync_close(self._fd)
        os.close(self._lock_fd)  # releases the flock: a later flusher may replay the rest


def _sync(fd: int, directory: Path | None) -> None:
    os.fsync(fd)
    if directory is not None:  # a segment created since the last sync: its name too
        fsync_dir(directory)


def _sync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
