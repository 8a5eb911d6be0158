"""Runs last (file order): after every bad input above, the gateway still serves."""

from __future__ import annotations

import httpx2
import openai

from .conftest import Stack


def test_still_serving(stack: Stack, client: openai.OpenAI, raw: httpx2.Client) -> None:
    assert stack.gateway.alive(), f"the gateway died:\n{stack.gateway.output()}"
    for model, proc in stack.sim_procs.items():
        assert proc.alive(), f"simulator {model} died:\n{proc.output()}"
    assert raw.get("/health").status_code == 200
    resp = client.chat.completions.create(
        model="llama-3.1-8b-instruct",
        messages=[{"role": "user", "content": "still there?"}],
        max_tokens=4,
    )
    assert resp.choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            model="mistral-small-3-24b",
            messages=[{"role": "user", "content": "still there?"}],
            max_tokens=4,
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason in {"stop", "length"}
    assert len(client.embeddings.create(model="bge-m3", input="x").data[0].embedding) == 1024
