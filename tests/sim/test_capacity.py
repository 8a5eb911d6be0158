"""--max-batch N: at most N requests run at once, the rest wait in FIFO order and show on
/metrics as trtllm-serve's numQueuedRequests (what the gateway's health poller reads)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

from provocapi._core import worker_stats
from provocapi.netutil import free_ports
from provocapi.sim import start_sim
from provocapi.sim.cli import configs

from .client import get, post, request_bytes

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def _stats(port: int) -> dict[str, Any]:
    return (await get(port, "/sim/stats")).json()


async def _until(port: int, want: dict[str, int], within: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        stats = await _stats(port)
        if all(stats.get(k) == v for k, v in want.items()):
            return stats
        assert time.monotonic() < deadline, f"never reached {want}: {stats}"
        await asyncio.sleep(0.01)


async def test_two_run_three_queue_all_complete(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--max-batch", "2", "--ttft-ms", "1000")
    calls = [asyncio.create_task(post(s.port, "/v1/chat/completions", CHAT)) for _ in range(5)]
    stats = await _until(s.port, {"running": 2, "queued": 3})
    assert stats["in_flight"] == 2 and stats["max_batch"] == 2

    metrics = (await get(s.port, "/metrics")).json()
    assert metrics, "/metrics empty while requests run and queue"
    last = metrics[-1]
    assert last["numQueuedRequests"] == 3
    assert last["maxBatchSizeRuntime"] == 2 and last["maxNumActiveRequests"] == 2
    # What the gateway's health poller takes from that body: queued 3.
    stats_read = worker_stats((await get(s.port, "/metrics")).body)
    assert stats_read is not None and stats_read[0] == 3

    replies = await asyncio.gather(*calls)
    assert [r.status for r in replies] == [200] * 5
    done = await _stats(s.port)
    assert done["served"] == 5 and done["running"] == 0 and done["queued"] == 0
    assert done["peak_running"] == 2 and done["peak_queued"] == 3


async def test_answers_without_delay_also_queue(fresh_sim) -> None:
    # A streamed answer holds its slot while it streams; a plain one queued behind it waits.
    s = await fresh_sim("--model", "m", "--max-batch", "1", "--token-delay-ms", "40")
    slow = asyncio.create_task(
        post(s.port, "/v1/chat/completions", {**CHAT, "stream": True, "max_tokens": 20})
    )
    await _until(s.port, {"running": 1})
    second = asyncio.create_task(post(s.port, "/v1/completions", {"model": "m", "prompt": "x"}))
    await _until(s.port, {"queued": 1})
    assert not second.done()
    assert (await slow).status == 200 and (await second).status == 200
    done = await _stats(s.port)
    assert done["peak_running"] == 1 and done["served"] == 2


async def test_client_leaving_the_queue_frees_its_place(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--max-batch", "1", "--ttft-ms", "1000")
    first = asyncio.create_task(post(s.port, "/v1/chat/completions", CHAT))
    await _until(s.port, {"running": 1})
    _reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(request_bytes("POST", "/v1/chat/completions", CHAT))
    await _until(s.port, {"queued": 1})
    writer.close()
    await _until(s.port, {"queued": 0, "running": 1})
    assert (await first).status == 200
    done = await _until(s.port, {"running": 0})
    assert done["served"] == 1


async def test_off_by_default_shows_no_capacity_fields(fresh_sim) -> None:
    s = await fresh_sim("--model", "m")
    assert s.worker.capacity is None
    assert "queued" not in await _stats(s.port)


def test_fleet_entries_take_max_batch() -> None:
    fleet = '[{"model": "a", "port": 9101, "max_batch": 4}, {"model": "b", "port": 9102}]'
    a, b = configs(["--fleet", fleet])
    assert a.max_batch == 4 and b.max_batch == 0
    (one,) = configs(["--model", "m", "--port", "9103", "--max-batch", "3"])
    assert one.max_batch == 3


def test_a_fleet_process_applies_max_batch_per_entry() -> None:
    ports = free_ports(2)
    fleet = [{"model": "a", "port": ports[0], "max_batch": 3}, {"model": "b", "port": ports[1]}]
    with start_sim(["--fleet", json.dumps(fleet)]) as sim:
        stats = []
        for url in sim.urls:
            with urllib.request.urlopen(url + "/sim/stats", timeout=5) as r:
                stats.append(json.loads(r.read()))
    assert stats[0]["max_batch"] == 3 and stats[0]["queued"] == 0
    assert "max_batch" not in stats[1]
