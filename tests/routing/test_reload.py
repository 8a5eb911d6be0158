"""POST /admin/reload: new pools reach every gateway process, and no call fails meanwhile."""

from __future__ import annotations

import asyncio

from .conftest import FAST_ROUTING, GatewayFactory, SimFactory, model_toml, url

MODEL = "m"
SIM = ("--model", MODEL, "--ttft-ms", "0", "--token-delay-ms", "2", "--output-tokens", "8")
ADMIN = "admin-secret-for-tests"


def config(workers: list[str]) -> str:
    server = f'[server]\nadmin_key = "{ADMIN}"\n\n'
    return server + FAST_ROUTING + model_toml(MODEL, [url(w) for w in workers])


async def test_reload_across_two_processes_fails_no_call(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    w1, w2, w3 = [await sims(*SIM) for _ in range(3)]
    gw = gateway(config([w1.url, w2.url]), workers=2)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    failures: list[str] = []
    stop = asyncio.Event()

    async def load(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            r = await gw.chat(MODEL, f"load {n}.{i} [sim:delay_ms=20]")
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text}")

    clients = [asyncio.create_task(load(n)) for n in range(8)]
    try:
        for workers in ([w2.url, w3.url], [w1.url, w2.url, w3.url], [w3.url]):
            await asyncio.sleep(0.3)
            gw.config_path.write_text(config(workers))
            r = await gw.client.post("/admin/reload", headers=admin)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "reloaded"
        await asyncio.sleep(0.6)  # both processes have followed (they look every 0.25 s)
        before = (w1.served, w2.served)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*clients)
    assert failures == []
    # only w3 is in the pool now, in every process
    assert (w1.served, w2.served) == before
    assert w3.served > 0


async def test_reload_needs_the_admin_key_and_a_valid_config(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    w1 = await sims(*SIM)
    gw = gateway(config([w1.url]))
    r = await gw.client.post("/admin/reload")  # a tenant key is not the admin key
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    gw.config_path.write_text(config([w1.url]) + "\n[routing]\nnot_a_field = 1\n")
    r = await gw.client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_config"
    r = await gw.chat(MODEL, "still serving")
    assert r.status_code == 200


async def test_reload_applies_new_tier_limits(sims: SimFactory, gateway: GatewayFactory) -> None:
    w1 = await sims(*SIM)
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def with_tier(rpm: int) -> str:
        return config([w1.url]) + f"\n[tiers.default]\nkey_rpm = {rpm}\n"

    gw = gateway(with_tier(2), workers=2)
    codes = [(await gw.chat(MODEL, f"tier {i}")).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    gw.config_path.write_text(with_tier(1000))
    r = await gw.client.post("/admin/reload", headers=admin)
    assert r.status_code == 200, r.text
    await asyncio.sleep(0.6)  # both processes have followed
    codes = [(await gw.chat(MODEL, f"after {i}")).status_code for i in range(6)]
    assert codes == [200] * 6
    r = await gw.chat(MODEL, "headers")
    assert r.headers["x-ratelimit-limit-requests"] == "1000"


def _series_of(text: str, label: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#") and label in line]


async def test_a_removed_model_leaves_metrics(sims: SimFactory, gateway: GatewayFactory) -> None:
    """Prometheus practice: a label set that no longer exists is no longer exported.
    The series of a model a reload removed (and of its worker) stayed in /metrics,
    its worker's `up` gauge at 1 forever."""
    keep, gone = await sims(*SIM), await sims("--model", "gone", *SIM[2:])
    admin = {"Authorization": f"Bearer {ADMIN}"}
    both = config([keep.url]) + "\n" + model_toml("gone", [url(gone.url)])
    gw = gateway(both, workers=2)
    for name in (MODEL, "gone"):
        assert (await gw.chat(name, "hi")).status_code == 200
    await asyncio.sleep(0.5)  # the worker gauges are written every metrics_interval_s
    assert _series_of(await gw.metrics(), 'model="gone"')

    async def reload(text: str) -> None:
        gw.config_path.write_text(text)
        r = await gw.client.post("/admin/reload", headers=admin)
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.6)  # both processes have followed (they look every 0.25 s)

    await reload(config([keep.url]))
    for _ in range(6):  # scrapes land on either process
        text = await gw.metrics()
        assert _series_of(text, 'model="gone"') == [], text
        assert _series_of(text, gone.url) == [], text
        assert _series_of(text, f'model="{MODEL}"')
    # back in the config: its series come back (counters keep counting up)
    await reload(both)
    assert (await gw.chat("gone", "again")).status_code == 200
    assert await gw.metric("provocapi_requests_total", model="gone") >= 2
