"""Simulator CPU per chat request with prompts counted by the model's tokenizer, against the
estimate (``--tokenizer none``, the simulator's behaviour before it counted).

Bounded: per family and mode one simulator process and N requests (default 1500) over one
keep-alive connection; every body is fresh (a counter in the text), so the memo never answers;
then the same body N times (memo hits). CPU is the simulator process's utime + stime
(/proc), so the client's work stays out of it (10 ms clock ticks: noisy on a busy machine).
Then, in this process, the plan of a fresh body alone (where the counting happens), the best
of 5 runs of N: the counting's own cost, free of the HTTP path's noise.

    .venv/bin/python bench/sim_prompt_cpu.py [--n 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time

from provocapi.sim import plan, prompt_count, start_sim
from provocapi.sim.config import SimConfig

MODELS = {
    "llama3": "llama-3.1-8b-instruct",
    "qwen2": "qwen-2.5-72b-instruct",
    "mistral": "mistral-small-3-24b",
}
SYSTEM = "You are a careful assistant for a travel agency. Answer briefly and politely."
TURNS = [
    "I want to visit Lisbon in spring. What should I see in three days?",
    "Day one: Alfama and the castle; day two: Belém; day three: Sintra.",
]


def body(model: str, i: int) -> bytes:
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": TURNS[0]},
        {"role": "assistant", "content": TURNS[1]},
        {"role": "user", "content": f"Request {i}: which of those is best for a rainy day?"},
    ]
    return json.dumps({"model": model, "messages": messages, "max_tokens": 16}).encode()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send_all(port: int, bodies: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        f = s.makefile("rb")
        for b in bodies:
            s.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: sim\r\n"
                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(b), b)
            )
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)


def measure(family: str, tokenizer: str | None, n: int) -> tuple[float, float]:
    model = MODELS[family]
    args = ["--model", model, "--family", family]
    if tokenizer:
        args += ["--tokenizer", tokenizer]
    with start_sim(args) as sim:
        pid = sim.process.pid
        send_all(sim.port, [body(model, -1)] * 50)  # warm up
        t0 = cpu_seconds(pid)
        send_all(sim.port, [body(model, i) for i in range(n)])
        t1 = cpu_seconds(pid)
        send_all(sim.port, [body(model, -2)] * n)
        t2 = cpu_seconds(pid)
    return (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6


def plan_cost(family: str, counted: bool, n: int) -> float:
    model = MODELS[family]
    cfg = SimConfig(model=model, port=0, family=family, tokenizer=None if counted else "none")
    counter = prompt_count.for_model(family, cfg.tokenizer)
    bodies = [json.loads(body(model, i)) for i in range(n)]
    best = float("inf")
    for run in range(5):
        for b in bodies:  # fresh texts for every run: the count cache must not answer
            b["messages"][-1]["content"] += f" (run {run})"
        t0 = time.thread_time()
        for b in bodies:
            plan.chat(b, cfg, False, counter)
        best = min(best, time.thread_time() - t0)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    n = ap.parse_args().n
    print(f"sim CPU per chat request, µs (n={n} each)", file=sys.stderr)
    print("family   mode       fresh   repeated")
    for family in MODELS:
        for mode, tok in (("estimate", "none"), ("counted", None)):
            fresh, repeated = measure(family, tok, n)
            print(f"{family:8} {mode:9} {fresh:7.1f} {repeated:9.1f}")
    print("plan.chat of a fresh body, µs (best of 5)")
    for family in MODELS:
        est, cnt = plan_cost(family, False, n), plan_cost(family, True, n)
        print(f"{family:8} estimate {est:6.1f}  counted {cnt:6.1f}  (+{cnt - est:.1f})")


if __name__ == "__main__":
    main()
