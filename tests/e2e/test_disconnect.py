"""A client that walks away mid-stream cancels the worker's request."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import openai

from .conftest import Stack

SLOW_MODEL = "llama-3.1-70b-instruct"  # about 20 ms per token, 100 tokens


def _find(stats: Any, key: str) -> int | None:
    """A counter named ``key`` anywhere in the stats document (first found)."""
    if isinstance(stats, dict):
        if isinstance(stats.get(key), int | float):
            return int(stats[key])
        for value in stats.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def _cancelled(sim_url: str) -> int:
    r = httpx2.get(f"{sim_url}/sim/stats", timeout=5.0, trust_env=False)
    assert r.status_code == 200, r.text
    stats = r.json()
    n = _find(stats, "cancelled")
    assert n is not None, f"/sim/stats has no `cancelled` counter: {stats}"
    return n


def _wait_cancelled(sim_url: str, before: int, within_s: float = 1.0) -> float:
    started = time.monotonic()
    while True:
        if _cancelled(sim_url) > before:
            return time.monotonic() - started
        elapsed = time.monotonic() - started
        assert elapsed < within_s, (
            f"the worker's request was not cancelled within {within_s} s of the client leaving"
        )
        time.sleep(0.05)


def test_sdk_close_mid_stream_cancels_upstream(client: openai.OpenAI, stack: Stack) -> None:
    sim = stack.sims[SLOW_MODEL]
    before = _cancelled(sim)
    stream = client.chat.completions.create(
        model=SLOW_MODEL,
        messages=[{"role": "user", "content": "write a long story"}],
        stream=True,
    )
    got = [next(stream), next(stream), next(stream)]
    assert all(c.model == SLOW_MODEL for c in got)
    stream.close()
    _wait_cancelled(sim, before)


def test_raw_disconnect_before_first_token_cancels_upstream(
    stack: Stack, auth: dict[str, str]
) -> None:
    """The client leaves while the worker is still in time-to-first-token."""
    sim = stack.sims[SLOW_MODEL]
    before = _cancelled(sim)
    with (
        httpx2.Client(base_url=stack.root_url, timeout=10.0, trust_env=False) as c,
        c.stream(
            "POST",
            "/v1/chat/completions",
            headers=auth,
            json={
                "model": SLOW_MODEL,
                "messages": [{"role": "user", "content": "wait [sim:delay_ms=1500]"}],
                "stream": True,
            },
        ) as r,
    ):
        # with a 1.5 s worker delay the gateway may not have answered yet: leave
        assert r.status_code == 200
    _wait_cancelled(sim, before, within_s=2.0)


async def test_async_break_mid_stream_cancels_upstream(
    aclient: openai.AsyncOpenAI, stack: Stack
) -> None:
    sim = stack.sims[SLOW_MODEL]
    before = _cancelled(sim)
    stream = await aclient.chat.completions.create(
        model=SLOW_MODEL,
        messages=[{"role": "user", "content": "write a long story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    n = 0
    async for _chunk in stream:
        n += 1
        if n == 3:
            break
    await stream.close()
    _wait_cancelled(sim, before)


def test_non_streaming_client_timeout_cancels_upstream(stack: Stack, recorder: Any) -> None:
    from .conftest import make_client

    sim = stack.sims[SLOW_MODEL]
    before = _cancelled(sim)
    with make_client(stack, recorder, max_retries=0, timeout=0.5) as c:
        try:
            c.chat.completions.create(
                model=SLOW_MODEL, messages=[{"role": "user", "content": "long answer please"}]
            )
            raise AssertionError("a 2 s answer came back within a 0.5 s client timeout")
        except openai.APITimeoutError:
            pass
    _wait_cancelled(sim, before)
