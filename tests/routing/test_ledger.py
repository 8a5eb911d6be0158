"""A process that dies holding routing units gives them back (routing/ledger.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from harness.proctree import granian_workers
from harness.waiting import wait_for
from provocapi._core import RoutePool, StateTable
from provocapi.call import Call
from provocapi.config import parse
from provocapi.routing.ledger import PREFIX, Ledger
from provocapi.routing.metrics import RoutingMetrics
from provocapi.routing.pool import Worker
from provocapi.routing.router import Router
from provocapi.telemetry import Telemetry

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


def _held(table: StateTable, seat: int, worker: Worker) -> int:
    return dict((key, table.get(own, 0)) for key, own in table.entries(f"{PREFIX}{seat}/")).get(
        f"{PREFIX}{seat}/{worker.load_slot}/{F}", 0
    )


def test_a_routed_call_books_its_unit_in_the_ledger(tmp_path: Path) -> None:
    """The pool's core books the unit with the pick and the release (RoutePool.hold):
    held while the attempt runs, given back after it, under this process's seat."""
    table = StateTable(str(tmp_path / "state.bin"))
    text = f"""\
[[models]]
id = "{MODEL}"
kind = "chat"
family = "llama3"
workers = [{{ url = "http://127.0.0.1:9", max_concurrency = 4 }}]
"""
    router = Router(parse(text), table, RoutingMetrics(Telemetry(table).metrics))
    res = SimpleNamespace(adapter=None, model=SimpleNamespace(id=MODEL))
    call = SimpleNamespace(res=res, model_id=MODEL, request=None, batch_id="", worker=None)
    call.queue_ms, call.ttft_s = 0.0, 0.01
    seen: list[tuple[int, int]] = []

    async def attempt(w: Worker) -> None:
        seen.append((table.get(w.load_slot, F), _held(table, router.ledger.seat, w)))

    async def twice() -> None:
        await router.dispatch(cast(Call, call), attempt)
        await router.dispatch(cast(Call, call), attempt)

    asyncio.run(twice())
    (worker,) = router.pools[MODEL].workers
    assert seen == [(1, 1), (1, 1)]
    assert table.get(worker.load_slot, F) == 0
    assert _held(table, router.ledger.seat, worker) == 0
    # a forked child books under a seat of its own, never its parent's
    parent_seat = router.ledger.seat
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 1
        try:
            seen.clear()
            asyncio.run(twice())
            ok = seen == [(1, 1), (1, 1)] and router.ledger.seat not in (-1, parent_seat)
            code = 0 if ok else 2
        finally:
            os.write(w, bytes([code]))
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(r, 1) == b"\x00"


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
