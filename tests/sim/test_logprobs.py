"""Logprobs in trtllm-serve's shapes.

Pinned against NVIDIA/TensorRT-LLM:
- tensorrt_llm/serve/postprocess_handlers.py at commit 01bf19231d29d8f0766e31c117d1cf39ed00d3d5
  (create_logprobs, create_completion_logprobs, the chat/completion post-processors);
- tensorrt_llm/serve/openai_protocol.py at commit 0076e9390e1ed11515f149eec356f5a03f4a00d8
  (ChatCompletionLogProb(s)/Content, CompletionLogProbs, check_logprobs).
"""

from __future__ import annotations

from typing import Any

import orjson

from .client import post

CHAT: dict[str, Any] = {
    "model": "llama-x",
    "messages": [{"role": "user", "content": "Tell me a story"}],
    "max_tokens": 5,
}
COMPLETION: dict[str, Any] = {"model": "llama-x", "prompt": "Once upon a time", "max_tokens": 5}


def _check_entry(e: dict[str, Any]) -> None:
    assert isinstance(e["token"], str)
    assert -9999.0 <= e["logprob"] <= 0.0
    assert e["bytes"] == list(e["token"].encode("utf-8"))


async def test_chat_logprobs_without_top(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "logprobs": True})
    choice = r.json()["choices"][0]
    content = choice["logprobs"]["content"]
    assert list(choice["logprobs"]) == ["content"]  # no "refusal": trtllm's model has none
    assert "".join(e["token"] for e in content) == choice["message"]["content"]
    assert len(content) == r.json()["usage"]["completion_tokens"]
    for e in content:
        _check_entry(e)
        # model_dump() keeps the unset top_logprobs as null
        assert list(e) == ["token", "logprob", "bytes", "top_logprobs"]
        assert e["top_logprobs"] is None


async def test_chat_top_logprobs_non_streamed(sim) -> None:
    s = await sim("--model", "llama-x")
    body = {**CHAT, "logprobs": True, "top_logprobs": 3}
    r = await post(s.port, "/v1/chat/completions", body)
    content = r.json()["choices"][0]["logprobs"]["content"]
    for e in content:
        _check_entry(e)
        tops = e["top_logprobs"]
        assert len(tops) == 3
        # each alternative is a ChatCompletionLogProbsContent too: a nested null
        assert all(list(t) == ["token", "logprob", "bytes", "top_logprobs"] for t in tops)
        assert all(t["top_logprobs"] is None for t in tops)
        assert tops[0]["token"] == e["token"] and tops[0]["logprob"] == e["logprob"]
        values = [t["logprob"] for t in tops]
        assert values == sorted(values, reverse=True)
        assert len({t["token"] for t in tops}) == 3


async def test_chat_logprobs_streamed_one_token_per_chunk(sim) -> None:
    s = await sim("--model", "llama-x")
    body = {**CHAT, "logprobs": True, "top_logprobs": 2, "stream": True}
    r = await post(s.port, "/v1/chat/completions", body)
    chunks = r.chunks()
    assert "logprobs" not in chunks[0]["choices"][0]  # the role chunk carries none
    tokens = chunks[1:]
    assert len(tokens) == 5
    for c in tokens:
        ch = c["choices"][0]
        (e,) = ch["logprobs"]["content"]
        assert e["token"] == ch["delta"]["content"]
        assert len(e["top_logprobs"]) == 2
        # exclude_none: no nested null in a chunk
        assert all(list(t) == ["token", "logprob", "bytes"] for t in e["top_logprobs"])
    # the same tokens and values as the non-streamed answer
    whole = await post(s.port, "/v1/chat/completions", {**body, "stream": False})
    want = whole.json()["choices"][0]["logprobs"]["content"]
    got = [c["choices"][0]["logprobs"]["content"][0] for c in tokens]
    assert [(e["token"], e["logprob"]) for e in got] == [(e["token"], e["logprob"]) for e in want]


async def test_chat_streamed_without_top_omits_the_key(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "logprobs": True, "stream": True})
    for c in r.chunks()[1:]:
        (e,) = c["choices"][0]["logprobs"]["content"]
        assert list(e) == ["token", "logprob", "bytes"]


async def test_logprobs_are_deterministic_per_seed(sim) -> None:
    s = await sim("--model", "llama-x", "--seed", "3")
    body = {**CHAT, "logprobs": True, "top_logprobs": 2}

    async def values(extra: dict[str, Any]) -> Any:
        r = await post(s.port, "/v1/chat/completions", {**body, **extra})
        return r.json()["choices"][0]["logprobs"]

    assert await values({"seed": 1}) == await values({"seed": 1})
    assert await values({"seed": 1}) != await values({"seed": 2})


async def test_no_logprobs_unless_asked(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "logprobs": False})
    assert r.json()["choices"][0]["logprobs"] is None
    r = await post(s.port, "/v1/completions", {**COMPLETION, "logprobs": 0})
    assert r.json()["choices"][0]["logprobs"] is None  # 0 is falsy: nothing asked


async def test_top_logprobs_needs_logprobs(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "top_logprobs": 0})
    assert r.status == 400
    assert "logprobs must be true when using top_logprobs" in r.json()["error"]


async def test_completion_logprobs_non_streamed(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/completions", {**COMPLETION, "logprobs": 2})
    choice = r.json()["choices"][0]
    lp = choice["logprobs"]
    assert list(lp) == ["text_offset", "token_logprobs", "tokens", "top_logprobs"]
    assert "".join(lp["tokens"]) == choice["text"]
    assert len(lp["token_logprobs"]) == len(lp["tokens"]) == len(lp["top_logprobs"]) == 5
    for tok, value, tops in zip(
        lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], strict=True
    ):
        assert len(tops) == 2 and tops[tok] == value
    # trtllm's offsets: 0, then the previous offset plus the CURRENT token's length
    want = [0]
    for tok in lp["tokens"][1:]:
        want.append(want[-1] + len(tok))
    assert lp["text_offset"] == want


async def test_completion_logprobs_streamed(sim) -> None:
    s = await sim("--model", "llama-x")
    body = {**COMPLETION, "logprobs": 1, "stream": True}
    r = await post(s.port, "/v1/completions", body)
    seen = ""
    for c in r.chunks():
        ch = c["choices"][0]
        lp = ch["logprobs"]
        assert lp["tokens"] == [ch["text"]]
        assert lp["text_offset"] == [len(seen)]  # the output's length before this token
        assert len(lp["top_logprobs"]) == 1 and len(lp["top_logprobs"][0]) == 1
        seen += ch["text"]
    whole = (await post(s.port, "/v1/completions", {**body, "stream": False})).json()
    assert whole["choices"][0]["logprobs"]["token_logprobs"] == [
        c["choices"][0]["logprobs"]["token_logprobs"][0] for c in r.chunks()
    ]


async def test_named_tool_call_keeps_logprobs(sim) -> None:
    s = await sim("--model", "llama-x")
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
        },
    }
    body = {
        **CHAT,
        "max_tokens": 50,
        "logprobs": True,
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
    }
    r = await post(s.port, "/v1/chat/completions", body)
    choice = r.json()["choices"][0]
    args = choice["message"]["tool_calls"][0]["function"]["arguments"]
    tokens = "".join(e["token"] for e in choice["logprobs"]["content"])
    assert tokens == args and orjson.loads(args)
