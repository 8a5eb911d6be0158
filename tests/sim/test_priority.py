"""trtllm-serve's `priority` request field: refused as unknown by a worker older than
it, accepted (0..1) and scheduled by with `--priority` (waiting_queue_policy=priority)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .client import get, post

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def _until(port: int, key: str, value: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (await get(port, "/sim/stats")).json().get(key) != value:
        assert time.monotonic() < deadline, f"never {key} = {value}"
        await asyncio.sleep(0.01)


async def test_a_worker_without_the_flag_refuses_the_field(fresh_sim) -> None:
    s = await fresh_sim("--model", "m")
    reply = await post(s.port, "/v1/chat/completions", {**CHAT, "priority": 0.2})
    assert reply.status == 400
    assert b"extra_forbidden" in reply.body and b"'priority'" in reply.body
    plain = await post(s.port, "/v1/completions", {"model": "m", "prompt": "x"})
    assert plain.status == 200
    assert (await get(s.port, "/sim/stats")).json()["priorities"] == {"none": 1}


async def test_with_the_flag_it_is_accepted_counted_and_bounded(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--priority")
    for _ in range(2):  # the second is the memo's answer: still counted
        assert (await post(s.port, "/v1/chat/completions", {**CHAT, "priority": 0.2})).status == 200
    done = await post(s.port, "/v1/completions", {"model": "m", "prompt": "x", "priority": 1})
    assert done.status == 200
    too_high = await post(s.port, "/v1/chat/completions", {**CHAT, "priority": 1.5})
    assert too_high.status == 400 and b"less_than_equal" in too_high.body
    too_low = await post(s.port, "/v1/chat/completions", {**CHAT, "priority": -0.1})
    assert too_low.status == 400 and b"greater_than_equal" in too_low.body
    assert (await get(s.port, "/sim/stats")).json()["priorities"] == {"0.2": 2, "1": 1}


async def _order(s: Any, first: float, second: float) -> list[float]:
    """Which of two queued requests (`first` queued before `second`) finishes first."""
    busy = asyncio.create_task(post(s.port, "/v1/chat/completions", {**CHAT, "seed": 1}))
    await _until(s.port, "running", 1)
    tasks: dict[asyncio.Task[Any], float] = {}
    for n, prio in enumerate((first, second), start=1):
        body = {**CHAT, "seed": 10 + n, "priority": prio}
        tasks[asyncio.create_task(post(s.port, "/v1/chat/completions", body))] = prio
        await _until(s.port, "queued", n)
    finished: list[float] = []
    pending = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finished += sorted(tasks[t] for t in done)
    assert (await busy).status == 200 and all(t.result().status == 200 for t in tasks)
    return finished


async def test_the_higher_priority_waiting_starts_first(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--priority", "--max-batch", "1", "--ttft-ms", "300")
    assert await _order(s, 0.1, 0.9) == [0.9, 0.1]
    assert await _order(s, 0.9, 0.1) == [0.9, 0.1]
    assert await _order(s, 0.5, 0.6) == [0.6, 0.5]
