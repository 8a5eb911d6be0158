"""What `--max-batch` costs the simulator per request, against no limit (which installs
nothing: the routes are the plain handlers).

Bounded: in this process, the worker's handler called directly on N requests (default
20000) answered at once (no delay: the path where a per-request cost would show most),
fresh bodies so the memo never answers; best of 5 runs each, in alternation.

    .venv/bin/python bench/sim_capacity_cost.py [--n 20000]
"""

from __future__ import annotations

import argparse
import time

import orjson
from provocapi.sim.app import SimWorker
from provocapi.sim.config import SimConfig
from provocapi.sim.server import SimRequest


def requests(n: int, tag: str) -> list[SimRequest]:
    out = []
    for i in range(n):
        body = {"model": "m", "messages": [{"role": "user", "content": f"{tag} {i}"}]}
        out.append(SimRequest(b"POST", b"/v1/chat/completions", {}, orjson.dumps(body), True))
    return out


def run(worker: SimWorker, reqs: list[SimRequest]) -> float:
    t0 = time.perf_counter()
    for r in reqs:
        worker(r, None)  # type: ignore[arg-type]  # answered at once: conn unused
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    n = ap.parse_args().n
    best = {"off": float("inf"), "max_batch=64": float("inf")}
    for rnd in range(5):
        for name, limit in (("off", 0), ("max_batch=64", 64)):
            worker = SimWorker(SimConfig(model="m", port=0, max_batch=limit, tokenizer="none"))
            best[name] = min(best[name], run(worker, requests(n, f"{name}{rnd}")))
    for name, secs in best.items():
        print(f"{name:<14} {secs * 1e6 / n:7.2f} µs/request  ({n} requests, best of 5)")
    off, on = best["off"], best["max_batch=64"]
    print(f"max_batch adds {(on - off) * 1e6 / n:+.2f} µs/request ({(on / off - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
