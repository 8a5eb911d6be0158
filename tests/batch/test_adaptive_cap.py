"""The adaptive batch cap (batch/priority.py): batch lines use only what the recent
online load leaves idle, below `batch_max_share`, with `batch_headroom` kept free,
and the routers count batch lines' units apart from online calls'."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from provocapi._core import RoutePool, StateTable
from provocapi.batch.priority import OnlineLoad, PoolLoad, adaptive_cap, pool_load
from provocapi.call import Call
from provocapi.config import ConfigError, parse
from provocapi.gateway import Gateway
from provocapi.routing.metrics import RoutingMetrics
from provocapi.routing.pool import Worker
from provocapi.routing.router import Router
from provocapi.telemetry import Telemetry

MODEL = "m"


def _config(max_concurrency: int = 10, extra: str = "") -> str:
    return f"""\
[batch]
{extra}

[[models]]
id = "{MODEL}"
kind = "chat"
family = "llama3"
workers = [{{ url = "http://127.0.0.1:9", max_concurrency = {max_concurrency} }}]
"""


def test_an_idle_pool_gives_the_batch_its_max_share() -> None:
    assert adaptive_cap(32, 0.5, 0.3, 0) == 16
    assert adaptive_cap(8, 0.5, 0.3, 0) == 4


def test_online_load_and_headroom_shrink_the_cap() -> None:
    # 32 x 0.7 = 22 units for online + batch: 10 online in flight leave 12
    assert adaptive_cap(32, 0.5, 0.3, 10) == 12
    assert adaptive_cap(32, 0.5, 0.3, 16) == 6
    assert adaptive_cap(32, 0.5, 0.0, 16) == 16  # no headroom: all that online leaves
    assert adaptive_cap(8, 0.5, 0.3, 3) == 2


def test_a_batch_always_keeps_one_line() -> None:
    assert adaptive_cap(32, 0.5, 0.3, 22) == 1
    assert adaptive_cap(8, 0.5, 0.3, 8) == 1
    assert adaptive_cap(1, 0.5, 0.3, 0) == 1


def test_the_load_is_now_or_the_recent_average_whichever_is_higher() -> None:
    load = OnlineLoad(smooth_s=1.0)
    assert load.observe(MODEL, 4, now=0.0) == 4
    assert load.observe(MODEL, 40, now=0.1) == 40  # a burst counts at once
    after = load.observe(MODEL, 4, now=0.2)  # it ended: the average still remembers it
    assert 4 < after < 40
    later = load.observe(MODEL, 4, now=1.2)
    assert 4 < later < after  # and forgets it
    assert load.observe(MODEL, 4, now=10.0) == 4  # after many time constants
    assert load.observe("other", 2, now=10.0) == 2  # per model


def test_a_steady_load_reads_as_itself() -> None:
    load = OnlineLoad(smooth_s=1.0)
    for i in range(1000):
        assert load.observe(MODEL, 6, now=i * 0.01) == 6


def test_config_refuses_headroom_and_share_out_of_range() -> None:
    assert parse(_config(extra="batch_headroom = 0.3")).batch.batch_headroom == 0.3
    assert parse(_config()).batch.batch_headroom == 0.3  # the default
    for bad in ("batch_headroom = 1.0", "batch_headroom = -0.1", "batch_max_share = 0.0"):
        with pytest.raises(ConfigError, match="batch"):
            parse(_config(extra=bad))


def _router(tmp_path: Path, text: str) -> tuple[Router, StateTable]:
    table = StateTable(str(tmp_path / "state.bin"))
    router = Router(parse(text), table, RoutingMetrics(Telemetry(table).metrics))
    return router, table


def _call(batch_id: str) -> Call:
    res = SimpleNamespace(adapter=None, model=SimpleNamespace(id=MODEL))
    call = SimpleNamespace(
        res=res, model_id=MODEL, request=None, batch_id=batch_id, worker=None, queue_ms=0.0
    )
    call.ttft_s, call.elapsed_s = 0.01, lambda: 0.01
    return cast(Call, call)


def test_the_router_counts_batch_units_apart(tmp_path: Path) -> None:
    router, table = _router(tmp_path, _config())
    pool = router.pools[MODEL]
    seen: list[tuple[int, int]] = []

    async def attempt(w: Worker) -> None:
        seen.append((table.get(w.load_slot, RoutePool.F_IN_FLIGHT), table.get(pool.batch_slot, 0)))

    async def both() -> None:
        await router.dispatch(_call(""), attempt)
        await router.dispatch(_call("batch_1"), attempt)

    asyncio.run(both())
    assert seen == [(1, 0), (1, 1)]  # online: a unit, no batch unit; a line: both
    assert table.get(pool.batch_slot, 0) == 0  # given back when the line ended


def test_pool_load_splits_online_from_batch(tmp_path: Path) -> None:
    router, table = _router(tmp_path, _config(max_concurrency=10))
    pool = router.pools[MODEL]
    gw = cast(
        Gateway,
        SimpleNamespace(
            catalog=SimpleNamespace(by_name={MODEL: SimpleNamespace(id=MODEL)}),
            router=router,
            state=table,
        ),
    )
    table.add(pool.workers[0].load_slot, RoutePool.F_IN_FLIGHT, 7)
    table.add(pool.batch_slot, 0, 3)
    assert pool_load(gw, MODEL) == PoolLoad(capacity=10, in_flight=7, batch=3)
    assert PoolLoad(10, 7, 3).online == 4
    assert pool_load(gw, "unknown") is None
