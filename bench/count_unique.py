"""Counting prompts the gateway has never seen: µs per `Tokenizer.count` call.

    .venv/bin/python bench/count_unique.py [--core path/to/_core.abi3.so] [--n 1000]

Texts: the floor's ~800-character prompt (bench/floor.py) with its sentences shuffled and
a unique ticket number, so no two are alike and the segment cache never helps; and a long
(~20 KB) mixed text (the admission corpus, code, JSON) with a unique mark. `--core` loads
another build of the core (e.g. main's, copied aside) to compare builds in the same period.
Also times the `tokenizers` Python package on the same Llama 3 texts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from floor import PROMPT  # noqa: E402
from provocapi.vocab import source  # noqa: E402

CORPUS = BENCH.parent / "tests" / "admission" / "corpus.jsonl"


def prompts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    sentences = [s.strip() + "." for s in PROMPT.split(".") if s.strip()]
    out = []
    for i in range(n):
        rng.shuffle(sentences)
        out.append(f"Ticket {i * 7919 + 13}. " + " ".join(sentences))
    return out


def long_texts(n: int) -> list[str]:
    corpus = "\n".join(json.loads(x) for x in CORPUS.read_text().split("\n") if x)
    code = (BENCH / "floor.py").read_text()[:6000]
    base = corpus + "\n" + code + "\n" + json.dumps({"p": PROMPT, "xs": list(range(200))})
    base = (base * 4)[:20_000]
    return [f"[{i}] " + base for i in range(n)]


def per_call_us(fn: Any, texts: list[str]) -> float:
    for t in texts[:20]:  # warm-up on texts not measured again below
        fn(t + "warm")
    start = time.perf_counter()
    for t in texts:
        fn(t)
    return (time.perf_counter() - start) / len(texts) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", help="a _core shared object to load instead of the installed one")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--reference", action="store_true", help="also the tokenizers package")
    args = ap.parse_args()
    if args.core:
        spec = importlib.util.spec_from_file_location("_core", args.core)
        assert spec and spec.loader
        core = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(core)
    else:
        from provocapi import _core as core
    short, long = prompts(args.n), long_texts(max(20, args.n // 20))
    for name in ("llama3", "qwen2.5", "tekken"):
        src = source(name)
        assert src is not None  # shipped in the package
        tok = core.Tokenizer(str(src[0]), src[1])
        a = per_call_us(tok.count, short)
        b = per_call_us(tok.count, long)
        print(f"{name:8} core      800 chars: {a:8.1f} µs   20 KB: {b:9.1f} µs")
    if args.reference:
        import tokenizers

        src = source("llama3")
        assert src is not None
        ref = tokenizers.Tokenizer.from_file(str(src[0]))

        def count(t: str) -> int:
            return len(ref.encode(t, add_special_tokens=False).ids)

        a, b = per_call_us(count, short), per_call_us(count, long)
        print(f"llama3   tokenizers 800 chars: {a:8.1f} µs   20 KB: {b:9.1f} µs")


if __name__ == "__main__":
    main()
