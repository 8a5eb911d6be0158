"""Spool lines: the UTC day of an event, and lines that must never stop a replay."""

from __future__ import annotations

import time

import pytest
from provocapi.usage.event import (
    BEGIN,
    END,
    LEGACY_END,
    PROGRESS,
    begin_row,
    decode,
    encode,
    end_row,
    interrupted_row,
    utc_day,
)  # fmt: skip

from .calls import call, finish


@pytest.mark.parametrize("t", [0.0, 86399.999, 86400.0, 1_763_769_599.999, 1_763_769_600.0])
def test_utc_day_at_midnight(t: float) -> None:
    assert utc_day(t) == time.strftime("%Y-%m-%d", time.gmtime(t))


def test_lines_round_trip() -> None:
    c = call("gpt-4o-mini:sql-expert", stream=True)
    b = begin_row(c, "ev_1")
    e = end_row(finish(c, status=200), b)
    assert decode(encode(b)[:-1]) == b
    assert decode(encode(e)[:-1]) == e
    assert (b["model"], b["adapter"], b["model_asked"]) == (
        "llama-3.1-8b-instruct", "sql-expert", "gpt-4o-mini:sql-expert",
    )  # fmt: skip
    assert (e["version"], e["outcome"], e["ttft_ms"]) == (END, "completed", 4.0)
    assert b["event_id"] == e["event_id"] and b["day"] == e["day"]


@pytest.mark.parametrize(
    "line",
    [
        b"", b"{", b"[]", b'{"event_id": "x"}', b'{"version": 3}', b"\xff\xfe", b"null",
        b'{"progress": {}, "at_ms": 1}', b'{"progress": [], "at_ms": "1"}',
    ],
)  # fmt: skip
def test_foreign_or_torn_lines_are_skipped(line: bytes) -> None:
    assert decode(line) is None


def test_outcome_of_errors() -> None:
    c = call(stream=True)
    b = begin_row(c, "ev_2")
    c.error_code = "stream_failed"
    assert end_row(finish(c, status=200), b)["outcome"] == "error"
    c2 = call()
    assert end_row(finish(c2, status=429), begin_row(c2, "ev_3"))["outcome"] == "error"


def test_tokens_count_only_when_an_answer_started() -> None:
    refused = call()
    refused.prompt_tokens = 50  # counted by admission, then 429
    row = end_row(finish(refused, status=429, prompt=50, completion=0), begin_row(refused, "e"))
    assert (row["prompt_tokens"], row["completion_tokens"]) == (0, 0)
    left = call(stream=True)  # the client left after the first token
    row = end_row(finish(left, status=499, prompt=50, completion=3), begin_row(left, "f"))
    assert (row["prompt_tokens"], row["completion_tokens"]) == (50, 3)


def test_an_end_line_of_spool_format_1_reads_as_an_end() -> None:
    c = call(stream=True)
    b = begin_row(c, "ev_3")
    old = dict(end_row(finish(c, status=200), b), version=LEGACY_END)
    got = decode(encode(old)[:-1])
    assert got is not None and got["version"] == END
    assert {k: v for k, v in got.items() if k != "version"} == {
        k: v for k, v in old.items() if k != "version"
    }
    assert decode(encode(b)[:-1]) == b and b["version"] == BEGIN


def test_an_interrupted_row_takes_its_last_progress() -> None:
    b = begin_row(call(stream=True), "ev_4")
    assert interrupted_row(b, None) == b  # nothing relayed: a bare begin, 0 tokens
    got = interrupted_row(b, (31, 17, "http://w:1", 4.5, b["started_ms"] + 2500))
    assert got["version"] == PROGRESS and BEGIN < PROGRESS < END
    assert (got["outcome"], got["status"], got["worker"]) == ("interrupted", 0, "http://w:1")
    assert (got["prompt_tokens"], got["completion_tokens"]) == (31, 17)
    assert (got["ttft_ms"], got["latency_ms"]) == (4.5, 2500.0)
