"""Traffic split to a rollout pool, and the external provider when the pool cannot serve."""

from __future__ import annotations

import asyncio

from harness.waiting import wait_for
from provocapi.netutil import free_ports

from .conftest import FAST_ROUTING, GatewayFactory, SimFactory, model_toml, url

MODEL = "m"
SIM = ("--model", MODEL, "--ttft-ms", "0", "--token-delay-ms", "0", "--output-tokens", "8")
ADMIN = "admin-secret-for-tests"
PROVIDER_KEY = "sk-provider-test"


def split_toml(percent: int, workers: list[str]) -> str:
    return f"[models.split]\npercent = {percent}\nworkers = [{', '.join(workers)}]\n"


async def test_split_sends_its_share_and_follows_a_reload(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    main, new = await sims(*SIM), await sims(*SIM)

    def config(percent: int) -> str:
        return (
            f'[server]\nadmin_key = "{ADMIN}"\n\n'
            + FAST_ROUTING
            + model_toml(MODEL, [url(main.url)])
            + split_toml(percent, [url(new.url)])
        )

    gw = gateway(config(20))
    for i in range(300):
        assert (await gw.chat(MODEL, f"q {i}")).status_code == 200
    share = new.served / 300
    assert 0.12 <= share <= 0.28, share  # 20 % of 300: mean 60, sd about 7
    assert await gw.metric("provocapi_split_routes_total", model=MODEL) == new.served
    gw.config_path.write_text(config(100))
    r = await gw.client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200, r.text
    before = main.served
    for i in range(30):
        assert (await gw.chat(MODEL, f"r {i}")).status_code == 200
    assert main.served == before  # the whole rollout


def fallback_toml(provider_url: str) -> str:
    return (
        f'[models.fallback]\nbase_url = "{provider_url}/v1"\napi_key = "{PROVIDER_KEY}"\n'
        'model = "provider-model"\n'
    )


async def test_fallback_provider_when_the_pool_is_down(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    provider = await sims(
        "--model", "provider-model", "--openai", "--api-key", PROVIDER_KEY, "--output-tokens", "8"
    )
    gw = gateway(
        FAST_ROUTING + model_toml(MODEL, ['"http://127.0.0.1:9"']) + fallback_toml(provider.url)
    )
    for stream in (False, True):
        r = await gw.chat(MODEL, "hello", stream=stream)
        assert r.status_code == 200, r.text
        assert r.headers["x-provocapi-worker"] == provider.url
        if not stream:
            assert r.json()["model"] == MODEL  # the client still sees its model
    assert provider.served == 2
    assert await gw.metric("provocapi_fallbacks_total", model=MODEL) == 2


async def test_fallback_takes_the_overflow_of_a_saturated_pool(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    w = await sims(*SIM)
    provider = await sims(
        "--model", "provider-model", "--openai", "--api-key", PROVIDER_KEY, "--output-tokens", "8"
    )
    pool = [f'{{ url = "{w.url}", max_concurrency = 1 }}']
    gw = gateway(FAST_ROUTING + model_toml(MODEL, pool) + fallback_toml(provider.url))
    results = await asyncio.gather(
        *(gw.chat(MODEL, f"slow [sim:delay_ms=500] {i}") for i in range(4))
    )
    assert [r.status_code for r in results] == [200] * 4
    workers = sorted(r.headers["x-provocapi-worker"] for r in results)
    assert workers.count(w.url) == 1
    assert workers.count(provider.url) == 3


async def test_a_provider_that_failed_is_tried_again_after_eject_s(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    (port,) = free_ports(1)
    provider_url = f"http://127.0.0.1:{port}"
    gw = gateway(
        FAST_ROUTING + model_toml(MODEL, ['"http://127.0.0.1:9"']) + fallback_toml(provider_url)
    )
    r = await gw.chat(MODEL, "nobody home")
    assert r.status_code == 503  # pool down, provider refused
    await sims(
        "--model", "provider-model", "--openai", "--api-key", PROVIDER_KEY, "--port", str(port)
    )  # fmt: skip

    async def served() -> bool:
        return (await gw.chat(MODEL, "hello again")).status_code == 200

    await wait_for(served)  # once eject_s (0.6 s) ran out
