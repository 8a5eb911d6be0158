"""The progress text `provocapi batch --wait` draws, on its own (no server, no terminal)."""

from __future__ import annotations

import io

from provocapi.batch_cli.progress import Rate, Reporter, bar, describe, duration


def test_durations() -> None:
    assert [duration(s) for s in (0, 59.4, 61, 3599, 3600, 7385)] == [
        "0s",
        "59s",
        "1m01s",
        "59m59s",
        "1h00m",
        "2h03m",
    ]


def test_rate_counts_from_the_first_observation() -> None:
    r = Rate()
    assert r.update(100, 10.0) is None  # origin
    assert r.update(100, 11.0) is None  # nothing done yet: no rate, no ETA
    assert r.update(150, 12.0) == 25.0
    assert r.update(50, 13.0) is None  # went back (another batch?): a new origin


def test_describe_and_bar() -> None:
    assert describe("validating", 0, 0, None) == "0/? lines  validating"
    assert describe("in_progress", 250, 1000, 25.0) == (
        "250/1000 lines (25%)  25.0 lines/s  ETA 30s  in_progress"
    )
    assert bar(250, 1000, 8) == "[##......]" and bar(0, 0, 4) == "[....]"


def test_plain_lines_only_on_change() -> None:
    out = io.StringIO()
    rep = Reporter(out, tty=False)
    batch = {"id": "b", "status": "in_progress", "request_counts": {"total": 4, "completed": 1}}
    rep.show(batch, now=0.0)
    rep.show(batch, now=1.0)  # unchanged: nothing printed
    rep.show(batch, now=31.0)  # unchanged, but 30 s passed: printed again
    lines = out.getvalue().splitlines()
    assert lines == ["b: 1/4 lines (25%)  in_progress"] * 2
