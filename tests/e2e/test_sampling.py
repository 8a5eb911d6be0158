"""Sampling defaults are the gateway's: the worker is sent them when the client gives none."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from .conftest import Stack

MODEL = "qwen-2.5-72b-instruct"


def worker_got(stack: Stack) -> dict[str, Any]:
    with httpx2.Client(trust_env=False, timeout=10.0) as c:
        stats = c.get(f"{stack.sims[MODEL]}/sim/stats").json()
    got = stats["last_sampling"]
    assert isinstance(got, dict)
    return got


@pytest.mark.parametrize("stream", [False, True])
def test_defaults_reach_the_worker(client: openai.OpenAI, stack: Stack, stream: bool) -> None:
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f"defaults, streamed={stream}"}],
        max_tokens=4,
        stream=stream,
    )
    if stream:
        assert list(resp)  # type: ignore[arg-type]
    got = worker_got(stack)
    assert (got["temperature"], got["top_p"]) == (1.0, 1.0)
    assert not {"seed", "n", "stop"} & set(got)


def test_the_clients_values_pass_through(client: openai.OpenAI, stack: Stack) -> None:
    resp = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "given"}],
        max_tokens=4,
        temperature=0.2,
        top_p=0.9,
        seed=1234,
        n=2,
        stop=["\n\n", "END"],
    )
    assert len(resp.choices) == 2
    got = worker_got(stack)
    assert got == {"temperature": 0.2, "top_p": 0.9, "seed": 1234, "n": 2, "stop": ["\n\n", "END"]}


def test_completions_get_the_defaults_too(client: openai.OpenAI, stack: Stack) -> None:
    client.completions.create(model=MODEL, prompt="legacy defaults", max_tokens=4, seed=5)
    got = worker_got(stack)
    assert (got["temperature"], got["top_p"], got["seed"]) == (1.0, 1.0, 5)


def test_five_stop_sequences_are_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            stop=["a", "b", "c", "d", "e"],
        )
    assert isinstance(ei.value.body, dict)
    assert (ei.value.body["code"], ei.value.body["param"]) == ("invalid_value", "stop")
