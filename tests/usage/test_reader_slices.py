"""The reader splits a chunk only as far as one call can use: read in small slices,
a long series still yields every row exactly once, in order, with nothing torn,
whether its calls end at once, end later, or never."""

from __future__ import annotations

import random
from pathlib import Path

from provocapi.usage.event import begin_row, encode, end_row
from provocapi.usage.reader import SeriesReader
from provocapi.usage.spool import SpoolWriter

from .calls import call, finish


def test_small_slices_of_a_long_series_lose_and_repeat_nothing(tmp_path: Path) -> None:
    rng = random.Random(7)
    w = SpoolWriter(tmp_path, 1 << 30, 1 << 30)
    open_calls: list[tuple[str, object, dict]] = []
    ended: list[str] = []
    never: set[str] = set()
    for i in range(3_000):
        c = call(stream=rng.random() < 0.3)
        eid = f"ev_{i}"
        b = begin_row(c, eid)
        w.write(encode(b))
        if rng.random() < 0.02:
            never.add(eid)  # its process "dies" before the end
            continue
        open_calls.append((eid, c, b))
        # end a random earlier call (interleaved begins and ends, as under load)
        while open_calls and rng.random() < 0.6:
            eid2, c2, b2 = open_calls.pop(rng.randrange(len(open_calls)))
            w.write(encode(end_row(finish(c2), b2)))  # type: ignore[arg-type]
            ended.append(eid2)
    for eid2, c2, b2 in open_calls:
        w.write(encode(end_row(finish(c2), b2)))  # type: ignore[arg-type]
        ended.append(eid2)
    w.close()

    r = SeriesReader(tmp_path, w.token, None)  # a dead series: read to its end
    got: list[str] = []
    while True:
        rows = r.read(rng.choice([1, 3, 17, 256]))
        got.extend(row["event_id"] for row in rows)
        if r.at_end and not rows:
            break
    assert got == ended  # spool order, each once
    assert r.bad_lines == 0
    assert {row["event_id"] for row in r.interrupted()} == never


def test_a_line_longer_than_a_small_read_is_read_whole(tmp_path: Path) -> None:
    """A slice reads about what its rows need; a longer line (here a 200 KB event id)
    is still read whole, not taken for a torn one."""
    w = SpoolWriter(tmp_path, 1 << 30, 1 << 30)
    eid = "ev_" + "x" * 200_000
    c = call()
    b = begin_row(c, eid)
    w.write(encode(b))
    w.write(encode(end_row(finish(c), b)))
    c2 = call()
    b2 = begin_row(c2, "ev_after")
    w.write(encode(b2) + encode(end_row(finish(c2), b2)))
    w.close()
    r = SeriesReader(tmp_path, w.token, None)
    got = [row["event_id"] for _ in range(4) for row in r.read(1)]
    assert got == [eid, "ev_after"]
    assert r.bad_lines == 0
