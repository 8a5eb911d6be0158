"""Reading a spool series back: begin/end pairing and which segments may go.

Ends are complete events. A begin waits for its end; a segment holding a begin
still open is kept, so a crash never loses the record that the call started.
Progress lines update what an open begin relayed so far (progress.py); they pin
no segment, since every tick writes a fresh one for every stream still open.

A series is read in one of three modes:
- own: this process writes it (the in-process flusher); a segment is sealed once
  the writer moved past it.
- live: another process writes it (the flusher process); a segment is sealed
  once a later segment of the series exists on disk, since the writer creates
  the next one before it stops writing the last. The open last segment is read
  up to its last newline; its tail is a line still being written, never torn.
- dead: its owner died; every segment is sealed, a torn last line is skipped,
  and begins left open once it is read to the end become `interrupted` events,
  with the tokens of their last progress entry.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from pathlib import Path

import orjson

from .._core import SpoolScanner
from .event import (
    BEGIN,
    COLUMNS,
    END,
    Progress,
    Row,
    Values,
    as_row,
    decode,
    interrupted_row,
    values,
)
from .progress import parse_entry
from .spool import SpoolWriter, list_series, segment_path

# Read at once, and the longest line a reader accepts. A reader keeps its last chunk
# and takes the next slice of rows from it: each byte of the spool is read once.
CHUNK = 1 << 20

# A begin line as event.encode writes it starts `{"event_id":"<id>","version":1,`.
# Most begins are followed by their end, so the reader keeps such a line raw and
# decodes it only if its call never ends (a dead series): half the JSON decoding
# of a flush. Any other shape (an id with escapes, an older writer) is decoded.
_BEGIN_HEAD = b'{"event_id":"'
_BEGIN_MARK = b'","version":%d,' % BEGIN


# the runs of plain begins and ends (most of a spool), scanned by the core
_SCANNER = SpoolScanner(list(COLUMNS), BEGIN, END)


def _plain(eid: bytes) -> bool:
    """An id JSON spells as it is: ASCII, no escapes (so the end line's id equals it)."""
    return eid.isascii() and b"\\" not in eid


class SeriesReader:
    _scanner: SpoolScanner | None = _SCANNER  # None: every line read here (the tests' reference)

    def __init__(
        self, directory: Path, token: str, writer: SpoolWriter | None, live: bool = False
    ) -> None:
        self.dir = directory
        self.token = token
        self.writer = writer  # this process's own series; None: another process's
        self.live = live and writer is None  # False with no writer: a dead series
        seqs = list_series(directory).get(token, [])
        self.seq = seqs[0] if seqs else 0
        self.offset = 0
        self._final = False  # self.seq is known sealed: what is left of it is all there is
        self.open: dict[str, tuple[int, Row | bytes]] = {}  # bytes: a begin line not decoded
        self.progress: dict[str, Progress] = {}  # event_id → its last progress entry
        self._open_in: Counter[int] = Counter()
        self.bad_lines = 0
        self.at_end = False  # everything on disk has been read (last call)
        self._buf = b""  # the last chunk read: segment _buf_seq's bytes from offset _buf_at
        self._buf_seq = -1
        self._buf_at = 0
        self._buf_end = 0  # where its last whole line ends

    @property
    def dead(self) -> bool:
        return self.writer is None and not self.live

    def owner_died(self) -> None:
        """Its writer is gone: read on from where we are, now as a dead series."""
        self.live = False

    def _sealed(self, seq: int) -> bool:
        if self.writer is not None:
            return seq < self.writer.seq
        return not self.live or self._next_seq(seq) is not None

    def _next_seq(self, after: int) -> int | None:
        later = [s for s in list_series(self.dir).get(self.token, []) if s > after]
        return later[0] if later else None

    def read(self, limit: int) -> list[Row]:
        """Up to `limit` finished events, in spool order."""
        return [as_row(v) for v in self.read_values(limit)]

    def read_values(self, limit: int) -> list[Values]:
        """`read`, each row as its values in COLUMNS order (what the stores take)."""
        rows: list[Values] = []
        self.at_end = False
        while len(rows) < limit:
            skip = self.offset - self._buf_at
            if self._buf_seq == self.seq and 0 <= skip < self._buf_end:
                # whole lines read last time and not taken yet: the file only grows
                self.offset += self._lines(self._buf, skip, self._buf_end, rows, limit) - skip
                self._drop_taken()
                continue
            try:
                with open(segment_path(self.dir, self.token, self.seq), "rb") as f:
                    f.seek(self.offset)
                    data = f.read(CHUNK)
            except FileNotFoundError:
                data = b""
            end = data.rfind(b"\n") + 1
            if end == 0:
                if not self._final:
                    if not self._sealed(self.seq):
                        self.at_end = True  # the writer may still add to it
                        break
                    # Sealed after that read: read it once more, since what was
                    # written before the seal may have landed in between.
                    self._final = True
                    continue
                if data and len(data) < CHUNK:
                    self.offset += len(data)  # a torn last line of a crashed write
                    self.bad_lines += 1
                    continue
                nxt = self._next_seq(self.seq)
                if nxt is None:
                    self.at_end = True  # a dead series' last segment, read whole
                    break
                self.seq, self.offset, self._final = nxt, 0, False
                continue
            self._buf, self._buf_seq, self._buf_at, self._buf_end = data, self.seq, self.offset, end
            self.offset += self._lines(data, 0, end, rows, limit)
            self._drop_taken()
        return rows

    def _drop_taken(self) -> None:
        """Lets the chunk go once its whole lines are taken (a reader per series
        would otherwise hold up to CHUNK between flushes)."""
        if self.offset - self._buf_at >= self._buf_end:
            self._buf, self._buf_end = b"", 0

    def _lines(self, data: bytes, pos: int, end: int, rows: list[Values], limit: int) -> int:
        """Reads the whole lines of `data[pos:end]` until `limit` rows: where it stopped.

        The core scans runs of plain begins and ends in one call each; a line it
        leaves (a progress line, a legacy end, an escaped id, a torn or foreign
        line) is read here, as is a run whose ends orjson refuses after all."""
        scanner = self._scanner
        if scanner is None:
            return self._slow(data, pos, end, rows, limit)
        while pos < end and len(rows) < limit:
            stop, ends, pops, paired, opens, begins = scanner.scan(data, pos, limit - len(rows))
            if stop > pos:
                if self._take(rows, ends, pops, paired, opens, begins):
                    pos = stop
                else:
                    pos = self._slow(data, pos, stop, rows, limit)
                    continue
            if pos < end and len(rows) < limit:  # a line the scan left to us
                nl = data.index(b"\n", pos)
                self._line(data[pos:nl], rows)
                pos = nl + 1
        return pos

    def _take(
        self,
        rows: list[Values],
        ends: bytes | None,
        pops: list[str],
        paired: list[str],
        opens: list[tuple[str, bytes]],
        begins: int,
    ) -> bool:
        """A scanned run applied as its lines one by one would be; False (nothing
        applied) if its ends do not decode, or a begin ended inside it was open
        already (an id begun twice: the line by line order decides)."""
        open_ = self.open
        if paired and open_ and not open_.keys().isdisjoint(paired):
            return False
        if ends is not None:
            try:
                decoded = orjson.loads(ends)
            except orjson.JSONDecodeError:
                return False
            rows.extend(decoded)
        if pops:
            progress = self.progress
            for eid in pops:
                began = open_.pop(eid, None)
                if began is not None:
                    self._open_in[began[0]] -= 1
                    progress.pop(eid, None)
        seq = self.seq
        for eid, line in opens:
            open_[eid] = (seq, line)
        if begins:
            self._open_in[seq] += begins - len(paired)
        return True

    def _slow(self, data: bytes, pos: int, end: int, rows: list[Values], limit: int) -> int:
        """Line by line from `pos` to `end` (line starts) until `limit` rows: the new `pos`.

        Splits no further than the call can use (a begin and an end per row, and a
        few progress lines): the last piece is never a whole line that is read."""
        lines = data[pos:end].split(b"\n", 2 * (limit - len(rows)) + 16)
        lines.pop()
        for line in lines:
            if len(rows) >= limit:
                break
            pos += len(line) + 1
            self._line(line, rows)
        return pos

    def _line(self, line: bytes, rows: list[Values]) -> None:
        if line.startswith(_BEGIN_HEAD):
            head = len(_BEGIN_HEAD)
            quote = line.find(b'"', head)
            eid = line[head:quote]
            if quote > head and line.startswith(_BEGIN_MARK, quote) and _plain(eid):
                self.open[eid.decode("ascii")] = (self.seq, line)
                self._open_in[self.seq] += 1
                return
        row = decode(line)
        if row is None:
            self.bad_lines += 1
            return
        version = row.get("version")
        if version == BEGIN:
            self.open[row["event_id"]] = (self.seq, row)
            self._open_in[self.seq] += 1
        elif version == END:  # (an event with a "progress" key too is an event)
            began = self.open.pop(row["event_id"], None)
            if began is not None:
                self._open_in[began[0]] -= 1
                self.progress.pop(row["event_id"], None)
            rows.append(values(row))
        else:  # decode passes a progress line only with no event's version
            self._progress(row)

    def _progress(self, line: Row) -> None:
        at_ms = line["at_ms"]
        for raw in line["progress"]:
            e = parse_entry(raw)
            if e is None:
                self.bad_lines += 1
            elif e[0] in self.open:  # else ended already (or a begin never read)
                self.progress[e[0]] = (e[1], e[2], e[3], e[4], at_ms)

    def interrupted(self) -> list[Row]:
        """A dead series read to the end: its open begins, as they were spooled."""
        if not self.dead:
            return []  # a live series' open begins are calls still in flight
        progress = self.progress
        rows: list[Row] = []
        for eid, (_, began) in self.open.items():
            row = decode(began) if isinstance(began, bytes) else began
            if row is None:  # a raw begin line that was torn after all
                self.bad_lines += 1
                continue
            rows.append(interrupted_row(row, progress.get(eid)))
        self.open.clear()
        self.progress.clear()
        self._open_in.clear()
        return rows

    def done_segments(self) -> list[Path]:
        """Sealed, fully read segments with no open begin (call after a successful write).

        The reader only moves past a segment once it is sealed, so every segment
        before the current one is sealed and read whole."""
        seqs = list_series(self.dir).get(self.token, [])
        return [
            segment_path(self.dir, self.token, s)
            for s in seqs
            if s < self.seq and not self._open_in.get(s)
        ]

    def remove_done(self) -> int:
        freed = 0
        for path in self.done_segments():
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
        return freed

    def remove_all(self) -> int:
        """A replayed dead series, written whole: its files and lock go."""
        freed = 0
        for s in list_series(self.dir).get(self.token, []):
            path = segment_path(self.dir, self.token, s)
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.dir / f"{self.token}.lock")
        return freed
