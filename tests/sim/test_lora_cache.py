"""The simulated worker's LoRA cache: --max-loras slots, LRU eviction, a load wait
on a miss, and per adapter what it served (in /sim/stats, never in the answer)."""

from __future__ import annotations

from pathlib import Path

from provocapi.lora_files import write_zero_adapter
from provocapi.sim import faults
from provocapi.sim.lora_cache import LoraCache

from .client import get, post

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


def test_least_recently_used_is_evicted() -> None:
    c = LoraCache(2, 0.05)
    assert [c.use(i) for i in (1, 2, 1, 3)] == [0.05, 0.05, 0.0, 0.05]  # 3 evicts 2
    assert c.resident() == [1, 3] and c.evictions == 1
    assert c.use(2) == 0.05 and c.resident() == [3, 2]
    assert (c.hits, c.misses) == (1, 4)


def test_no_slots_means_no_cache_and_no_wait() -> None:
    c = LoraCache(0, 1.0)
    assert c.use(1) == 0.0 and c.use(1) == 0.0 and c.resident() == []


async def test_the_worker_records_and_caches_adapters(fresh_sim, tmp_path: Path) -> None:
    s = await fresh_sim("--model", "m", "--max-loras", "1", "--lora-load-ms", "1")
    paths = {}
    for lid in (1, 2):
        paths[lid] = tmp_path / f"a{lid}"
        write_zero_adapter(paths[lid], {"q_proj": (8, 8)}, rank=2, layers=1)
    for lid in (1, 1, 2, 1):
        lora = {"lora_name": f"a{lid}", "lora_int_id": lid, "lora_path": str(paths[lid])}
        r = await post(s.port, "/v1/chat/completions", {**CHAT, "lora_request": lora})
        assert r.status == 200 and b"lora" not in r.body
    stats = (await get(s.port, "/sim/stats")).json()
    assert stats["loras"] == {
        "1": {"lora_path": str(paths[1]), "requests": 3},
        "2": {"lora_path": str(paths[2]), "requests": 1},
    }
    cache = stats["lora_cache"]
    assert (cache["hits"], cache["misses"], cache["evictions"]) == (1, 3, 2)
    assert cache["resident"] == [1]
    assert faults.NONE.delay_ms == 0  # a miss's wait stays with its own request


async def test_a_directory_without_an_adapter_is_refused(fresh_sim, tmp_path: Path) -> None:
    s = await fresh_sim("--model", "m")
    (tmp_path / "empty").mkdir()
    lora = {"lora_name": "x", "lora_int_id": 1, "lora_path": str(tmp_path / "empty")}
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "lora_request": lora})
    assert r.status == 400 and "holds no loadable adapter" in r.json()["error"]
