"""The core's scan of plain lines (`_core.SpoolScanner`) against the reader's
line by line Python path: random spools of begins, ends, progress lines, legacy
ends, escaped ids, torn and foreign lines, read in random slices by both, must
leave the same rows, open begins, progress, bad lines and offsets."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from provocapi.usage.event import COLUMNS, begin_row, encode, end_row, values
from provocapi.usage.reader import SeriesReader
from provocapi.usage.spool import segment_path

from .calls import call, finish

TOKEN = "p1-feedbeef"


def _escaped(eid: str) -> str:
    """The same id, spelled with a JSON escape (the end still ends its begin)."""
    return f"\\u{ord(eid[0]):04x}" + eid[1:]


class Spool:
    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.begun: list[tuple[str, dict[str, Any]]] = []
        self.n = 0
        self.template = call(stream=True)

    def new_id(self) -> str:
        self.n += 1
        r = self.rnd.random()
        if r < 0.03:
            return f'ev_"{self.n}'  # a quote: escaped by orjson
        if r < 0.05:
            return f"ev_é{self.n}"  # non-ASCII
        if r < 0.07:
            return f"ev\x01{self.n}"  # a control character: orjson escapes it
        if r < 0.1 and self.begun:
            return self.rnd.choice(self.begun)[0]  # an id begun twice
        return f"ev_{self.n}"

    def begin(self) -> bytes:
        eid = self.new_id()
        row = begin_row(self.template, eid)
        row["started_ms"] = self.rnd.randrange(10**12, 2 * 10**12)
        self.begun.append((eid, row))
        return encode(row)

    def end(self) -> bytes:
        rnd = self.rnd
        if self.begun and rnd.random() < 0.9:
            eid, b = self.begun.pop(rnd.randrange(len(self.begun)))
        else:
            eid, b = self.new_id(), begin_row(self.template, "x")  # an end never begun
        row = end_row(finish(self.template, completion=rnd.randrange(100)), b)
        row["event_id"] = eid
        row["latency_ms"] = rnd.choice([0.0, 1.5, 1e-7, 123456.789, 3])
        r = rnd.random()
        if r < 0.04:
            row["version"] = 2  # a legacy end
        elif r < 0.07:
            del row["batch_id"]  # a line from before batch_id
        elif r < 0.09:
            row["progress"] = []  # a foreign key
        elif r < 0.11:
            row = {"extra": 1, **row}  # other key order
        line = encode(row)
        r = rnd.random()
        if r < 0.03 and eid.isascii() and "\\" not in eid and '"' not in eid:
            line = line.replace(f'"{eid}"'.encode(), f'"{_escaped(eid)}"'.encode(), 1)
        elif r < 0.05:
            line = line.replace(b'"stream":1', b'"stream":01')  # bad JSON, plain shape
        elif r < 0.07:
            line = line.replace(b'"status":', b'"status": ')  # whitespace
        elif r < 0.09:
            line = line.replace(b'"ttft_ms":', b'"ttft_ms":[', 1).replace(
                b',"latency', b'],"latency'
            )
        elif r < 0.1:
            line = line[:-2] + b',"version":1}\n'  # a duplicate key
        return line

    def progress(self) -> bytes:
        rnd = self.rnd
        entries: list[Any] = []
        for _ in range(rnd.randrange(4)):
            eid = rnd.choice(self.begun)[0] if self.begun and rnd.random() < 0.8 else "nope"
            entries.append([eid, rnd.randrange(50), rnd.randrange(50), "w", 1.5])
        if rnd.random() < 0.2:
            entries.append(["bad"])
        return orjson.dumps({"progress": entries, "at_ms": rnd.randrange(10**12)}) + b"\n"

    def garbage(self) -> bytes:
        rnd = self.rnd
        line = rnd.choice([self.begin(), self.end(), self.progress()])
        return rnd.choice(
            [
                line[: rnd.randrange(1, len(line))] + b"\n",  # torn
                b"\n",
                b"[1,2]\n",
                b"{}\n",
                b'{"event_id":"x","version":3}\n',
                b"\xff\xfe\n",
            ]
        )

    def line(self) -> bytes:
        r = self.rnd.random()
        if r < 0.45:
            return self.begin()
        if r < 0.9:
            return self.end()
        if r < 0.95:
            return self.progress()
        return self.garbage()


def _write(root: Path, rnd: random.Random) -> None:
    spool = Spool(rnd)
    for seq in range(rnd.randrange(1, 4)):
        data = b"".join(spool.line() for _ in range(rnd.randrange(0, 300)))
        if rnd.random() < 0.3:
            data += spool.begin()[: rnd.randrange(1, 80)]  # a torn last line
        segment_path(root, TOKEN, seq).write_bytes(data)


LIMITS = [1, 2, 3, 7, 50, 256, 10_000]


def _same(fast: SeriesReader, slow: SeriesReader, limit: int) -> None:
    slow._buf_end = 0  # the reference reads the file afresh every time
    got, want = fast.read_values(limit), slow.read_values(limit)
    assert [tuple(v) for v in got] == [tuple(v) for v in want]  # what a store binds
    assert all(len(v) == len(COLUMNS) for v in got)
    assert _state(fast) == _state(slow)


def _state(r: SeriesReader) -> tuple[Any, ...]:
    return (
        list(r.open.items()),
        list(r.progress.items()),
        +r._open_in,
        r.bad_lines,
        r.seq,
        r.offset,
        r.at_end,
    )


def _drain_alike(fast: SeriesReader, slow: SeriesReader, rnd: random.Random, reads: int) -> None:
    """Both read to the end in the same random slices, and end in the same state."""
    for _ in range(reads):
        _same(fast, slow, rnd.choice(LIMITS))
        if fast.at_end:
            break
    assert fast.at_end
    assert fast.interrupted() == slow.interrupted()
    assert _state(fast) == _state(slow)


@pytest.mark.parametrize("seed", range(150))
def test_the_scan_reads_as_line_by_line_does(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    _write(tmp_path, rnd)
    fast = SeriesReader(tmp_path, TOKEN, None)
    slow = SeriesReader(tmp_path, TOKEN, None)
    slow._scanner = None
    assert fast._scanner is not None
    _drain_alike(fast, slow, rnd, 200)


def test_a_scanned_row_is_the_end_lines_values(tmp_path: Path) -> None:
    """What the scan hands over is what the stores take: each column, in order."""
    c = call(stream=True)
    b = begin_row(c, "ev_1")
    end = end_row(finish(c), b)
    segment_path(tmp_path, TOKEN, 0).write_bytes(encode(b) + encode(end))
    (got,) = SeriesReader(tmp_path, TOKEN, None).read_values(10)
    assert tuple(got) == tuple(orjson.loads(encode(end)).values()) == values(end)


def test_a_run_whose_ends_do_not_decode_is_read_line_by_line(tmp_path: Path) -> None:
    c = call()
    b1, b2 = begin_row(c, "ev_1"), begin_row(c, "ev_2")
    bad = encode(end_row(finish(c), b1)).replace(b'"stream":0', b'"stream":00')
    good = encode(end_row(finish(c), b2))
    segment_path(tmp_path, TOKEN, 0).write_bytes(encode(b1) + encode(b2) + bad + good)
    r = SeriesReader(tmp_path, TOKEN, None)
    assert [row["event_id"] for row in r.read(10)] == ["ev_2"]
    assert r.bad_lines == 1 and list(r.open) == ["ev_1"]
    assert Counter(r._open_in) == Counter({0: 1})


@pytest.mark.parametrize("seed", range(60))
def test_a_live_series_read_as_it_grows(tmp_path: Path, seed: int) -> None:
    """Appended in random pieces (lines cut anywhere), segments added as it goes, then
    its owner dies: the scanning reader keeps its last chunk between reads; the
    reference reads the file afresh each time."""
    rnd = random.Random(seed)
    spool = Spool(rnd)
    fast = SeriesReader(tmp_path, TOKEN, None, live=True)
    slow = SeriesReader(tmp_path, TOKEN, None, live=True)
    slow._scanner = None
    seq = 0
    pending = b""
    for _ in range(rnd.randrange(5, 40)):
        pending += b"".join(spool.line() for _ in range(rnd.randrange(0, 40)))
        cut = rnd.randrange(len(pending) + 1)
        with segment_path(tmp_path, TOKEN, seq).open("ab") as f:
            f.write(pending[:cut])
        pending = pending[cut:]
        if rnd.random() < 0.2 and (not pending or pending.endswith(b"\n")):
            seq += 1  # the writer moves on once its last line is whole
            segment_path(tmp_path, TOKEN, seq).touch()
        for _ in range(rnd.randrange(1, 4)):
            _same(fast, slow, rnd.choice(LIMITS))
    with segment_path(tmp_path, TOKEN, seq).open("ab") as f:
        f.write(pending)
    fast.owner_died()
    slow.owner_died()
    _drain_alike(fast, slow, rnd, 400)
