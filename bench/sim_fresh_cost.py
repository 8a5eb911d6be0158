"""What the simulator's chat handler costs per request for a fresh body (every prompt
different: the memo never answers, as in ``floor.py --unique-prompts``) and for a repeated
one (the memo's answer), in process: no HTTP, no load generator.

Bounded: ``--rounds`` rounds (default 15) of ``--n`` requests (default 2000) per case; a
round's requests are made before it is timed. Prints µs per request, the best round and
the median (short rounds, many: on a shared machine some land in a quiet moment).

``--base DIR`` also runs another checkout's simulator (DIR is its ``python/`` directory)
in a second process, rounds alternating between the two, and prints old/new: of the best
rounds and of the medians. ``--check`` (needs ``--base``) instead sends both the same
varied requests (tools, JSON modes, n>1, logprobs, stop strings, streams, faults, invalid
bodies; several families and profiles), with ids and times made deterministic, and fails
unless every answer is byte-identical.

    PYTHONPATH=python .venv/bin/python bench/sim_fresh_cost.py [--n 2000] [--rounds 15]
    PYTHONPATH=python .venv/bin/python bench/sim_fresh_cost.py --base ../base/python
    PYTHONPATH=python .venv/bin/python bench/sim_fresh_cost.py --base ../base/python --check
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import MODEL, UNIQUE_MARK, body

CASES = ("fresh", "repeat")


# --- timing (runs in a child per tree) ------------------------------------------------------


def _worker() -> Any:
    from provocapi.sim.app import SimWorker
    from provocapi.sim.config import SimConfig

    return SimWorker(SimConfig(model=MODEL, port=0, output_tokens=64))


def _requests(n: int, tag: str, fresh: bool) -> list[Any]:
    from provocapi.sim.server import SimRequest

    raw = orjson.dumps(body(False, unique=True))
    out = []
    for i in range(n):
        b = raw.replace(UNIQUE_MARK.encode(), f"{tag}{i}".encode()) if fresh else raw
        out.append(SimRequest(b"POST", b"/v1/chat/completions", {}, b, True))
    return out


def _round(worker: Any, case: str, n: int, k: int) -> float:
    reqs = _requests(n, f"r{k}-", case == "fresh")
    if case == "repeat":
        worker(reqs[0], None)  # remembered, its template made
        worker(reqs[0], None)
    t0 = time.perf_counter()
    for r in reqs:
        worker(r, None)
    return (time.perf_counter() - t0) / n * 1e6


def child_timing(n: int) -> None:
    """Serve rounds on request: a case name on stdin, µs per request on stdout."""
    worker = _worker()
    _round(worker, "fresh", 200, -1)  # warm up
    k = 0
    for line in sys.stdin:
        k += 1
        print(f"{_round(worker, line.strip(), n, k):.3f}", flush=True)


# --- byte-identity check (runs in a child per tree) -----------------------------------------


class _Conn:
    """Collects what a streamed answer writes."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                    "unit": {"type": "string", "enum": ["c", "f"]},
                },
                "required": ["city"],
            },
        },
    },
    {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
]
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def chat_bodies() -> list[Any]:
    m = MODEL
    user = [{"role": "user", "content": "Hello there, how are you today?"}]
    sys_user = [{"role": "system", "content": "  Be brief.  "}, *user]
    call_history = [
        *user,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "abcDEF123",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "sunny, 20C"},
    ]
    out: list[Any] = [
        body(False),
        body(True),
        {**body(False), "messages": sys_user},
        {"model": m, "messages": user},
        {"model": "other-model", "messages": user, "max_tokens": 3},
        {"model": m, "messages": user, "max_tokens": 0},
        {"model": m, "messages": user, "max_tokens": 1},
        {"model": m, "messages": user, "max_completion_tokens": 5, "max_tokens": 9},
        {"model": m, "messages": user, "min_tokens": 100},
        {"model": m, "messages": user, "min_tokens": 600, "n": 2},  # past the prose cache
        {"model": m, "messages": user, "max_tokens": 7, "ignore_eos": True},
        {"model": m, "messages": user, "seed": 42, "temperature": 0},
        {"model": m, "messages": user, "seed": "7", "n": "2", "temperature": "0.5"},
        {"model": m, "messages": user, "n": 3},
        {"model": m, "messages": user, "n": 2, "logprobs": True},
        {"model": m, "messages": user, "logprobs": True, "top_logprobs": 3, "max_tokens": 4},
        {"model": m, "messages": user, "stop": "words"},
        {"model": m, "messages": user, "stop": ["model", "xyz"]},
        {"model": m, "messages": user, "stop": ["e"], "include_stop_str_in_output": True},
        {"model": m, "messages": user, "stop": [""]},
        {"model": m, "messages": user, "stop": None, "stop_token_ids": [1, 2]},
        {"model": m, "messages": user, "tools": TOOLS},
        {"model": m, "messages": user, "tools": TOOLS, "tool_choice": "required"},
        {"model": m, "messages": user, "tools": TOOLS, "tool_choice": "none"},
        {
            "model": m,
            "messages": user,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {
            "model": m,
            "messages": user,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "max_tokens": 4,
        },
        {"model": m, "messages": call_history, "tools": TOOLS},
        {"model": m, "messages": call_history},
        {"model": m, "messages": user, "tools": TOOLS, "n": 2, "logprobs": True},
        {"model": m, "messages": user, "response_format": {"type": "json_object"}},
        {"model": m, "messages": user, "response_format": {"type": "text"}},
        {
            "model": m,
            "messages": user,
            "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}},
        },
        {"model": m, "messages": user, "response_format": {"type": "json", "schema": SCHEMA}},
        {"model": m, "messages": user, "response_format": {"type": "json"}},
        {"model": m, "messages": user, "response_format": {"type": "regex"}},
        {"model": m, "messages": user, "response_format": {"type": "bogus"}},
        {"model": m, "messages": user, "response_format": {}},
        {"model": m, "messages": user, "response_format": "json"},
        {
            "model": m,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, "b"]}],
        },
        {"model": m, "messages": [{"role": "user", "content": 'é ü 日本語 🎉 "q" \\ \n\t'}]},
        {"model": m, "messages": [{"role": "user"}]},
        {
            "model": m,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
        },
        {"model": m, "messages": [{"role": "user", "content": None}]},
        {"model": m, "messages": []},
        {"model": m, "messages": [*user, {"role": "assistant", "content": "Hi."}, *user]},
        {"model": m, "messages": user, "prompt_token_ids": [1, 2, 3, 4]},
        {"model": m, "messages": user, "chat_template": "{{ x }}"},
        {"model": m, "messages": user, "add_special_tokens": True},
        {"model": m, "messages": user, "add_generation_prompt": False},
        {"model": m, "messages": user, "priority": 0.5},
        {"model": m, "messages": user, "user": "u1", "logit_bias": {"1": 2}},
        {"model": m, "messages": user, "stream": True, "stream_options": {"include_usage": True}},
        {
            "model": m,
            "messages": user,
            "stream": True,
            "n": 2,
            "logprobs": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        },
        {"model": m, "messages": user, "stream": True, "tools": TOOLS},
        {
            "model": m,
            "messages": user,
            "stream": True,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "noop"}},
        },
        {"model": m, "messages": user, "stream": True, "stop": "model"},
        {"model": m, "messages": [{"role": "user", "content": "[sim:status=503] hi"}]},
        {"model": m, "messages": [{"role": "user", "content": "[sim:garbage] hi"}]},
        {"model": m, "messages": [{"role": "user", "content": "[sim:finish=timeout] hi"}]},
        {"model": m, "messages": [{"role": "user", "content": "[sim:drop_after=2] hi"}]},
        {
            "model": m,
            "stream": True,
            "messages": [{"role": "user", "content": "[sim:drop_after=2] hi"}],
        },
        {"model": m, "messages": [{"role": "user", "content": "[sim:delay_ms=1] hi"}]},
        # invalid
        {"messages": user},
        {"model": m},
        {"model": m, "messages": user, "foo": 1, "bar": None},
        {"model": m, "messages": user, "n": "x", "temperature": "warm", "stream": "maybe"},
        {"model": m, "messages": user, "n": 1.5, "top_k": None, "echo": None},
        {"model": m, "messages": user, "n": None, "max_tokens": None, "logprobs": None},
        {"model": m, "messages": "hi"},
        {"model": m, "messages": [{"content": "no role"}, "str"]},
        {"model": m, "messages": user, "stream_options": {"include_usage": True}},
        {"model": m, "messages": user, "tool_choice": "required"},
        {"model": m, "messages": user, "top_logprobs": 2},
        {"model": m, "messages": user, "suffix": "x"},
        {"model": m, "messages": user, "tools": [{"type": "function"}, 3]},
        {"model": m, "messages": user, "tools": "x"},
        {"model": m, "messages": user, "tools": TOOLS, "tool_choice": "sometimes"},
        {"model": m, "messages": user, "tools": TOOLS, "tool_choice": {"function": {}}},
        {"model": m, "messages": user, "stop": [1]},
        {"model": m, "messages": user, "stop_token_ids": ["a"]},
        {"model": m, "messages": user, "logit_bias": 3, "user": 5, "stream": 2},
        {"model": m, "messages": user, "lora_request": {"lora_name": "a"}},
        {
            "model": m,
            "messages": user,
            "lora_request": {"lora_name": "a", "lora_int_id": 1, "lora_path": "/nonexistent"},
        },
        {"model": m, "messages": user, "lora_request": 5},
        [1, 2],
        "a string",
        None,
    ]
    # every field with values of every JSON type (validation's type checks and their order)
    from provocapi import trtllm_protocol

    values: list[Any] = [None, True, False, 0, 1, 2, 1.0, 1.5, -1, "x", "1", "true", [], ["a"], {}]
    # each twice, with other messages: the second body of a shape takes the worker's
    # known-shape way (only its messages checked), so a wrong shape match would show
    other = [{"role": "user", "content": "Another question?"}]
    bad_id = [*call_history[:2], {"role": "tool", "tool_call_id": "bad", "content": "x"}]
    for name in sorted(trtllm_protocol.CHAT_COMPLETION_FIELDS):
        for v in values:
            for msgs in (user, other, [{"content": "no role"}], bad_id):
                out.append({"model": m, "messages": msgs, name: v, "max_tokens": 3})
    for i in range(40):  # fresh prompts of several lengths
        text = f"Question {i}: " + " ".join(["why is the sky blue?"] * (i % 7 + 1))
        out.append({"model": m, "messages": [{"role": "user", "content": text}], "n": 1 + i % 2})
    return out


def completion_bodies() -> list[Any]:
    from provocapi import trtllm_protocol

    m = MODEL
    sweep: list[Any] = [
        {"model": m, "prompt": "p", name: v, "max_tokens": 3}
        for name in sorted(trtllm_protocol.COMPLETION_FIELDS)
        for v in [None, True, 1, 1.5, "x", [], {}]
    ]
    return [
        *sweep,
        {"model": m, "prompt": "Once upon a time"},
        {"model": m, "prompt": ["a", "b"], "n": 2, "echo": True},
        {"model": m, "prompt": [1, 2, 3], "logprobs": 2, "max_tokens": 3},
        {"model": m, "prompt": [[1, 2], [3]]},
        {"model": m, "prompt": "x", "stream": True, "stream_options": {"include_usage": True}},
        {"model": m, "prompt": "x", "stop": "the", "add_special_tokens": False},
        {"model": m, "prompt": []},
        {"model": m},
        {"model": m, "prompt": "x", "foo": 1},
    ]


CONFIGS: list[dict[str, Any]] = [
    {},
    {"output_tokens": 64},
    {"output_tokens": 200, "seed": 5},
    {"family": "qwen2", "tool_parser": "qwen3", "model": "qwen-2.5-72b-instruct"},
    {"family": "mistral", "model": "mistral-small-3-24b"},
    {"tokenizer": "none"},
    {"openai": True},
    {"openai": True, "tokenizer": "llama3"},
    {"priority": True, "max_batch": 4},
    {"ignore_fields": ("seed", "stop"), "refuse_fields": ("top_k",)},
    {"broken_fields": ("tools", "logprobs")},
    {"openai": True, "broken_fields": ("tools",), "ignore_fields": ("n",)},
]


def child_check() -> None:
    """Answers of every body under every config, ids and times made deterministic."""
    import random

    from provocapi.sim.app import SimWorker
    from provocapi.sim.config import SimConfig
    from provocapi.sim.server import SimRequest

    rnd = random.Random(0)
    os.urandom = lambda k: rnd.randbytes(k)  # type: ignore[assignment]
    time.time = lambda: 1_700_000_000.25  # type: ignore[assignment]
    digest = hashlib.sha256()
    loop = asyncio.new_event_loop()
    for extra in CONFIGS:
        cfg = SimConfig(**{"model": MODEL, "port": 0, **extra})
        rnd.seed(0)
        w = SimWorker(cfg)
        cases = [(b"/v1/chat/completions", b) for b in chat_bodies()]
        cases += [(b"/v1/completions", b) for b in completion_bodies()]
        raws = [(p, orjson.dumps(b)) for p, b in cases]
        raws += [(b"/v1/chat/completions", b""), (b"/v1/chat/completions", b"{nope")]
        for rep in range(3):  # fresh, then the memo's two ways
            for path, raw in raws:
                conn = _Conn()
                try:  # the openai profile does not validate: some bodies raise
                    r = w(SimRequest(b"POST", path, {}, raw, rep != 1), conn)  # type: ignore[arg-type]
                    if r is not None and not isinstance(r, bytes):
                        r = loop.run_until_complete(r)  # type: ignore[arg-type]
                except Exception as e:
                    r = f"<raised {type(e).__name__}: {e}>".encode()
                out = b"".join(conn.out) + (r or b"") + (b"<closed>" if conn.closed else b"")
                line = json.dumps([extra, rep, path.decode(), raw.decode(), out.decode()])
                digest.update(line.encode())
                print(line)
        stats = w(SimRequest(b"GET", b"/sim/stats", {}, b"", True), _Conn())  # type: ignore[arg-type]
        print(json.dumps([extra, "stats", stats.decode()]))  # type: ignore[union-attr]
    print(json.dumps(["digest", digest.hexdigest()]))


# --- the parent --------------------------------------------------------------------------------


def _spawn(pythonpath: str, mode: str, n: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--n", str(n)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def check(base: str, new: str) -> int:
    outs = []
    for path in (base, new):
        p = _spawn(path, "check", 0)
        out, _ = p.communicate(timeout=600)
        if p.returncode:
            sys.exit(f"check child ({path}) failed")
        outs.append(out.splitlines())
    old, cur = outs
    diffs = [(a, b) for a, b in zip(old, cur, strict=False) if a != b]
    print(f"{len(cur)} answers compared ({len(old)} before)")
    for a, b in diffs[:5]:
        print("- " + a[:600] + "\n+ " + b[:600])
    same = not diffs and len(old) == len(cur)
    print("byte-identical" if same else f"{len(diffs)} answers differ")
    return 0 if same else 1


def timing(sides: dict[str, str], n: int, rounds: int) -> None:
    procs = {name: _spawn(path, "timing", n) for name, path in sides.items()}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for case in CASES:
            for name, p in procs.items():  # alternated: both see the same noise
                assert p.stdin and p.stdout
                p.stdin.write(case + "\n")
                p.stdin.flush()
                times.setdefault((name, case), []).append(float(p.stdout.readline()))
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    for p in procs.values():
        assert p.stdin
        p.stdin.close()
        p.wait(timeout=60)
    print(f"{rounds} rounds of {n} requests, µs/request: best (median)")
    head = "case    " + "".join(f"{name:>18}" for name in sides)
    print(head + ("   old/new best (median)" if len(sides) == 2 else ""))
    for case in CASES:
        row = f"{case:<8}" + "".join(
            f"{best[name, case]:10.2f} ({median[name, case]:5.2f})" for name in sides
        )
        if len(sides) == 2:
            ratio = best["base", case] / best["new", case]
            row += f"{ratio:14.2f}x ({median['base', case] / median['new', case]:.2f}x)"
        print(row)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--base", help="the python/ directory of the checkout to compare with")
    ap.add_argument("--check", action="store_true", help="compare answers byte for byte")
    ap.add_argument("--child", choices=("timing", "check"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "timing":
        return child_timing(args.n)
    if args.child == "check":
        return child_check()
    new = str(Path(os.environ.get("PYTHONPATH", "python")).resolve())
    if args.check:
        if not args.base:
            sys.exit("--check needs --base")
        sys.exit(check(str(Path(args.base).resolve()), new))
    sides = {"new": new} if not args.base else {"base": str(Path(args.base).resolve()), "new": new}
    timing(sides, args.n, args.rounds)


if __name__ == "__main__":
    main()
