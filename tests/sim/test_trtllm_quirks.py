"""trtllm-serve's wire quirks, byte for byte (shared/contract/NOTES.md, "trtllm-serve")."""

from __future__ import annotations

import re

import orjson
from provocapi import trtllm_protocol as P

from .client import get, post

CHAT = {
    "model": "llama-x",
    "messages": [{"role": "user", "content": "Tell me a story"}],
    "max_tokens": 4,
}
COMPLETION = {"model": "llama-x", "prompt": "Once upon a time", "max_tokens": 4}


def _first_chunk_re(n: int) -> re.Pattern[bytes]:
    return re.compile(
        rb'data: \{"id":"chatcmpl-\d+","object":"chat\.completion\.chunk","created":\d+,'
        rb'"model":"llama-x","choices":\[\{"index":'
        + str(n).encode()
        + rb',"delta":\{"role":"assistant"\}\}\]\} \n\n'
    )


async def test_first_chat_chunk_has_a_stray_space(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "stream": True})
    assert r.status == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["transfer-encoding"] == "chunked" and r.complete
    assert _first_chunk_re(0).fullmatch(r.events[0]), r.events[0]
    # only the first one: content chunks end "}\n\n"
    assert all(e.endswith(b"}\n\n") for e in r.events[1:-1])
    assert r.events[-1] == b"data: [DONE]\n\n"
    # each event is its own HTTP chunk
    assert r.raw.startswith(b"%x\r\n" % len(r.events[0]) + r.events[0] + b"\r\n")


async def test_every_choice_gets_its_own_first_chunk(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "stream": True, "n": 2})
    assert _first_chunk_re(0).fullmatch(r.events[0])
    assert _first_chunk_re(1).fullmatch(r.events[1])
    # tokens interleave per iteration: choice 0 then choice 1
    idx = [c["choices"][0]["index"] for c in r.chunks()[2:]]
    assert idx == [0, 1] * 4


async def test_chat_chunks_omit_nulls_and_carry_empty_reasoning(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "stream": True})
    assert b"null" not in r.body
    chunks = r.chunks()
    content = chunks[1:]
    assert [list(c) for c in content] == [["id", "object", "created", "model", "choices"]] * 4
    assert all(c["choices"][0]["delta"]["reasoning_content"] == "" for c in content)
    assert "finish_reason" not in content[0]["choices"][0]
    assert content[-1]["choices"][0]["finish_reason"] == "length"
    assert "stop_reason" not in content[-1]["choices"][0]
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    text = "".join(c["choices"][0]["delta"]["content"] for c in content)
    non_stream = (await post(s.port, "/v1/chat/completions", CHAT)).json()
    assert text == non_stream["choices"][0]["message"]["content"]


async def test_completion_chunks_keep_nulls(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(s.port, "/v1/completions", {**COMPLETION, "stream": True})
    first = r.data()[0]
    assert re.fullmatch(
        rb'\{"id":"cmpl-\d+","object":"text_completion","created":\d+,"model":"llama-x",'
        rb'"choices":\[\{"index":0,"text":"[a-z]+","token_ids":null,"logprobs":null,'
        rb'"finish_reason":null,"stop_reason":null,"avg_decoded_tokens_per_iter":null\}\],'
        rb'"usage":null\}',
        first,
    ), first
    assert not any(e.endswith(b" \n\n") for e in r.events)
    assert r.chunks()[-1]["choices"][0]["finish_reason"] == "length"
    assert r.events[-1] == b"data: [DONE]\n\n"


async def test_usage_only_with_stream_options(sim) -> None:
    s = await sim("--model", "llama-x")
    for path, body in (("/v1/chat/completions", CHAT), ("/v1/completions", COMPLETION)):
        plain = await post(s.port, path, {**body, "stream": True})
        assert not any(c.get("usage") for c in plain.chunks())
        assert all(c["choices"] for c in plain.chunks())
        # include_usage defaults to true once the object is present
        r = await post(s.port, path, {**body, "stream": True, "stream_options": {}})
        last = r.chunks()[-1]
        assert last["choices"] == []
        n_tokens = len(r.chunks()) - 1 - (1 if path.endswith("chat/completions") else 0)
        assert last["usage"] == {
            "prompt_tokens": last["usage"]["prompt_tokens"],
            "total_tokens": last["usage"]["prompt_tokens"] + n_tokens,
            "completion_tokens": n_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        assert r.data()[-2] == orjson.dumps(last) and r.data()[-1] == b"[DONE]"
        for value in (False, None):
            off = await post(
                s.port, path, {**body, "stream": True, "stream_options": {"include_usage": value}}
            )
            assert all(c["choices"] for c in off.chunks())


async def test_continuous_usage_stats(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**CHAT, "stream": True, "stream_options": {"continuous_usage_stats": True}},
    )
    done = [c["usage"]["completion_tokens"] for c in r.chunks()]
    assert done == [0, 1, 2, 3, 4, 4]


async def test_non_streaming_extra_keys(sim) -> None:
    s = await sim("--model", "llama-x")
    body = (await post(s.port, "/v1/chat/completions", CHAT)).json()
    assert list(body) == [
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "prompt_token_ids",
        "prompt_token_ids_b64",
    ]
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", body["id"])
    assert body["model"] == "llama-x"  # echoes the request; trtllm never checks it
    choice = body["choices"][0]
    assert choice == {
        **choice,
        "logprobs": None,
        "stop_reason": None,
        "mm_embedding_handle": None,
        "disaggregated_params": None,
        "avg_decoded_tokens_per_iter": None,
    }
    assert choice["message"] == {
        "role": "assistant",
        "content": choice["message"]["content"],
        "reasoning_content": "",
        "reasoning": None,
        "tool_calls": [],
    }
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    c = (await post(s.port, "/v1/completions", COMPLETION)).json()
    assert c["prompt_token_ids"] is None
    assert list(c["choices"][0]) == [
        "index",
        "text",
        "token_ids",
        "logprobs",
        "context_logits",
        "finish_reason",
        "stop_reason",
        "disaggregated_params",
        "avg_decoded_tokens_per_iter",
    ]
    merged = (
        await post(s.port, "/v1/completions", {**COMPLETION, "prompt": ["a b", "c d"], "n": 2})
    ).json()
    assert [ch["index"] for ch in merged["choices"]] == [0, 1, 2, 3]
    assert merged["prompt_token_ids"] == [] and merged["model"] == "llama-x"


async def test_flat_error_body(sim) -> None:
    s = await sim("--model", "llama-x")
    for status in (400, 429, 500, 503):
        r = await post(
            s.port,
            "/v1/chat/completions",
            {**CHAT, "messages": [{"role": "user", "content": f"boom [sim:status={status}]"}]},
        )
        assert r.status == status
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert list(body) == ["object", "message", "type", "param", "code"]
        assert body["object"] == "error" and body["code"] == status and body["param"] is None
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "response_format": {"type": "json"}})
    assert r.status == 400
    assert r.json() == {
        "object": "error",
        "message": "response_format.schema is required for "
        "response_format.type == 'json', but got None.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }


async def test_chat_stream_failing_mid_way_just_drops(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(
        s.port,
        "/v1/chat/completions",
        {
            **CHAT,
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "go [sim:drop_after=3]"}],
        },
    )
    assert r.status == 200
    assert not r.complete  # no terminating 0-chunk
    assert b"[DONE]" not in r.body and b"error" not in r.body
    assert len(r.events) == 1 + 3


async def test_completion_stream_failing_mid_way_sends_error_first(sim) -> None:
    s = await sim("--model", "llama-x")
    r = await post(
        s.port,
        "/v1/completions",
        {**COMPLETION, "max_tokens": 10, "stream": True, "prompt": "go [sim:drop_after=2]"},
    )
    assert not r.complete and b"[DONE]" not in r.body
    assert len(r.events) == 3
    err = orjson.loads(r.data()[-1])
    assert list(err) == ["error"]
    assert err["error"]["object"] == "error" and err["error"]["code"] == 500
    assert set(err["error"]) == {"object", "message", "type", "param", "code"}


async def test_non_stream_drop_closes_without_answer(sim) -> None:
    s = await sim("--model", "llama-x")
    import asyncio

    from .client import request_bytes

    reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
    writer.write(
        request_bytes(
            "POST",
            "/v1/chat/completions",
            {**CHAT, "messages": [{"role": "user", "content": "[sim:drop_after=0]"}]},
            close=False,
        )
    )
    assert await asyncio.wait_for(reader.read(-1), 5) == b""
    writer.close()


async def test_finish_triggers(sim) -> None:
    s = await sim("--model", "llama-x")
    for reason in ("timeout", "cancelled"):
        body = {**CHAT, "messages": [{"role": "user", "content": f"x [sim:finish={reason}]"}]}
        r = await post(s.port, "/v1/chat/completions", body)
        assert r.json()["choices"][0]["finish_reason"] == reason
        r = await post(s.port, "/v1/chat/completions", {**body, "stream": True})
        assert r.chunks()[-1]["choices"][0]["finish_reason"] == reason


async def test_garbage(sim) -> None:
    s = await sim("--model", "llama-x")
    body = {**CHAT, "messages": [{"role": "user", "content": "x [sim:garbage]"}]}
    r = await post(s.port, "/v1/chat/completions", body)
    assert r.status == 200
    try:
        orjson.loads(r.body)
        raise AssertionError("garbage parsed as JSON")
    except orjson.JSONDecodeError:
        pass
    r = await post(s.port, "/v1/chat/completions", {**body, "stream": True})
    assert r.status == 200 and r.data()[0].startswith(b"{garbage")


async def test_metrics_are_drained_on_read(fresh_sim) -> None:
    s = await fresh_sim("--model", "llama-x")
    assert (await get(s.port, "/metrics")).json() == []
    for _ in range(3):
        await post(s.port, "/v1/chat/completions", CHAT)
    stats = (await get(s.port, "/metrics")).json()
    assert len(stats) == 3
    assert [st["iter"] for st in stats] == [1, 2, 3]
    for st in stats:
        assert {
            "numActiveRequests",
            "numQueuedRequests",
            "iter",
            "iterLatencyMS",
            "gpuMemUsage",
            "timestamp",
            "inflightBatchingStats",
        } <= st.keys()
        kv = st["kvCacheStats"]
        assert kv["maxNumBlocks"] >= kv["usedNumBlocks"] > 0
        assert kv["freeNumBlocks"] == kv["maxNumBlocks"] - kv["usedNumBlocks"]
    assert (await get(s.port, "/metrics")).json() == []


async def test_health_models_version(sim) -> None:
    s = await sim("--model", "llama-x")
    h = await get(s.port, "/health")
    assert h.status == 200 and h.body == b"" and "content-type" not in h.headers
    m = (await get(s.port, "/v1/models")).json()
    assert m["object"] == "list" and [d["id"] for d in m["data"]] == ["llama-x"]
    assert m["data"][0]["owned_by"] == "tensorrt_llm"
    assert (await get(s.port, "/version")).json() == {"version": P.TRTLLM_VERSION}
    nf = await get(s.port, "/v1/nothing")
    assert nf.status == 404 and nf.json() == {"detail": "Not Found"}
    assert (await get(s.port, "/v1/chat/completions")).status == 405


async def test_starting_answers_503_then_200(fresh_sim) -> None:
    import asyncio

    s = await fresh_sim("--model", "llama-x", "--starting-s", "0.3")
    # readiness.py: every route, /health included, answers the same 503 while STARTING
    for reply in (
        await get(s.port, "/health"),
        await get(s.port, "/v1/models"),
        await post(s.port, "/v1/chat/completions", CHAT),
    ):
        assert reply.status == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.headers["x-trtllm-server-state"] == "starting"
        assert reply.headers["content-type"] == "application/json"
        assert reply.body.startswith(b'{"error": {"message": "The server is still initializing')
        assert reply.json()["error"]["code"] == "starting"
        assert reply.json()["error"]["type"] == "ServiceUnavailableError"
    assert (await get(s.port, "/sim/stats")).status == 200
    await asyncio.sleep(0.35)
    assert (await get(s.port, "/health")).status == 200
    assert (await post(s.port, "/v1/chat/completions", CHAT)).status == 200
