"""Health probes, passive ejection and reinstatement, failover before the first byte."""

from __future__ import annotations

import asyncio
import json
import signal

from harness.waiting import wait_for
from provocapi.sim.process import start_sim

from .conftest import FAST_ROUTING, GatewayFactory, SimFactory, model_toml, url

MODEL = "m"
FAST = ("--model", MODEL, "--ttft-ms", "0", "--token-delay-ms", "0", "--output-tokens", "8")
STREAMY = ("--model", MODEL, "--ttft-ms", "0", "--token-delay-ms", "10", "--output-tokens", "20")


async def test_starting_worker_gets_no_traffic_until_ready(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    good = await sims(*FAST)
    starting = await sims(*FAST, "--starting-s", "600")
    gw = gateway(FAST_ROUTING + model_toml(MODEL, [url(good.url), url(starting.url)]))

    async def state_is(value: int) -> bool:
        return await gw.metric("provocapi_worker_state", worker=starting.url) == value

    await wait_for(lambda: state_is(1))  # 503 starting seen by the probe
    for i in range(20):
        r = await gw.chat(MODEL, f"hi {i}")
        assert r.status_code == 200
        assert r.headers["x-provocapi-worker"] == good.url
    assert starting.worker.stats.served == 0
    assert await gw.metric("provocapi_failovers_total") == 0
    starting.worker.starting = False  # the model finished loading
    await wait_for(lambda: state_is(0))  # a probe saw 200: in rotation
    got = {(await gw.chat(MODEL, f"later {i}")).headers["x-provocapi-worker"] for i in range(8)}
    assert got == {good.url, starting.url}


async def test_5xx_fails_over_then_ejects_then_probe_reinstates(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    good = await sims(*FAST)
    bad = await sims(*FAST, "--error-rate", "1.0")
    gw = gateway(FAST_ROUTING + model_toml(MODEL, [url(good.url), url(bad.url)]))
    for i in range(12):
        r = await gw.chat(MODEL, f"hi {i}")
        assert r.status_code == 200, r.text  # every failure was retried on the good worker
        assert r.headers["x-provocapi-worker"] == good.url
    # three failures in a row eject it: later calls no longer try it
    assert bad.worker.stats.errors == 3
    assert await gw.metric("provocapi_ejections_total", model=MODEL) == 1
    # after eject_s a probe (its /health is 200) brings it back, and it fails again

    tries = 0

    async def ejected_twice() -> bool:
        nonlocal tries
        tries += 1  # a new conversation each time (the same one would stick to its worker)
        r = await gw.chat(MODEL, f"again {tries}")
        assert r.status_code == 200
        return await gw.metric("provocapi_ejections_total", model=MODEL) >= 2

    await wait_for(ejected_twice)


async def test_no_ready_worker_is_503_at_once(gateway: GatewayFactory) -> None:
    gw = gateway(FAST_ROUTING + model_toml(MODEL, ['"http://127.0.0.1:9"']))
    for _ in range(3):
        r = await gw.chat(MODEL, "hi")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "no_healthy_worker"


async def test_killing_a_worker_under_load_fails_no_unstarted_request(
    gateway: GatewayFactory,
) -> None:
    procs = [start_sim(list(STREAMY)) for _ in range(3)]
    try:
        gw = gateway(FAST_ROUTING + model_toml(MODEL, [url(p.url) for p in procs]))
        failed_before_stream: list[str] = []
        failed_mid_stream = 0
        ok = 0
        victim = procs[0]

        async def one(i: int) -> None:
            nonlocal failed_mid_stream, ok
            body = {
                "model": MODEL,
                "messages": [{"role": "user", "content": f"story {i}"}],
                "stream": True,
            }
            async with gw.client.stream("POST", "/v1/chat/completions", json=body) as r:
                if r.status_code != 200:
                    failed_before_stream.append(f"{r.status_code} {await r.aread()!r}")
                    return
                events = [line async for line in r.aiter_lines() if line.startswith("data:")]
            if events[-1] == "data: [DONE]":
                ok += 1
            else:
                assert "error" in json.loads(events[-1][5:])
                failed_mid_stream += 1

        sem = asyncio.Semaphore(12)

        async def limited(i: int) -> None:
            async with sem:
                await one(i)

        async def kill_soon() -> None:
            await asyncio.sleep(0.5)
            victim.process.send_signal(signal.SIGKILL)

        await asyncio.gather(kill_soon(), *(limited(i) for i in range(120)))
        assert failed_before_stream == []
        assert ok + failed_mid_stream == 120
        assert ok >= 100  # only streams the victim had started can fail
    finally:
        for p in procs:
            p.stop()
