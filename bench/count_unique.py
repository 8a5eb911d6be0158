"""Counting prompts the gateway has never seen, against tiktoken, in one run.

    .venv/bin/python bench/count_unique.py [--core path/to/_core.abi3.so] [--rounds 5]
        [--n 8] [--base main/_core.abi3.so] [--window 0] [--families llama3,qwen2.5,tekken]
        [--scripts English,CJK,...] [--out bench/results/count-unique-DATE.md]

Per family (llama3, qwen2.5, tekken) and per script (English, CJK, Cyrillic, code, and the
old mixed text: ~20 KB each, bench/count_texts.py; and the floor's ~800-character prompt
with a unique ticket number), tokens/s of:

- `core`: `Tokenizer.count` as the gateway runs it (segment cache on, but every text is new;
  the word cache remembers words seen in earlier texts: the CJK and Cyrillic texts reuse a
  small pool of sentences, so there this column flatters);
- `core cold`: the same with `PROVOCAPI_TOKEN_CACHE=0` (no cache of any kind);
- `tiktoken`: `len(Encoding.encode_ordinary(text))` with the same ranks and pattern.

The counters run alternated within each round on the same texts (a noisy neighbour slows all
of them in that round; time is the thread's CPU time, so preemption is not counted) and
the ratios reported are medians of the per-round ratios. The
counts must agree with tiktoken's (a disagreement stops the run). `--core` loads another
build of the core instead of the installed one; `--base` adds another build's cold count
(e.g. main's `_core.abi3.so`, copied aside) to the alternation, as a before/after.

`--window S` counts each round's texts over and over until S seconds of CPU time have passed
per counter and round: a floor-prompt round is otherwise ~1,200 tokens (a few hundred
microseconds), and one throttled slice moves its rate, and every ratio to it, by ±30%. With a
window, repeats of a text reach the `core` column's caches, so it flatters more; the cold,
base and tiktoken columns have none.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from count_texts import SCRIPTS  # noqa: E402
from floor import PROMPT  # noqa: E402
from provocapi.vocab import source  # noqa: E402

FAMILIES = ("llama3", "qwen2.5", "tekken")
IMPLS = ("core", "core cold", "tiktoken")

# The core's hand-written splitters implement exactly these patterns (rust/src/tokens/split.rs).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")


def floor_prompts(n: int, seed: int = 1) -> list[str]:
    """The floor's prompt, sentences shuffled, with a unique ticket number."""
    rng = random.Random(seed)
    sentences = [s.strip() + "." for s in PROMPT.split(".") if s.strip()]
    out = []
    for i in range(n):
        rng.shuffle(sentences)
        out.append(f"Ticket {i * 7919 + 13}. " + " ".join(sentences))
    return out


def _byte_level_chars() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the char that stands for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, shifted = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            shifted += 1
            chars[chr(255 + shifted)] = b
    return chars


def tiktoken_encoding(name: str) -> Any:
    """A tiktoken Encoding with the family's ranks and pattern (no special tokens)."""
    import tiktoken

    src = source(name)
    assert src is not None
    path = src[0]
    if name == "qwen2.5":
        ranks = {}
        for line in path.read_text().splitlines():
            if line:
                token, rank = line.split(" ")
                ranks[base64.b64decode(token)] = int(rank)
        pattern = QWEN_PATTERN
    elif name == "llama3":
        chars = _byte_level_chars()
        vocab = json.loads(path.read_text())["model"]["vocab"]
        ranks = {bytes(chars[c] for c in t): i for t, i in vocab.items()}
        pattern = LLAMA3_PATTERN
    else:
        data = json.loads(path.read_text())
        cfg = data["config"]
        inner = cfg["default_vocab_size"] - cfg["default_num_special_tokens"]
        ranks = {base64.b64decode(t["token_bytes"]): t["rank"] for t in data["vocab"][:inner]}
        pattern = cfg["pattern"]
    return tiktoken.Encoding(
        f"bench-{name}", pat_str=pattern, mergeable_ranks=ranks, special_tokens={}
    )


def load_core(path: str | None) -> ModuleType:
    if not path:
        from provocapi import _core

        return _core
    spec = importlib.util.spec_from_file_location("_core", path)
    assert spec and spec.loader
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    return core


def cold_tokenizer(core: ModuleType, src: tuple[Path, str]) -> Any:
    saved = os.environ.get("PROVOCAPI_TOKEN_CACHE")
    os.environ["PROVOCAPI_TOKEN_CACHE"] = "0"  # read when a tokenizer is built
    try:
        return core.Tokenizer(str(src[0]), src[1])
    finally:
        if saved is None:
            del os.environ["PROVOCAPI_TOKEN_CACHE"]
        else:
            os.environ["PROVOCAPI_TOKEN_CACHE"] = saved


def counters(
    core: ModuleType, name: str, base: ModuleType | None
) -> dict[str, Callable[[str], int]]:
    src = source(name)
    assert src is not None
    enc = tiktoken_encoding(name)
    fns = {
        "core": core.Tokenizer(str(src[0]), src[1]).count,
        "core cold": cold_tokenizer(core, src).count,
        "tiktoken": lambda t: len(enc.encode_ordinary(t)),
    }
    if base is not None:
        fns["base cold"] = cold_tokenizer(base, src).count
    return fns


def timed(fn: Callable[[str], int], texts: list[str], window: float) -> tuple[int, int, float]:
    """The count of one pass over `texts`, and tokens counted and CPU seconds over passes
    repeated until `window` seconds have passed (one pass when 0)."""
    # the thread's CPU time: time slices given to neighbours on a shared machine don't count
    start = time.thread_time()
    first = tokens = sum(fn(t) for t in texts)
    while (secs := time.thread_time() - start) < window:
        tokens += sum(fn(t) for t in texts)
    return first, tokens, secs


def measure(
    fns: dict[str, Callable[[str], int]], rounds: list[list[str]], window: float = 0.0
) -> dict[str, list[float]]:
    """Tokens/s of each counter, per round, the counters' order rotating between rounds."""
    for name, fn in fns.items():  # warm-up on texts not measured below
        fn(rounds[0][0] + " warm-up " + name)
    rates: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r, texts in enumerate(rounds):
        counts = {}
        for name in names[r % len(names) :] + names[: r % len(names)]:
            counts[name], tokens, secs = timed(fns[name], texts, window)
            rates[name].append(tokens / secs)
        if len(set(counts.values())) != 1:
            raise SystemExit(f"counts disagree: {counts}")
    return rates


def ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", help="a _core shared object to load instead of the installed one")
    ap.add_argument("--base", help="another build's _core (e.g. main's) to compare, cold")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=8, help="20 KB texts per script and round")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument(
        "--scripts", help="only these texts (comma-separated; the floor prompt is always in)"
    )
    ap.add_argument(
        "--window", type=float, default=0.0, help="CPU seconds per counter and round (repeats)"
    )
    ap.add_argument("--out", help="also write the table (Markdown) to this file")
    args = ap.parse_args()
    core = load_core(args.core)
    base = load_core(args.base) if args.base else None
    chosen = args.scripts.split(",") if args.scripts else list(SCRIPTS)
    if unknown := set(chosen) - set(SCRIPTS):
        raise SystemExit(f"unknown --scripts {sorted(unknown)}; known: {', '.join(SCRIPTS)}")
    texts = {"floor prompt": floor_prompts(args.n * 25 * args.rounds)}
    texts.update({s: SCRIPTS[s](args.n * args.rounds) for s in chosen if s in SCRIPTS})
    lines = [
        "| family | text | core tok/s | core cold tok/s | tiktoken tok/s "
        "| core / tiktoken | cold / tiktoken | cold / cold floor prompt |"
        + (" base cold tok/s | cold / base cold |" if base else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if base else ""),
    ]
    print(lines[0])
    for family in args.families.split(","):
        fns = counters(core, family, base)
        rates = {}
        for script, ts in texts.items():
            per = len(ts) // args.rounds
            rounds = [ts[i * per : (i + 1) * per] for i in range(args.rounds)]
            rates[script] = measure(fns, rounds, args.window)
        floor = rates["floor prompt"]["core cold"]
        for script, rs in rates.items():
            med = {k: statistics.median(v) for k, v in rs.items()}
            line = (
                f"| {family} | {script} | {med['core']:,.0f} | {med['core cold']:,.0f} "
                f"| {med['tiktoken']:,.0f} | {ratio(rs['core'], rs['tiktoken']):.2f} "
                f"| {ratio(rs['core cold'], rs['tiktoken']):.2f} "
                f"| {ratio(rs['core cold'], floor):.2f} |"
            )
            if "base cold" in rs:
                line += (
                    f" {med['base cold']:,.0f} | {ratio(rs['core cold'], rs['base cold']):.2f} |"
                )
            lines.append(line)
            print(line, flush=True)
    if args.out:
        cmd = " ".join(["bench/count_unique.py", *sys.argv[1:]])
        window = f", {args.window:g} s of CPU time per counter and round" if args.window else ""
        head = f"`{cmd}` ({args.rounds} alternated rounds{window}, medians)\n\n"
        Path(args.out).write_text(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
