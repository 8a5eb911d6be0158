"""Faults of the worker behind the gateway (rows of the fault matrix, matrix.py): each
case compares what the client saw with what usage stored for that call (by request
id): one stored event per call, its status the client's, its tokens the ones relayed.

A stream the gateway ends with its own error event (the worker died, hung or sent
garbage) is stored with outcome `error` and error_code `stream_failed`: the client's
event carries the precise code (`upstream_disconnected`, `upstream_timeout`,
`upstream_invalid_chunk`)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import pytest

from .ledger import Row
from .upstream_stack import TIMEOUT_S, Seen, UpstreamStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamStack]:
    s = UpstreamStack(tmp_path_factory.mktemp("upstream-faults"))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def up(stack: UpstreamStack) -> UpstreamStack:
    stack.ensure_sim()
    return stack


def rid() -> str:
    return "fault-" + secrets.token_hex(6)


def once(up: UpstreamStack, r: str) -> Row:
    stored = up.recorded(r)
    assert len(stored) == 1, stored  # stored, and only once
    return stored[0]


def failed_stream(seen: Seen, code: str) -> None:
    """A 200 stream that ends with the gateway's error event, never [DONE]."""
    assert seen.status == 200
    assert not seen.done
    assert seen.code == code, seen.events[-2:]


def test_worker_killed_mid_stream(up: UpstreamStack) -> None:
    r = rid()
    # Cut past the fourth chunk, " nectar": one word (a token) of the simulator's, two
    # tokens of llama3's tokenizer, whose count of the relayed text usage stores. (Cut
    # at the third, as before, the two counts agreed unless a busy machine let a
    # fourth chunk through before the kill: a flake.)
    thread, out, fifth = up.stream_in_thread("a long story", r, after=5)
    assert fifth.wait(15)
    up.kill_sim()
    thread.join(30)
    (seen,) = out
    failed_stream(seen, "upstream_disconnected")
    assert seen.tokens >= 5 and seen.text.startswith("mirror thunder ember nectar")
    row = once(up, r)
    assert (row.status, row.outcome, row.error_code) == (200, "error", "stream_failed")
    assert row.completion_tokens == up.tokens(seen.text)  # exactly what the client got


def test_worker_killed_before_the_first_byte(up: UpstreamStack) -> None:
    r = rid()
    out: list[Seen] = []
    t = threading.Thread(target=lambda: out.append(up.chat("[sim:delay_ms=20000] hi", r)))
    t.start()
    time.sleep(1.0)  # the request is at the worker, which has answered nothing
    up.kill_sim()
    t.join(30)
    (seen,) = out
    # the closed connection reads as a failed answer (502: the request was written, so
    # it is not sent again) or, when the gateway has already seen the worker go down,
    # as no worker left (503): either way an envelope, never a 500. A 500 here was a
    # race (test_http1_failures.py): the gateway log tail shows in the report (conftest)
    assert (seen.status, seen.code) in {(502, "upstream_error"), (503, "no_healthy_worker")}
    row = once(up, r)
    assert (row.status, row.outcome, row.error_code) == (seen.status, "error", seen.code)
    assert row.completion_tokens == 0


def test_worker_closing_unanswered_gets_the_request_once(up: UpstreamStack) -> None:
    """The worker reads a request on a kept-alive connection and closes it without a
    byte of answer (`[sim:drop_after=0]`): it may be generating, so the gateway does
    not send the request again (it did: the worker got it twice) but answers 502."""
    r = rid()
    up.chat("warm")  # a kept-alive connection to the worker, for the next call to take
    before = up.sim_stats()
    seen = up.chat("[sim:drop_after=0] hi", r)
    assert (seen.status, seen.code) == (502, "upstream_error")
    after = up.sim_stats()
    assert (after["requests"] - before["requests"], after["dropped"] - before["dropped"]) == (1, 1)
    row = once(up, r)
    assert (row.status, row.outcome, row.error_code) == (502, "error", "upstream_error")
    assert row.completion_tokens == 0


def test_worker_hanging_after_its_headers(up: UpstreamStack) -> None:
    r = rid()  # the worker sends 200 and its SSE headers, then nothing
    t0 = time.monotonic()
    seen = up.stream("[sim:delay_ms=60000] hi", r)
    took = time.monotonic() - t0
    assert TIMEOUT_S <= took < TIMEOUT_S + 10  # cut at the model's request_timeout_s
    failed_stream(seen, "upstream_timeout")
    assert seen.tokens == 0
    row = once(up, r)
    assert (row.status, row.outcome, row.error_code) == (200, "error", "stream_failed")
    assert row.completion_tokens == 0


def test_worker_answering_garbage(up: UpstreamStack) -> None:
    plain, streamed = rid(), rid()
    seen = up.chat("[sim:garbage] hi", plain)
    assert (seen.status, seen.code) == (502, "upstream_error")
    row = once(up, plain)
    assert (row.status, row.outcome, row.error_code) == (502, "error", "upstream_error")
    seen = up.stream("[sim:garbage] hi", streamed)
    failed_stream(seen, "upstream_invalid_chunk")
    row = once(up, streamed)
    assert (row.status, row.outcome, row.error_code) == (200, "error", "stream_failed")
    assert row.completion_tokens == seen.tokens == 0
