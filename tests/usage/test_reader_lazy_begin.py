"""The reader keeps begin lines raw until their call turns out never to end: the
rows it produces must be exactly those of decoding every line."""

from __future__ import annotations

from pathlib import Path

import orjson
from provocapi.usage.event import begin_row, decode, encode, end_row
from provocapi.usage.reader import SeriesReader
from provocapi.usage.spool import SpoolWriter

from .calls import call, finish


def test_begins_kept_raw_become_the_same_interrupted_rows(tmp_path: Path) -> None:
    w = SpoolWriter(tmp_path, 1 << 20, 1 << 20)
    c1, c2 = call(), call(stream=True)
    b1, b2 = begin_row(c1, "ev_ended"), begin_row(c2, "ev_open")
    w.write(encode(b1) + encode(b2) + encode(end_row(finish(c1), b1)))
    w.close()
    r = SeriesReader(tmp_path, w.token, None)  # no writer, not live: a dead series
    rows = r.read(100)
    assert [row["event_id"] for row in rows] == ["ev_ended"]
    assert isinstance(r.open["ev_open"][1], bytes)  # the begin was not decoded yet
    assert r.interrupted() == [decode(encode(b2)[:-1])]
    assert r.open == {} and r.bad_lines == 0


def test_an_id_json_escapes_is_decoded_at_once(tmp_path: Path) -> None:
    """`"` or non-ASCII in an id: the cheap scan cannot read it, the full decode does,
    so the end line's id still finds its begin."""
    w = SpoolWriter(tmp_path, 1 << 20, 1 << 20)
    r = SeriesReader(tmp_path, w.token, w)
    for eid in ('ev_"quoted"', "ev_é"):
        c = call()
        b = begin_row(c, eid)
        w.write(encode(b))
        assert r.read(100) == []
        assert r.open[eid][1] == orjson.loads(encode(b))  # decoded: a row, not bytes
        w.write(encode(end_row(finish(c), b)))
        assert [row["event_id"] for row in r.read(100)] == [eid]
        assert r.open == {}


def test_a_torn_raw_begin_is_a_bad_line_once_its_series_is_dead(tmp_path: Path) -> None:
    w = SpoolWriter(tmp_path, 1 << 20, 1 << 20)
    line = encode(begin_row(call(), "ev_torn"))
    w.write(line[:60] + b"\n")  # the head is intact, the JSON is not
    w.close()
    r = SeriesReader(tmp_path, w.token, None)
    assert r.read(100) == []
    assert r.interrupted() == []
    assert r.bad_lines == 1
