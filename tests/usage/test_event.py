"""Spool lines: the UTC day of an event, and lines that must never stop a replay."""

from __future__ import annotations

import time

import pytest
from provocapi.usage.event import begin_row, decode, encode, end_row, utc_day

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
    assert (e["version"], e["outcome"], e["ttft_ms"]) == (2, "completed", 4.0)
    assert b["event_id"] == e["event_id"] and b["day"] == e["day"]


@pytest.mark.parametrize(
    "line", [b"", b"{", b"[]", b'{"event_id": "x"}', b'{"version": 3}', b"\xff\xfe", b"null"]
)
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
