"""A process that dies holding routing units gives them back (routing/ledger.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.proctree import granian_workers
from harness.waiting import wait_for
from provocapi._core import RoutePool, StateTable
from provocapi.routing.ledger import Ledger

from .conftest import FAST_ROUTING, GatewayFactory, SimFactory, model_toml

F = RoutePool.F_IN_FLIGHT
MODEL = "ledger-model"


def die_holding(state: Path, seats: Path, units: int) -> None:
    """A separate process takes `units` on a worker's counter, books them, and is killed."""
    code = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from provocapi._core import StateTable
        from provocapi.routing.ledger import Ledger
        t = StateTable({str(state)!r})
        ledger = Ledger(t, Path({str(seats)!r}))
        slot = t.slot("rt/w/m/http://worker")
        t.add(slot, {F}, {units})
        ledger.add(slot, {F}, {units})
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_the_sweep_gives_back_a_dead_process_units(tmp_path: Path) -> None:
    state, seats = tmp_path / "state.bin", tmp_path / "seats"
    table = StateTable(str(state))
    slot = table.slot("rt/w/m/http://worker")
    mine = Ledger(table, seats)
    table.add(slot, F, 2)  # this process's own units stay counted
    mine.add(slot, F, 2)
    die_holding(state, seats, 3)
    assert table.get(slot, F) == 5
    assert mine.sweep() == 3
    assert table.get(slot, F) == 2
    assert mine.sweep() == 0  # given back once


def test_a_new_process_on_the_seat_gives_them_back(tmp_path: Path) -> None:
    state, seats = tmp_path / "state.bin", tmp_path / "seats"
    table = StateTable(str(state))
    slot = table.slot("rt/w/m/http://worker")
    die_holding(state, seats, 4)
    assert table.get(slot, F) == 4
    successor = Ledger(table, seats)
    successor.add(slot, F, 0)  # its first booking claims the free seat 0
    assert successor.seat == 0
    assert table.get(slot, F) == 0


def test_never_below_zero(tmp_path: Path) -> None:
    state, seats = tmp_path / "state.bin", tmp_path / "seats"
    table = StateTable(str(state))
    slot = table.slot("rt/w/m/http://worker")
    die_holding(state, seats, 3)
    table.set(slot, F, 1)  # e.g. the counter was reset meanwhile
    assert Ledger(table, seats).sweep() == 3
    assert table.get(slot, F) == 0


async def test_a_killed_gateway_process_does_not_keep_its_worker_full(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    sim = await sims("--model", MODEL)
    cfg = FAST_ROUTING + model_toml(MODEL, [f'{{ url = "{sim.url}", max_concurrency = 1 }}'])
    gw = gateway(cfg, workers=1)
    (first,) = granian_workers(gw.pid)
    held = asyncio.ensure_future(gw.chat(MODEL, "hold the only unit [sim:delay_ms=8000]"))

    async def unit_taken() -> bool:
        return await gw.metric("provocapi_worker_in_flight", model=MODEL) == 1

    await wait_for(unit_taken)
    os.kill(first, signal.SIGKILL)  # dies holding the worker's only unit
    held.cancel()

    async def replaced() -> bool:
        pids = granian_workers(gw.pid)
        if not pids or pids == [first]:
            return False
        try:
            return (await gw.client.get("/health")).status_code == 200
        except Exception:
            return False

    await wait_for(replaced, 20.0)
    # Without the ledger the unit would stay taken: this call would wait in the queue
    # for queue_timeout_s (5 s) and fail with 503.
    r = await asyncio.wait_for(gw.chat(MODEL, "after the crash"), 4.0)
    assert r.status_code == 200, r.text
    await wait_for(lambda: _zero(gw))


async def _zero(gw) -> bool:  # type: ignore[no-untyped-def]
    return await gw.metric("provocapi_worker_in_flight", model=MODEL) == 0
