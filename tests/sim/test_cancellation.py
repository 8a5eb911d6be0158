"""A client walking away cancels its generation at once, and the simulator counts it."""

from __future__ import annotations

import asyncio
import time

from .client import get, request_bytes


async def _stats(port: int) -> dict[str, int]:
    return (await get(port, "/sim/stats")).json()


async def test_stream_cancelled_within_a_second(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--token-delay-ms", "50", "--output-tokens", "200")
    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(
        request_bytes(
            "POST",
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "long"}], "stream": True},
        )
    )
    got = b""
    while got.count(b"data: ") < 3:
        got += await asyncio.wait_for(reader.read(4096), 5)
    assert (await _stats(s.port))["in_flight"] == 1
    writer.close()
    t0 = time.monotonic()
    while (await _stats(s.port))["cancelled"] == 0:
        assert time.monotonic() - t0 < 1.0, "cancellation not seen within 1 s"
        await asyncio.sleep(0.02)
    stats = await _stats(s.port)
    assert stats["in_flight"] == 0 and stats["served"] == 0


async def test_delayed_non_stream_cancelled(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--ttft-ms", "2000")
    _reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(
        request_bytes(
            "POST",
            "/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        )
    )
    await asyncio.sleep(0.1)
    writer.close()
    t0 = time.monotonic()
    while (await _stats(s.port))["cancelled"] == 0:
        assert time.monotonic() - t0 < 1.0
        await asyncio.sleep(0.02)
    assert (await _stats(s.port))["in_flight"] == 0
