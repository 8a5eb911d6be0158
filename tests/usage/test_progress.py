"""Progress lines: a process that dies mid-stream leaves its streams' relayed tokens
in the spool, and the flusher stores them on the interrupted rows."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from provocapi import _core
from provocapi._core import Metrics, StateTable
from provocapi.call import Call
from provocapi.config import UsageConfig
from provocapi.usage.event import END, PROGRESS
from provocapi.usage.progress import line
from provocapi.usage.recorder import SpoolRecorder
from provocapi.usage.stores import UsageQuery
from provocapi.usage.stores.sqlite import SqliteStore
from provocapi.usage.telemetry import UsageMetrics

from .calls import call, finish

TODAY = time.strftime("%Y-%m-%d", time.gmtime())
Q = UsageQuery("acme", TODAY, TODAY)


def recorder(tmp: Path, store: SqliteStore) -> SpoolRecorder:
    metrics = UsageMetrics(Metrics(StateTable(str(tmp / "state.bin"))))
    return SpoolRecorder(UsageConfig(), tmp / "spool", store, metrics)


def chunk(delta: dict[str, str]) -> bytes:
    body = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta}]}  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


def streaming(c: Call, prompt: int = 12) -> _core.StreamRelay:
    """`c` admitted (its prompt counted) and relaying through a real StreamRelay."""
    relay = _core.StreamRelay(kind="chat", public_model="m", response_id="chatcmpl-1",
                              created=1, include_usage=False)  # fmt: skip
    c.prompt_tokens = prompt
    c.worker = "http://127.0.0.1:9"
    c.relay = relay
    assert relay.feed(chunk({"role": "assistant"}))
    c.ttft_s = 0.004
    return relay


def tokens(relay: _core.StreamRelay, n: int) -> None:
    for i in range(n):
        assert relay.feed(chunk({"content": f"w{i} "}))


def stored(store: SqliteStore) -> dict[str, tuple[int, str, int, int]]:
    rows = store._db().execute(
        "SELECT request_id, version, outcome, prompt_tokens, completion_tokens FROM usage_events"
    )
    return {r[0]: tuple(r[1:]) for r in rows}


async def test_a_dead_process_keeps_what_its_streams_relayed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    dying = recorder(tmp_path, store)
    relaying, waiting, answered = call(stream=True), call(stream=True), call()
    relaying.request_id, waiting.request_id, answered.request_id = "relaying", "waiting", "done"
    for c in (relaying, waiting, answered):
        dying.begin(c)
    relay = streaming(relaying, prompt=21)
    tokens(relay, 5)
    waiting.prompt_tokens = 9  # admitted, but no token yet: nothing served
    assert dying.write_progress() > 0
    tokens(relay, 3)  # after the last tick: the slice a crash loses
    dying.end(finish(answered))
    dying.writer.close()  # its lock goes as with kill -9; no end for the two streams
    survivor = recorder(tmp_path, store)
    await survivor.flusher.tick()
    assert stored(store) == {
        "relaying": (PROGRESS, "interrupted", 21, 5),
        "waiting": (1, "interrupted", 0, 0),
        "done": (END, "completed", 12, 7),
    }
    (got,) = await store.usage(Q)
    assert (got.requests, got.prompt_tokens, got.completion_tokens) == (3, 33, 12)
    row = (
        store._db()
        .execute(
            "SELECT worker, ttft_ms, latency_ms FROM usage_events WHERE request_id = 'relaying'"
        )
        .fetchone()
    )
    assert row[0] == "http://127.0.0.1:9" and row[1] == 4.0 and row[2] >= 0
    await survivor.close()


async def test_the_last_progress_wins_and_an_end_beats_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    rec = recorder(tmp_path, store)
    cut, ended = call(stream=True), call(stream=True)
    cut.request_id, ended.request_id = "cut", "ended"
    rec.begin(cut)
    rec.begin(ended)
    r1, r2 = streaming(cut), streaming(ended)
    for n in (2, 4, 6):
        tokens(r1, n)
        tokens(r2, 1)
        rec.write_progress()
    rec.end(finish(ended, prompt=30, completion=40))  # its worker's usage wins
    rec.writer.close()
    rec._forget()  # the next writer in this process is a new series, as in a new process
    survivor = recorder(tmp_path, store)
    await survivor.flusher.tick()
    assert stored(store) == {
        "cut": (PROGRESS, "interrupted", 12, 12),
        "ended": (END, "completed", 30, 40),
    }
    await survivor.close()


def test_one_line_a_tick_for_every_stream_that_relayed(tmp_path: Path) -> None:
    calls = {}
    for i in range(50):
        c = call(stream=True)
        if i % 5:
            tokens(streaming(c), i)
        calls[f"ev_{i}"] = c
    data = line(calls, 1_000)
    assert data is not None and data.count(b"\n") == 1
    got = orjson.loads(data)
    assert got["at_ms"] == 1_000
    assert [e[0] for e in got["progress"]] == [f"ev_{i}" for i in range(50) if i % 5]
    assert [e[2] for e in got["progress"]] == [i for i in range(50) if i % 5]
    assert line({"ev_x": call(stream=True)}, 1) is None  # nothing relayed yet


def test_a_worker_that_counts_as_it_goes_is_believed(tmp_path: Path) -> None:
    c = call(stream=True)
    relay = streaming(c)
    body = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "hi"}}],
            "usage": {"prompt_tokens": 44, "completion_tokens": 3, "total_tokens": 47}}  # fmt: skip
    relay.feed(b"data: " + orjson.dumps(body) + b"\n\n")
    data = line({"ev": c}, 1)
    assert data is not None
    assert orjson.loads(data)["progress"] == [["ev", 44, 3, "http://127.0.0.1:9", 4.0]]
