"""`rewrite_response` on the simulator's answers, warm and with the caches cold, two builds.

    taskset -c 1 .venv/bin/python bench/rewrite_cold.py --base /tmp/main_core.abi3.so
        [--core python/provocapi/_core.abi3.so] [--rounds 7] [--warm-calls 20000]
        [--cold-calls 400] [--thrash-mb 32]

The gateway answers one non-streamed request at a time at a few hundred requests a second,
so between two answers its other work (and other processes) evict the rewrite's code and
data: what it costs there is the cold figure, not a hot loop's. Per build and body (the
simulator's chat and completion answers to bench/floor.py's body, 64 tokens; and `minimal`,
`{"choices":[]}`: the floor of a call, i.e. the binding's argument parsing, the answer's
head and the bytes object, so what is above it is the body's own cost):

- `warm`: the best of 5 timed loops of `--warm-calls` calls, µs per call;
- `cold`: the median of `--cold-calls` single calls (perf_counter_ns around one call), each
  after writing a `--thrash-mb` buffer (evicts L2/L3, and with them the code) and a little
  unrelated Python work (json and str methods: refills L1i and the branch predictors).

The builds alternate within each round (order swapped every round), and the ratios printed
are medians of the per-round ratios new / base: on a shared, noisy machine only ratios from
one run compare. `--base` is another build of the core (e.g. main's `_core.abi3.so`,
copied aside); without it only `--core` is measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# What python/provocapi/sim (render_trtllm.py) answers to bench/floor.py's body(False), and to
# a completions call of the same size (--output-tokens 64): trtllm-serve's Starlette JSON.
SIM_CHAT = (
    b'{"id":"chatcmpl-9440f3eeb51e6459eb7d7a73f6dfdcf1","object":"chat.completion",'
    b'"created":1796516860,"model":"llama-3.1-8b-instruct","choices":[{"index":0,"message":'
    b'{"role":"assistant","content":"it silver winter thunder horizon saddle from token window '
    b"yellow island glacier quartz words every garden planet castle ember pebble simulated "
    b"predict paper forest pencil canyon oasis with can cloud harbor rocket falcon nectar "
    b"answers tests light signal meadow marble maple model so stone engine bridge lantern "
    b"lemon quick list river music mirror copper kettle the fixed sends orange candle velvet "
    b'jasmine tulip a","reasoning_content":"","reasoning":null,"tool_calls":[]},"logprobs":null,'
    b'"finish_reason":"stop","stop_reason":null,"mm_embedding_handle":null,'
    b'"disaggregated_params":null,"avg_decoded_tokens_per_iter":null}],"usage":'
    b'{"prompt_tokens":189,"total_tokens":253,"completion_tokens":64,"prompt_tokens_details":'
    b'{"cached_tokens":0}},"prompt_token_ids":null,"prompt_token_ids_b64":null}'
)
SIM_COMPLETION = (
    b'{"id":"cmpl-aeda80d892b501496637f08c499f5e4e","object":"text_completion",'
    b'"created":1796516860,"model":"llama-3.1-8b-instruct","choices":[{"index":0,"text":'
    b'"token harbor copper quartz tests orange castle maple a paper bridge horizon with river '
    b"yellow falcon the every signal velvet pebble so silver pencil lemon from cloud mirror "
    b"glacier answers sends planet marble tulip predict engine thunder oasis list window "
    b"rocket kettle words light candle ember model it forest lantern saddle can music island "
    b'nectar fixed garden meadow jasmine simulated stone winter canyon quick","token_ids":null,'
    b'"logprobs":null,"context_logits":null,"finish_reason":"stop","stop_reason":null,'
    b'"disaggregated_params":null,"avg_decoded_tokens_per_iter":null}],"usage":'
    b'{"prompt_tokens":7,"total_tokens":71,"completion_tokens":64,"prompt_tokens_details":'
    b'{"cached_tokens":0}},"prompt_token_ids":null}'
)
# The least a call costs: the binding's argument parsing, the answer's head, the bytes object.
MINIMAL = b'{"choices":[]}'
BODIES = {"chat": SIM_CHAT, "completion": SIM_COMPLETION, "minimal": MINIMAL}
KINDS = {"chat": "chat", "completion": "completion", "minimal": "chat"}
META = {"public_model": "llama-3.1-8b-instruct", "response_id": "chatcmpl-x", "created": 1}


def load_core(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_core", path)
    assert spec and spec.loader, path
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    return core


class Thrash:
    """Evicts what a call left in the caches, as a busy event loop's other work does."""

    def __init__(self, mb: int) -> None:
        self.src = bytes(mb << 20)
        self.dst = bytearray(mb << 20)
        self.doc = {f"k{i}": [i, str(i) * 3, {"x": i / 3}] for i in range(200)}

    def __call__(self) -> None:
        self.dst[:] = self.src
        text = json.dumps(self.doc)
        json.loads(text)
        text.upper().split(",")


def warm(core: ModuleType, kind: str, calls: int) -> float:
    rewrite, body, kind = core.rewrite_response, BODIES[kind], KINDS[kind]
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            rewrite(body, kind=kind, **META)
        best = min(best, (time.perf_counter_ns() - t0) / calls)
    return best / 1000


def cold(core: ModuleType, kind: str, calls: int, thrash: Thrash) -> float:
    rewrite, body, kind = core.rewrite_response, BODIES[kind], KINDS[kind]
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        thrash()
        t0 = clock()
        rewrite(body, kind=kind, **META)
        samples.append(clock() - t0)
    return statistics.median(samples) / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--core", default=str(ROOT / "python/provocapi/_core.abi3.so"))
    ap.add_argument("--base", default=None, help="another build of the core (before)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--warm-calls", type=int, default=20000)
    ap.add_argument("--cold-calls", type=int, default=400)
    ap.add_argument("--thrash-mb", type=int, default=32)
    args = ap.parse_args()

    builds = {"new": load_core(args.core)}
    if args.base:
        builds["base"] = load_core(args.base)
    # Both must answer the same bytes (the new build's fast path is byte-identical).
    for kind, body in BODIES.items():
        outs = {
            bytes(b.rewrite_response(body, kind=KINDS[kind], **META).body) for b in builds.values()
        }
        assert len(outs) == 1, f"{kind}: the builds answer differently"
    thrash = Thrash(args.thrash_mb)
    results: dict[tuple[str, str, str], list[float]] = {}
    names = list(builds)
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for kind in BODIES:
            for name in order:
                core: Any = builds[name]
                results.setdefault((name, kind, "warm"), []).append(
                    warm(core, kind, args.warm_calls)
                )
                results.setdefault((name, kind, "cold"), []).append(
                    cold(core, kind, args.cold_calls, thrash)
                )
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    print()
    print("| body | mode | new µs (median of rounds) | base µs | new / base (round ratios) |")
    print("|---|---|---|---|---|")
    for kind in BODIES:
        for mode in ("warm", "cold"):
            new = results[("new", kind, mode)]
            row = f"| {kind} | {mode} | {statistics.median(new):.2f} |"
            if "base" in builds:
                base = results[("base", kind, mode)]
                ratios = [n / b for n, b in zip(new, base, strict=True)]
                ratio, lo, hi = statistics.median(ratios), min(ratios), max(ratios)
                row += f" {statistics.median(base):.2f} | {ratio:.2f} ({lo:.2f} to {hi:.2f}) |"
            else:
                row += " | |"
            print(row)


if __name__ == "__main__":
    main()
