"""Load spreads evenly; caps hold across gateway processes; a full pool queues."""

from __future__ import annotations

import asyncio

from .conftest import FAST_ROUTING, GatewayFactory, SimFactory, model_toml, url

MODEL = "m"
SLOW = ("--model", MODEL, "--ttft-ms", "0", "--token-delay-ms", "5", "--output-tokens", "8")


async def test_equal_workers_share_load_within_10_percent(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    workers = [await sims(*SLOW) for _ in range(4)]
    gw = gateway(FAST_ROUTING + model_toml(MODEL, [url(w.url) for w in workers]))
    sem = asyncio.Semaphore(12)

    async def one(i: int) -> None:
        async with sem:
            # a steady service time: the counts then reflect the policy, not timing noise
            r = await gw.chat(MODEL, f"hello {i} [sim:delay_ms=80]")
            assert r.status_code == 200, r.text

    await asyncio.gather(*(one(i) for i in range(240)))
    served = [w.served for w in workers]
    assert sum(served) == 240
    for s in served:
        assert abs(s - 60) <= 6, served


async def test_cap_holds_across_processes_and_queue_reports_wait(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    # the worker refuses (429) beyond 2 in flight: a per-process cap would let 4 through
    w = await sims(*SLOW, "--max-queue", "2")
    worker = f'{{ url = "{w.url}", max_concurrency = 2 }}'
    gw = gateway(FAST_ROUTING + model_toml(MODEL, [worker]), workers=2)

    async def one(i: int) -> tuple[int, float]:
        r = await gw.chat(MODEL, f"wait [sim:delay_ms=150] {i}")
        assert r.status_code == 200, r.text
        return r.status_code, float(r.headers["x-provocapi-queue-ms"])

    got = await asyncio.gather(*(one(i) for i in range(8)))
    assert w.worker.stats.errors == 0
    waits = sorted(q for _, q in got)
    assert waits[-1] >= 100, waits  # the last ones waited for at least one answer
    assert await gw.metric("provocapi_queue_seconds_count", model=MODEL) >= 8


async def test_full_queue_is_429_with_retry_after(
    sims: SimFactory, gateway: GatewayFactory
) -> None:
    w = await sims(*SLOW)
    worker = f'{{ url = "{w.url}", max_concurrency = 1 }}'
    cfg = FAST_ROUTING.replace("queue_timeout_s = 5.0", "queue_timeout_s = 5.0\nqueue_size = 2")
    gw = gateway(cfg + model_toml(MODEL, [worker]))
    results = await asyncio.gather(
        *(gw.chat(MODEL, f"slow [sim:delay_ms=600] {i}") for i in range(6))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 200, 429, 429, 429], codes
    refused = [r for r in results if r.status_code == 429]
    for r in refused:
        assert r.json()["error"]["code"] == "queue_full"
        assert r.headers["retry-after"].isdigit()
    assert await gw.metric("provocapi_queue_rejections_total", reason="queue_full") == 3
    assert await gw.metric("provocapi_refusals_total", model=MODEL, code="queue_full") == 3


async def test_metrics_cover_routing(sims: SimFactory, gateway: GatewayFactory) -> None:
    w = await sims(*SLOW)
    gw = gateway(FAST_ROUTING + model_toml(MODEL, [url(w.url)]))
    r = await gw.chat(MODEL, "hi", stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200
    r = await gw.chat(MODEL, "hi")
    assert r.status_code == 200
    text = await gw.metrics()
    for family in (
        "provocapi_requests_total",
        "provocapi_request_duration_seconds",
        "provocapi_queue_seconds",
        "provocapi_ttft_seconds",
        "provocapi_tokens_total",
        "provocapi_worker_in_flight",
        "provocapi_worker_up",
    ):
        assert f"# TYPE {family} " in text, family
    assert await gw.metric("provocapi_ttft_seconds_count", model=MODEL) == 2
    assert await gw.metric("provocapi_tokens_total", model=MODEL, dir="out") > 0
    assert await gw.metric("provocapi_worker_up", worker=w.url) == 1
