"""The usage flusher process's tick, per stored row: what `provocapi-usage` spends.

    taskset -c 1 PYTHONPATH=python .venv/bin/python bench/flusher_tick.py [--calls 1000]
        [--series 2] [--inflight 200] [--ticks 25]

Each tick, every series (a `SpoolWriter`, as a serving worker has one) spools
`--calls` calls, each begin `--inflight` calls ahead of its end, then the flusher
(no writer of its own: it follows the live series, as the flusher process does)
runs one `tick` into SQLite and `report`s the spool's size; a second tick finds
nothing new. Process CPU time (the store's thread included), medians after 5
warm-up ticks: µs per row of a busy tick, and µs of an idle one. Run it with
`PYTHONPATH=<older checkout>/python` for a before (alternate the runs).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from provocapi._core import Metrics, StateTable
from provocapi.usage.event import begin_row, encode, finish_row, new_event_id
from provocapi.usage.flusher import Flusher
from provocapi.usage.spool import SpoolWriter
from provocapi.usage.stores.sqlite import SqliteStore
from provocapi.usage.telemetry import UsageMetrics
from usage.calls import call, finish

WARMUP = 5


async def run(calls: int, series: int, inflight: int, ticks: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="flusher-tick-"))
    spool = root / "spool"
    writers = [SpoolWriter(spool, 1 << 40, 4 << 20) for _ in range(series)]
    metrics = UsageMetrics(Metrics(StateTable(str(root / "state.bin"))))
    store = SqliteStore(root / "usage.db")
    flusher = Flusher(store, None, metrics, 5000, 1.0, directory=spool, max_bytes=1 << 40)
    c = finish(call(stream=True))
    flight: list[collections.deque[dict[str, Any]]] = [collections.deque() for _ in writers]
    busy: list[float] = []
    idle: list[float] = []
    for _ in range(ticks):
        for w, q in zip(writers, flight, strict=True):
            out = []
            for _ in range(calls):
                b = begin_row(c, new_event_id())
                out.append(encode(b))
                q.append(b)
                if len(q) > inflight:
                    out.append(encode(finish_row(c, dict(q.popleft()))))
            w.write(b"".join(out))
            await w.sync_once()
        t = time.process_time()
        await flusher.tick()
        flusher.report()
        busy.append(time.process_time() - t)
        t = time.process_time()
        await flusher.tick()
        flusher.report()
        idle.append(time.process_time() - t)
    await store.close()
    return {
        "us_per_row": round(statistics.median(busy[WARMUP:]) / (series * calls) * 1e6, 2),
        "idle_tick_us": round(statistics.median(idle[WARMUP:]) * 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1000, help="calls per series and tick")
    ap.add_argument("--series", type=int, default=2, help="serving workers' series")
    ap.add_argument("--inflight", type=int, default=0, help="calls begun, not yet ended")
    ap.add_argument("--ticks", type=int, default=25)
    a = ap.parse_args()
    if a.ticks <= WARMUP:
        ap.error(f"--ticks must be above {WARMUP}")
    print(json.dumps(asyncio.run(run(a.calls, a.series, a.inflight, a.ticks))))


if __name__ == "__main__":
    main()
