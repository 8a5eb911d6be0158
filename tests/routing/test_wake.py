"""The cold path: one shared wake, calls wait for the worker; past the budget, wake_timeout."""

from __future__ import annotations

import asyncio
import json
import sys

from provocapi.netutil import free_ports

from .conftest import FAST_ROUTING, GatewayFactory, model_toml

MODEL = "m"


def wake_toml(command: list[str]) -> str:
    return f"[models.wake]\ncommand = {json.dumps(command)}\n"


async def test_cold_pool_wakes_once_and_serves_everyone(gateway: GatewayFactory) -> None:
    (port,) = free_ports(1)
    # the hook starts the worker (the gateway's process group ends it with the test)
    sim = [sys.executable, "-m", "provocapi.sim", "--port", str(port), "--model", MODEL,
           "--output-tokens", "4"]  # fmt: skip
    gw = gateway(FAST_ROUTING + model_toml(MODEL, [f'"http://127.0.0.1:{port}"']) + wake_toml(sim))
    results = await asyncio.gather(
        *(gw.chat(MODEL, f"wake up {i}") for i in range(3)),
        gw.chat(MODEL, "wake up streaming", stream=True),
    )
    for r in results:
        assert r.status_code == 200, r.text
    assert float(results[0].headers["x-provocapi-queue-ms"]) > 0
    assert results[-1].text.rstrip().endswith("data: [DONE]")
    assert await gw.metric("provocapi_wakes_total", model=MODEL) == 1


async def test_wake_budget_ends_in_wake_timeout(gateway: GatewayFactory) -> None:
    (port,) = free_ports(1)
    routing = FAST_ROUTING + "wake_budget_s = 1.0\nkeepalive_s = 0.2\n"
    gw = gateway(
        routing
        + model_toml(MODEL, [f'"http://127.0.0.1:{port}"'])
        + wake_toml([sys.executable, "-c", "pass"])  # a hook that wakes nothing
    )
    r = await gw.chat(MODEL, "anyone?")
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "wake_timeout"
    r = await gw.chat(MODEL, "anyone, streaming?", stream=True)
    assert r.status_code == 200  # the keep-alives went out first
    lines = [line for line in r.text.splitlines() if line]
    assert lines[0] == ": keep-alive"
    last = json.loads(lines[-1].removeprefix("data: "))
    assert last["error"]["code"] == "wake_timeout"
    assert "data: [DONE]" not in r.text


async def test_no_hook_no_ready_worker_is_503_at_once(gateway: GatewayFactory) -> None:
    (port,) = free_ports(1)
    gw = gateway(FAST_ROUTING + model_toml(MODEL, [f'"http://127.0.0.1:{port}"']))
    r = await gw.chat(MODEL, "hi")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "no_healthy_worker"
