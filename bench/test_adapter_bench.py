"""Adapters: what resolving a stored adapter adds per request, and what adapter
affinity is worth through 4 simulated workers with a LoRA cache.

    .venv/bin/python -m pytest bench/test_adapter_bench.py --benchmark-enable -s

The second test runs 20 adapters over 4 workers started with `--max-loras 4
--lora-load-ms 200` (a miss waits 200 ms, of the order of loading an adapter
onto a GPU), once with the gateway tracking each worker's adapters
(`max_loras = 4`: adapter-aware) and once without (`max_loras = 0`: plain
least-loaded), streamed calls, and prints req/s, TTFT
p50/p99 and the workers' cache hit rate for both.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the harness

ADAPTERS = 20


def test_resolve_a_stored_adapter(benchmark: Any, tmp_path: Path) -> None:
    from provocapi.adapters import Adapters, ConfigAdapters, StoredAdapters
    from provocapi.adapterstore.sqlite_store import SqliteAdapterStore
    from provocapi.catalog import Catalog
    from provocapi.config import parse
    from provocapi.keys import KeyRecord

    cfg = parse('[[models]]\nid = "m"\nkind = "chat"\nworkers = ["http://127.0.0.1:9"]\n')
    store = SqliteAdapterStore(tmp_path)
    for i in range(200):  # a busy store: 200 adapters over 20 tenants
        rec = store.create(f"t{i % 20}", f"a{i}", "m", {"type": "upload"})
        store.mark_ready(rec.id, 8, ("q_proj",), 1)
    catalog = Catalog(cfg, Adapters(ConfigAdapters(cfg), StoredAdapters(store, "/w")))
    key = KeyRecord("k", "t7", "h", None, None, None, 0, None)

    def resolve() -> object:
        return catalog.resolve("m:a7", key)

    got = benchmark(resolve)
    assert got.adapter is not None and got.adapter.lora_int_id >= 1_000_000  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for _ in range(10_000):
        catalog.resolve("m", key)
    base_us = (time.perf_counter() - t0) / 10_000 * 1e6
    benchmark.extra_info["plain_model_resolve_us"] = round(base_us, 3)
    print(f"\nresolve of a plain model (memoised): {base_us:.2f} us")


async def _run(aware: bool, calls: int, tmp: Path) -> dict[str, float]:
    import httpx2
    from harness.gateway import Gateway
    from provocapi.lora_files import write_zero_adapter
    from provocapi.sim.process import start_sim

    sims = [
        start_sim(["--model", "m", "--ttft-ms", "5", "--token-delay-ms", "1",
                   "--output-tokens", "8", "--max-loras", "4", "--lora-load-ms", "200"])
        for _ in range(4)
    ]  # fmt: skip
    lora = tmp / "lora"
    write_zero_adapter(lora, {"q_proj": (8, 8)}, rank=2, layers=1)
    slots = 4 if aware else 0
    workers = ", ".join(f'{{ url = "{s.url}", max_loras = {slots} }}' for s in sims)
    adapters = "".join(
        f'[[models.adapters]]\nname = "a{i}"\nlora_path = "{lora}"\nlora_int_id = {i}\n'
        for i in range(1, ADAPTERS + 1)
    )
    root = tmp / ("aware" if aware else "plain")
    gw = Gateway(root, f'[[models]]\nid = "m"\nkind = "chat"\nworkers = [{workers}]\n{adapters}')
    key = gw.create_key("t")
    rng = random.Random(11)
    ttfts: list[float] = []
    try:
        gw.start(30)
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(
            base_url=gw.url, timeout=60, trust_env=False, headers=auth
        ) as client:
            sem = asyncio.Semaphore(16)

            async def one(adapter: int) -> None:
                body = {"model": f"m:a{adapter}", "stream": True, "max_tokens": 8,
                        "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
                async with sem:
                    t0 = time.perf_counter()
                    async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                        assert r.status_code == 200
                        first = True
                        async for _ in r.aiter_bytes():
                            if first:
                                ttfts.append(time.perf_counter() - t0)
                                first = False

            asks = [rng.randint(1, ADAPTERS) for _ in range(calls)]
            t0 = time.perf_counter()
            await asyncio.gather(*(one(a) for a in asks))
            rate = calls / (time.perf_counter() - t0)
            hits = misses = 0
            for s in sims:
                cache = (await client.get(f"{s.url}/sim/stats")).json()["lora_cache"]
                hits += cache["hits"]
                misses += cache["misses"]
    finally:
        gw.stop()
        for s in sims:
            s.stop()
    ttfts.sort()
    return {
        "req_s": rate,
        "ttft_p50_ms": statistics.median(ttfts) * 1000,
        "ttft_p99_ms": ttfts[int(len(ttfts) * 0.99) - 1] * 1000,
        "hit_rate": hits / max(1, hits + misses),
    }


@pytest.mark.parametrize("calls", [600])
def test_adapter_affinity_through_4_workers(benchmark: Any, tmp_path: Path, calls: int) -> None:
    n = calls if benchmark.enabled else 60
    out: dict[str, dict[str, float]] = {}

    def measure() -> None:
        out["aware"] = asyncio.run(_run(True, n, tmp_path))
        out["plain"] = asyncio.run(_run(False, n, tmp_path))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for name, r in out.items():
        print(f"\n{name:>5}: {r['req_s']:.0f} req/s, TTFT p50 {r['ttft_p50_ms']:.1f} ms "
              f"p99 {r['ttft_p99_ms']:.1f} ms, worker cache hits {r['hit_rate']:.0%}")  # fmt: skip
        benchmark.extra_info[name] = {k: round(v, 3) for k, v in r.items()}
    assert out["aware"]["hit_rate"] > out["plain"]["hit_rate"]
