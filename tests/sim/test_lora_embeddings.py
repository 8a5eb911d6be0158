"""LoRA requests (the path must exist on the worker) and the embedding server."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from pathlib import Path

from .client import post

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


async def test_lora_path_must_exist(sim, lora_dir: Path) -> None:
    s = await sim("--model", "m")
    ok = {"lora_name": "sql", "lora_int_id": 1, "lora_path": str(lora_dir)}
    assert (await post(s.port, "/v1/chat/completions", {**CHAT, "lora_request": ok})).status == 200
    assert (
        await post(s.port, "/v1/completions", {"model": "m", "prompt": "x", "lora_request": ok})
    ).status == 200
    missing = {**ok, "lora_path": str(lora_dir / "nope")}
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "lora_request": missing})
    assert r.status == 400
    assert f"lora_path ({lora_dir / 'nope'}) does not exist." in r.json()["error"]
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**CHAT, "lora_request": {"lora_name": "sql", "lora_path": str(lora_dir)}},
    )
    assert r.status == 400
    assert "('body', 'lora_request', 'lora_int_id')" in r.json()["error"]
    # lora_path defaults to "", which does not exist either
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**CHAT, "lora_request": {"lora_name": "sql", "lora_int_id": 1}},
    )
    assert r.status == 400 and "lora_path () does not exist." in r.json()["error"]


async def test_embeddings_float_and_base64(sim) -> None:
    s = await sim("--model", "bge-m3", "--embedding", "--dimensions", "32")
    r = await post(s.port, "/v1/embeddings", {"model": "bge-m3", "input": ["alpha", "beta"]})
    assert r.status == 200
    body = r.json()
    assert body["object"] == "list" and body["id"].startswith("embd-")
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert list(body["data"][0]) == ["index", "object", "embedding"]
    vecs = [d["embedding"] for d in body["data"]]
    assert all(len(v) == 32 for v in vecs)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-6 for v in vecs)
    assert vecs[0] != vecs[1]
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    b = (
        await post(
            s.port,
            "/v1/embeddings",
            {"model": "bge-m3", "input": "alpha", "encoding_format": "base64"},
        )
    ).json()
    raw = base64.b64decode(b["data"][0]["embedding"])
    decoded = struct.unpack("<32f", raw)
    assert all(abs(x - y) < 1e-6 for x, y in zip(decoded, vecs[0], strict=True))
    small = (
        await post(s.port, "/v1/embeddings", {"model": "bge-m3", "input": "alpha", "dimensions": 8})
    ).json()
    assert len(small["data"][0]["embedding"]) == 8
    too_big = await post(
        s.port, "/v1/embeddings", {"model": "bge-m3", "input": "a", "dimensions": 64}
    )
    assert too_big.status == 400 and too_big.json()["object"] == "error"
    tokens = (
        await post(s.port, "/v1/embeddings", {"model": "bge-m3", "input": [[1, 2, 3], [4, 5]]})
    ).json()
    assert tokens["usage"]["prompt_tokens"] == 5 and len(tokens["data"]) == 2
    # an embedding server has no generation routes
    assert (await post(s.port, "/v1/chat/completions", CHAT)).status == 404


async def test_embedding_queue_full_is_429(fresh_sim) -> None:
    s = await fresh_sim("--model", "bge-m3", "--embedding", "--dimensions", "8", "--max-queue", "1")
    slow = asyncio.create_task(
        post(s.port, "/v1/embeddings", {"model": "bge-m3", "input": "x [sim:delay_ms=300]"})
    )
    await asyncio.sleep(0.1)
    r = await post(s.port, "/v1/embeddings", {"model": "bge-m3", "input": "y"})
    assert r.status == 429
    assert r.json()["message"] == "Embedding request queue is full; retry later."
    assert (await slow).status == 200
