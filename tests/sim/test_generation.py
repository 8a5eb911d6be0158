"""Deterministic answers: lengths, stops, choices, usage, delays."""

from __future__ import annotations

import time

from provocapi.sim.textgen import WORDS

from .client import post


def chat(content: str, **kw: object) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": content}], **kw}


async def test_same_prompt_same_answer_seed_changes_it(sim) -> None:
    a = await sim("--model", "m", "--seed", "1")
    b = await sim("--model", "m", "--seed", "2")
    r1 = (await post(a.port, "/v1/chat/completions", chat("hello"))).json()
    r2 = (await post(a.port, "/v1/chat/completions", chat("hello"))).json()
    r3 = (await post(b.port, "/v1/chat/completions", chat("hello"))).json()
    r4 = (await post(a.port, "/v1/chat/completions", chat("goodbye"))).json()
    text = r1["choices"][0]["message"]["content"]
    assert text == r2["choices"][0]["message"]["content"]
    assert text != r3["choices"][0]["message"]["content"]
    assert text != r4["choices"][0]["message"]["content"]
    assert all(w in WORDS for w in text.split())


async def test_natural_length_and_max_tokens(sim) -> None:
    s = await sim("--model", "m", "--output-tokens", "12")
    r = (await post(s.port, "/v1/chat/completions", chat("hi"))).json()
    assert r["choices"][0]["finish_reason"] == "stop"
    assert len(r["choices"][0]["message"]["content"].split()) == 12
    assert r["usage"]["completion_tokens"] == 12
    r = (await post(s.port, "/v1/chat/completions", chat("hi", max_tokens=5))).json()
    assert r["choices"][0]["finish_reason"] == "length"
    assert r["usage"]["completion_tokens"] == 5
    assert r["usage"]["total_tokens"] == r["usage"]["prompt_tokens"] + 5
    r = (await post(s.port, "/v1/chat/completions", chat("hi", max_tokens=50))).json()
    assert r["choices"][0]["finish_reason"] == "stop" and r["usage"]["completion_tokens"] == 12
    r = (
        await post(s.port, "/v1/chat/completions", chat("hi", max_tokens=20, min_tokens=15))
    ).json()
    assert r["usage"]["completion_tokens"] == 15
    r = (
        await post(s.port, "/v1/chat/completions", chat("hi", max_tokens=20, ignore_eos=True))
    ).json()
    assert r["usage"]["completion_tokens"] == 20 and r["choices"][0]["finish_reason"] == "length"


async def test_prompt_tokens_grow_with_the_prompt(sim) -> None:
    s = await sim("--model", "m")
    short = (await post(s.port, "/v1/chat/completions", chat("hi"))).json()
    long = (await post(s.port, "/v1/chat/completions", chat("hi " * 100))).json()
    assert long["usage"]["prompt_tokens"] > short["usage"]["prompt_tokens"] + 50


async def test_stop_strings(sim) -> None:
    s = await sim("--model", "m", "--output-tokens", "20")
    full = (await post(s.port, "/v1/chat/completions", chat("stop me"))).json()
    words = full["choices"][0]["message"]["content"].split()
    target = words[5]
    cut = words.index(target)
    r = (await post(s.port, "/v1/chat/completions", chat("stop me", stop=[target]))).json()
    choice = r["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["stop_reason"] == target
    assert choice["message"]["content"].split() == words[:cut]
    assert r["usage"]["completion_tokens"] == cut + 1
    stream = await post(
        s.port,
        "/v1/chat/completions",
        chat("stop me", stop=target, include_stop_str_in_output=True, stream=True),
    )
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in stream.chunks()[1:])
    assert text.split() == [*words[:cut], target]
    assert stream.chunks()[-1]["choices"][0]["stop_reason"] == target


async def test_n_choices(sim) -> None:
    s = await sim("--model", "m", "--output-tokens", "6")
    r = (await post(s.port, "/v1/chat/completions", chat("many", n=3))).json()
    assert [c["index"] for c in r["choices"]] == [0, 1, 2]
    texts = {c["message"]["content"] for c in r["choices"]}
    assert len(texts) == 3
    assert r["usage"]["completion_tokens"] == 18


async def test_completions_echo_and_token_prompts(sim) -> None:
    s = await sim("--model", "m", "--output-tokens", "3")
    r = (
        await post(s.port, "/v1/completions", {"model": "m", "prompt": "Hi there", "echo": True})
    ).json()
    assert r["choices"][0]["text"].startswith("Hi there")
    r = (await post(s.port, "/v1/completions", {"model": "m", "prompt": [1, 2, 3, 4]})).json()
    assert r["usage"]["prompt_tokens"] == 4


async def test_ttft_and_token_delay(fresh_sim) -> None:
    s = await fresh_sim(
        "--model", "m", "--ttft-ms", "150", "--token-delay-ms", "10", "--output-tokens", "5"
    )
    t0 = time.monotonic()
    r = await post(s.port, "/v1/chat/completions", chat("slow"))
    elapsed = time.monotonic() - t0
    assert r.status == 200 and 0.19 <= elapsed < 1.0
    t0 = time.monotonic()
    r = await post(s.port, "/v1/chat/completions", chat("slow [sim:delay_ms=200]"))
    assert time.monotonic() - t0 >= 0.39


async def test_error_rate(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--error-rate", "1")
    r = await post(s.port, "/v1/chat/completions", chat("x"))
    assert r.status == 500 and r.json()["type"] == "InternalServerError"
    s = await fresh_sim("--model", "m", "--error-rate", "0.5", "--seed", "3")
    statuses = [(await post(s.port, "/v1/chat/completions", chat("x"))).status for _ in range(40)]
    assert 5 < statuses.count(500) < 35 and statuses.count(200) + statuses.count(500) == 40


async def test_drop_rate(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--drop-rate", "1", "--output-tokens", "8")
    r = await post(s.port, "/v1/chat/completions", chat("x", stream=True))
    assert not r.complete and b"[DONE]" not in r.body
    assert s.worker.stats.dropped == 1
    ok = await post(s.port, "/v1/chat/completions", chat("x"))
    assert ok.status == 200  # non-streaming answers are not dropped by the rate


async def test_max_queue(fresh_sim) -> None:
    import asyncio

    s = await fresh_sim("--model", "m", "--max-queue", "1")
    slow = asyncio.create_task(
        post(s.port, "/v1/chat/completions", chat("wait [sim:delay_ms=300]"))
    )
    await asyncio.sleep(0.1)
    r = await post(s.port, "/v1/chat/completions", chat("x"))
    assert r.status == 429 and r.json()["code"] == 429
    assert (await slow).status == 200
