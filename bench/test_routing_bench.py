"""Routing benchmarks: a pick's cost in the core, and requests/s through 4 workers vs 1.

    .venv/bin/python -m pytest bench/test_routing_bench.py --benchmark-enable -s
    .venv/bin/python -m pytest bench/test_routing_bench.py --benchmark-disable   # checks only

The pick benchmarks time `pick` + `release` from Python (so the boundary crossing is
included) for both policies at 2, 8 and 64 workers, each pool carrying some load, and check
the result. The throughput benchmark starts simulated workers whose capacity is the limit
(`max_concurrency` 4, 40 ms per call), a gateway in front, and prints req/s for 1 and 4.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

core: Any = pytest.importorskip("provocapi._core", reason="the Rust core is not built")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def make_pool(n: int, policy: str, loaded: bool = True) -> tuple[Any, Any]:
    table = core.StateTable(tempfile.mktemp(prefix="bench-routing-"), 1024)
    workers = [(table.slot(f"w{i}"), table.slot(f"a{i}"), 1, 4) for i in range(n)]
    pool = core.RoutePool(
        table, workers, table.slot("clock"), policy=policy, home_slots=[table.slot("homes")]
    )
    if loaded:  # a busy pool: uneven in-flight counts, some queued on the worker
        rng = random.Random(n)
        for load, _, _, _ in workers:
            table.set(load, core.RoutePool.F_IN_FLIGHT, rng.randint(0, 8))
            table.set(load, core.RoutePool.F_QUEUED, rng.randint(0, 2))
    return table, pool


@pytest.mark.parametrize("policy", ["scan", "two_choices"])
@pytest.mark.parametrize("n", [2, 8, 64])
def test_pick_release(benchmark: Any, n: int, policy: str) -> None:
    table, pool = make_pool(n, policy)
    pick, release = pool.pick, pool.release

    def decide() -> int:
        i = pick().index
        assert i is not None
        release(i)
        return i

    i = benchmark(decide)
    assert 0 <= i < n
    # the scan picks a least-loaded worker exactly
    if policy == "scan":
        loads = [
            table.get(w, core.RoutePool.F_IN_FLIGHT) + table.get(w, core.RoutePool.F_QUEUED)
            for w, _, _, _ in [(table.slot(f"w{k}"), 0, 0, 0) for k in range(n)]
        ]
        assert loads[i] == min(loads)


@pytest.mark.parametrize("n", [8, 64])
def test_pick_with_adapter_and_prefix(benchmark: Any, n: int) -> None:
    _, pool = make_pool(n, "scan")
    prefix = core.prefix_hash(b'[{"role":"system","content":"be brief"}]')

    def decide() -> int:
        i = pool.pick(3, prefix).index
        assert i is not None
        pool.release(i)
        return i

    i = benchmark(decide)
    assert pool.holds(i, 3)


def test_balance_of_policies() -> None:
    """Not timed: how evenly each policy spreads 64 workers' worth of held calls."""
    for policy in ("scan", "two_choices"):
        table, pool = make_pool(64, policy, loaded=False)
        for _ in range(64 * 20):
            pool.pick()
        loads = [table.get(table.slot(f"w{k}"), core.RoutePool.F_IN_FLIGHT) for k in range(64)]
        print(f"\n{policy}: in flight per worker min {min(loads)} max {max(loads)} (mean 20)")
        if policy == "scan":
            assert min(loads) == max(loads) == 20


# --------------------------------------------------------------------------- throughput


async def _run(n_workers: int, calls: int, concurrency: int, tmp: Path) -> float:
    import httpx2
    from harness.gateway import Gateway
    from provocapi.sim.process import start_sim

    sims = [
        start_sim(["--model", "m", "--ttft-ms", "40", "--token-delay-ms", "0",
                   "--output-tokens", "8"])
        for _ in range(n_workers)
    ]  # fmt: skip
    root = tmp / f"gw{n_workers}"
    root.mkdir(parents=True)
    workers = ", ".join(f'{{ url = "{s.url}", max_concurrency = 4 }}' for s in sims)
    gw = Gateway(
        root,
        f"""\
        [routing]
        queue_size = 1024
        [[models]]
        id = "m"
        kind = "chat"
        default_max_tokens = 8
        workers = [{workers}]
        """,
        name="gw",
    )
    key = gw.create_key("t")
    try:
        gw.start(30)
        async with httpx2.AsyncClient(
            base_url=gw.url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
            trust_env=False,
            limits=httpx2.Limits(max_connections=concurrency),
        ) as client:
            sem = asyncio.Semaphore(concurrency)
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

            async def one(i: int) -> None:
                async with sem:
                    r = await client.post("/v1/chat/completions", json=body)
                    assert r.status_code == 200, r.text

            await asyncio.gather(*(one(i) for i in range(20)))  # warm-up
            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(calls)))
            return calls / (time.perf_counter() - t0)
    finally:
        gw.stop()
        for s in sims:
            s.stop()


def test_throughput_4_workers_vs_1(benchmark: Any, tmp_path: Path) -> None:
    calls = 400 if benchmark.enabled else 40
    rates: dict[int, float] = {}

    def measure() -> None:
        for n in (1, 4):
            rates[n] = asyncio.run(_run(n, calls, 32, tmp_path / f"r{len(rates)}{n}"))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    print(f"\nreq/s: 1 worker {rates[1]:.0f}, 4 workers {rates[4]:.0f}, "
          f"ratio {rates[4] / rates[1]:.2f}")  # fmt: skip
    assert rates[4] > rates[1]
