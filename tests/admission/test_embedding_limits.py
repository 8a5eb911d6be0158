"""Embedding limits (inputs, tokens per input, per request) and bounded prompt counts,
in-process: the gate refuses before any worker is touched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pytest
from provocapi.admission.gate import OFF_LOOP_CHARS
from provocapi.call import Call
from provocapi.config import ConfigError, parse
from provocapi.decoding import decode
from provocapi.errors import ApiError
from provocapi.request_policy import plan_embedding
from provocapi.schemas import EmbeddingRequest

from .conftest import CONFIG, Env, key

EMBED = """
[[models]]
id = "emb"
kind = "embedding"
dimensions = 8
context_length = 512
max_inputs = 4
max_input_tokens = 1000
max_request_tokens = 600
workers = ["http://127.0.0.1:9"]

[[models]]
id = "emb-llama"
kind = "embedding"
dimensions = 8
tokenizer = "llama3"
max_input_tokens = 20
workers = ["http://127.0.0.1:9"]
"""


@pytest.fixture
def emb_env(make_env: Callable[[str], Env]) -> Env:
    return make_env(CONFIG + EMBED)


def embed_call(env: Env, model: str, inp: object) -> Call:
    req = decode(orjson.dumps({"model": model, "input": inp}), EmbeddingRequest)
    k = key("nobody")
    res = env.catalog.resolve(req.model, k)
    return Call("/v1/embeddings", "embedding", k, res, "r", model, plan_embedding(req, res), req)


def refusal(env: Env, call: Call) -> ApiError:
    with pytest.raises(ApiError) as info:
        env.gate.admit(call)
    assert info.value.status == 400
    return info.value


def test_too_many_inputs_name_the_limit(emb_env: Env) -> None:
    emb_env.gate.admit(embed_call(emb_env, "emb", ["a"] * 4))
    err = refusal(emb_env, embed_call(emb_env, "emb", ["a"] * 5))
    assert (err.code, err.param) == ("invalid_value", "input")
    assert "at most 4 inputs" in err.message and "has 5" in err.message
    # a list of token ids is one input; a list of lists, one per list
    emb_env.gate.admit(embed_call(emb_env, "emb", list(range(50))))
    assert refusal(emb_env, embed_call(emb_env, "emb", [[1]] * 5)).code == "invalid_value"


def test_tokens_per_input_are_capped_by_the_context_length(emb_env: Env) -> None:
    # max_input_tokens 1000, context_length 512: 512 per input, by the estimate (4 bytes)
    ok = embed_call(emb_env, "emb", ["x" * 2048, "y"])
    emb_env.gate.admit(ok)
    assert ok.prompt_tokens == 512 + 1
    err = refusal(emb_env, embed_call(emb_env, "emb", ["y", "x" * 2049]))
    assert (err.code, err.param) == ("context_length_exceeded", "input[1]")
    assert "maximum context length is 512 tokens" in err.message
    assert refusal(emb_env, embed_call(emb_env, "emb", "x" * 2049)).param == "input"
    assert refusal(emb_env, embed_call(emb_env, "emb", [[1] * 513])).param == "input[0]"


def test_tokens_per_request_are_summed(emb_env: Env) -> None:
    emb_env.gate.admit(embed_call(emb_env, "emb", [[1] * 300, [1] * 300]))
    err = refusal(emb_env, embed_call(emb_env, "emb", [[1] * 300, [1] * 301]))
    assert (err.code, err.param) == ("max_tokens_per_request", "input")
    assert "Requested 601 tokens, max 600 tokens per request" in err.message


def test_inputs_are_counted_with_the_models_tokenizer_up_to_their_limit(emb_env: Env) -> None:
    ok = embed_call(emb_env, "emb-llama", ["hello world", "word" + " word" * 18])
    emb_env.gate.admit(ok)
    assert ok.prompt_tokens == 2 + 19
    err = refusal(emb_env, embed_call(emb_env, "emb-llama", ["hi", "word " * 21]))
    assert (err.code, err.param) == ("context_length_exceeded", "input[1]")


@pytest.mark.parametrize(
    ("field", "value"), [("max_inputs", 0), ("max_input_tokens", 0), ("max_request_tokens", -1)]
)
def test_limits_are_checked_in_the_config(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"{field} must be at least 1"):
        parse(
            CONFIG
            + f'[[models]]\nid = "e"\nkind = "embedding"\ndimensions = 8\n{field} = {value}\n'
            + 'workers = ["http://127.0.0.1:9"]\n'
        )


def test_a_huge_prompt_is_refused_with_a_floor_and_counted_off_the_loop(env: Env) -> None:
    k = key("nobody")
    word = "a" * (4 << 20)  # one 4 MiB "word": counting stops past the 1000-token window
    call = env.chat(k, messages=[{"role": "user", "content": word}], max_tokens=20)
    with pytest.raises(ApiError) as info:
        asyncio.run(env.gate.admit_async(call))
    err = info.value
    assert (err.status, err.code, err.param) == (400, "context_length_exceeded", "messages")
    assert "you requested at least" in err.message
    assert call.prompt_tokens is not None and 980 < call.prompt_tokens < 20_000


def test_a_large_prompt_counts_the_same_on_the_thread(make_env: Callable[[str], Env]) -> None:
    env = make_env(CONFIG.replace("context_length = 1000", "context_length = 200000"))
    k = key("nobody")
    text = "a few words of prose, " * (OFF_LOOP_CHARS // 10)  # past the threshold: a thread
    inline = env.chat(k, messages=[{"role": "user", "content": text}], max_tokens=1)
    threaded = env.chat(k, messages=[{"role": "user", "content": text}], max_tokens=1)
    env.gate.admit(inline)
    asyncio.run(env.gate.admit_async(threaded))
    assert inline.prompt_tokens == threaded.prompt_tokens
    assert inline.prompt_tokens is not None and inline.prompt_tokens > 30_000
