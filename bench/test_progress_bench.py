"""Progress lines: what one tick costs a serving process with 1,000 streams open, and
what reading it back costs the flusher process.

    .venv/bin/python -m pytest bench/test_progress_bench.py --benchmark-enable

- `test_progress_tick_1000_streams`: one tick of the recorder (usage/progress.py) with
  OPEN streams relaying, each through a real StreamRelay: the line built and written
  to the spool (one `write()`), in ms per tick; `extra_info.bytes_per_tick` is what
  the spool grows by each second (the tick is 1 s).
- `test_progress_read_1000_streams`: the flusher's side, one such line decoded and
  applied to OPEN open begins, in ms per line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from provocapi import _core
from provocapi._core import Metrics, StateTable
from provocapi.config import UsageConfig
from provocapi.usage.reader import SeriesReader
from provocapi.usage.recorder import SpoolRecorder
from provocapi.usage.stores.sqlite import SqliteStore
from provocapi.usage.telemetry import UsageMetrics
from usage.calls import call

OPEN = 1_000
TOKENS = 100  # relayed by each stream so far


def _chunk(i: int) -> bytes:
    body = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}  # fmt: skip
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _open_streams(tmp: Path) -> SpoolRecorder:
    metrics = UsageMetrics(Metrics(StateTable(str(tmp / "state.bin"))))
    rec = SpoolRecorder(UsageConfig(), tmp / "spool", SqliteStore(tmp / "u.db"), metrics)
    data = b"".join(_chunk(i) for i in range(TOKENS))
    for _ in range(OPEN):
        c = call(stream=True)
        rec.begin(c)
        relay = _core.StreamRelay(kind="chat", public_model="m", response_id="chatcmpl-1",
                                  created=1, include_usage=False)  # fmt: skip
        relay.feed(data)
        c.prompt_tokens, c.ttft_s, c.worker = 1234, 0.05, "http://10.0.0.7:8000"
        c.relay = relay
    rec.writer.flush()
    return rec


def test_progress_tick_1000_streams(benchmark: Any, tmp_path: Path) -> None:
    rec = _open_streams(tmp_path)
    w = rec.writer
    sizes: list[int] = []

    def tick() -> None:
        sizes.append(rec.write_progress())
        w.flush()  # no running loop: append already wrote it; kept for the real path

    benchmark(tick)
    assert sizes and min(sizes) > OPEN * 30  # every stream has its entry
    benchmark.extra_info["bytes_per_tick"] = sizes[-1]
    benchmark.extra_info["open_streams"] = OPEN
    w.close()


def test_progress_read_1000_streams(benchmark: Any, tmp_path: Path) -> None:
    rec = _open_streams(tmp_path)
    rec.write_progress()
    w = rec.writer
    reader = SeriesReader(w.dir, w.token, w)
    assert reader.read(OPEN * 2) == []  # the begins: all open
    line = (w.dir / f"{w.token}.00000000.spool").read_bytes().splitlines()[-1] + b"\n"
    assert b'"progress"' in line
    begins = len(reader.open)

    def read_one() -> None:
        w.write(line)
        assert reader.read(10) == []

    benchmark(read_one)
    assert len(reader.progress) == begins == OPEN
    w.close()
