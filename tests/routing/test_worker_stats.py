"""The poller reads trtllm-serve's /metrics: only the last iteration counts."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from provocapi._core import Metrics, RoutePool, StateTable, worker_stats
from provocapi.routing.health import Health
from provocapi.routing.metrics import RoutingMetrics
from provocapi.routing.pool import Worker

from .conftest import SimFactory


def entry(i: int, queued: object, used: object, total: object = 8192) -> str:
    return (
        f'{{"iter": {i}, "numQueuedRequests": {queued}, "inflightBatchingStats": '
        f'{{"numScheduledRequests": 1}}, "kvCacheStats": {{"usedNumBlocks": {used}, '
        f'"maxNumBlocks": {total}}}}}'
    )


def test_last_entry_of_a_long_list() -> None:
    body = "[" + ",".join(entry(i, i, i * 2) for i in range(1000)) + "]"
    assert worker_stats(body.encode()) == (999, 1998, 8192)


def test_absent_or_ill_typed_figures() -> None:
    assert worker_stats(("[" + entry(0, '"3"', "null") + "]").encode()) == (-1, -1, -1)
    assert worker_stats(("[" + entry(0, 2.5, 7) + "]").encode()) == (-1, 7, 8192)
    assert worker_stats(b'[{"numQueuedRequests": 4}]') == (4, -1, -1)
    for bad in (b"[]", b"{}", b"", b"[1,", b"[{}, 2]", b"null", b"[{}] trailing", b"\xff\xfe"):
        assert worker_stats(bad) is None, bad


async def test_poll_sets_queue_and_kv_from_the_simulator(sims: SimFactory, tmp_path: Path) -> None:
    sim = await sims("--model", "m")
    table = StateTable(str(tmp_path / "state.bin"))
    health = Health(table, RoutingMetrics(Metrics(table)))
    slot = table.slot("rt/load/m/test")
    worker = Worker(sim.url, load_slot=slot)
    body = {"model": "m", "messages": [{"role": "user", "content": "the quick brown fox " * 2000}]}
    async with aiohttp.ClientSession() as session:
        # each finished call leaves an iteration entry with its KV blocks in use
        for _ in range(3):
            async with session.post(sim.url + "/v1/chat/completions", json=body) as r:
                assert r.status == 200
        await health._poll(session, worker)
    assert table.get(slot, RoutePool.F_QUEUED) == 0
    assert 0 < table.get(slot, RoutePool.F_KV_PERMILLE) <= 1000
