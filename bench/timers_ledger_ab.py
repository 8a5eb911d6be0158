"""The per-call pieces branch `tail2` changed, old and new in one process, alternated.

    PYTHONPATH=python taskset -c 1 .venv/bin/python bench/timers_ledger_ab.py [--rounds 15]

A whole request's CPU (profile_app.py) moves by a few µs in 80 and drifts more than that
between runs on a shared machine; here each pair of loops runs back to back, and the
medians of the rounds are compared:

- the upstream deadline and the disconnect guard's moment to watch: a loop timer each
  (call_at + cancel, as before) against an alarms.py entry set and popped;
- the routing ledger: pick, Ledger.add, release, Ledger.add (before, as its code was)
  against a pick and a release that book it themselves (RoutePool.hold).

64 calls in flight, as profile_app's concurrency; µs per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvloop
from provocapi import alarms
from provocapi._core import RoutePool, StateTable
from provocapi.routing.ledger import Ledger

CALLS = 20_000
IN_FLIGHT = 64


class Entry:
    def alarm(self) -> None:  # never due in this measure
        pass


async def timers(old: bool) -> float:
    """Two deadlines per call (upstream, guard), set and stopped with 64 others live."""
    loop = asyncio.get_running_loop()
    entries = [(Entry(), Entry()) for _ in range(IN_FLIGHT)]
    live: list[object] = []
    t = time.process_time()
    for i in range(CALLS):
        a, b = entries[i % IN_FLIGHT]
        if old:
            h1 = loop.call_at(loop.time() + 600, a.alarm)
            h2 = loop.call_later(0.2, b.alarm)
            live.append((h1, h2))
            if len(live) >= IN_FLIGHT:
                x, y = live.pop(0)  # type: ignore[misc]
                x.cancel()
                y.cancel()
        else:
            d1 = alarms.start(loop, a, loop.time() + 600)
            d2 = alarms.start(loop, b, loop.time() + 0.2)
            live.append((a, b, d1, d2))
            if len(live) >= IN_FLIGHT:
                a0, b0, e1, e2 = live.pop(0)  # type: ignore[misc]
                if e1.pop(a0, None) is not None and not e1:
                    alarms.idle(loop, e1)
                if e2.pop(b0, None) is not None and not e2:
                    alarms.idle(loop, e2)
        if i % IN_FLIGHT == 0:
            await asyncio.sleep(0)  # loop turns, as calls have (closed timers are freed)
    spent = time.process_time() - t
    for item in live:  # leave nothing armed
        if old:
            for h in item:  # type: ignore[attr-defined]
                h.cancel()
        else:
            a0, b0, e1, e2 = item  # type: ignore[misc]
            alarms.stop(loop, a0, e1)
            alarms.stop(loop, b0, e2)
    await asyncio.sleep(0)
    return spent / CALLS * 1e6


def ledger_pair(work: Path) -> tuple[RoutePool, RoutePool, Ledger, list[int]]:
    """Two pools over the same two workers: the old one booked from Python, the new
    one by its core (the same ledger slots)."""
    table = StateTable(str(work / "state.bin"))
    slots = [(table.slot(f"w{i}"), table.slot(f"a{i}"), 1, 0) for i in range(2)]
    clock = table.slot("clock")
    old_pool = RoutePool(table, slots, clock)
    new_pool = RoutePool(table, slots, clock)
    ledger = Ledger(table, work / "seats")
    new_pool.hold([ledger.own(s[0], RoutePool.F_IN_FLIGHT) for s in slots])
    return old_pool, new_pool, ledger, [s[0] for s in slots]


def old_add(ledger: Ledger) -> Callable[[int, int, int], None]:
    """Ledger.add as it was before `own` (one Python call, a dict lookup, a core call)."""
    owned, table = ledger.owned, ledger.table

    def add(slot: int, field: int, delta: int) -> None:
        own = owned.get((slot, field))
        assert own is not None  # claimed by ledger_pair
        table.add(own, 0, delta)

    return add


def ledger_calls(pool: RoutePool, ledger: Ledger | None, load_slots: list[int]) -> float:
    f = RoutePool.F_IN_FLIGHT
    add = old_add(ledger) if ledger is not None else None
    t = time.process_time()
    for _ in range(CALLS):
        index = pool.pick(0, 0, 0).index
        assert index is not None
        if add is not None:
            add(load_slots[index], f, 1)
        pool.release(index)
        if add is not None:
            add(load_slots[index], f, -1)
    return (time.process_time() - t) / CALLS * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    rows: dict[str, list[float]] = {k: [] for k in ("timers", "alarms", "ledger", "held")}
    with tempfile.TemporaryDirectory() as tmp:
        old_pool, new_pool, ledger, load_slots = ledger_pair(Path(tmp))
        for _ in range(args.rounds):
            rows["timers"].append(uvloop.run(timers(True)))
            rows["alarms"].append(uvloop.run(timers(False)))
            rows["ledger"].append(ledger_calls(old_pool, ledger, load_slots))
            rows["held"].append(ledger_calls(new_pool, None, load_slots))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{args.rounds} alternated rounds, {CALLS} calls each, medians (µs per call):")
    print(f"  two deadlines: loop timers {med['timers']:.2f}, alarms {med['alarms']:.2f}")
    print(f"  ledger: Ledger.add around pick/release {med['ledger']:.2f}, held {med['held']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
