"""Every field trtllm-serve accepts is accepted; anything else is a 400 naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from provocapi import trtllm_protocol as P

from .client import post

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
COMPLETION = {"model": "m", "prompt": "hi", "max_tokens": 4}
EMBEDDING = {"model": "m", "input": "hi"}

# A plausible value for each field; fields needing company bring it along.
SAMPLES: dict[str, dict[str, Any]] = {
    "messages": {},
    "model": {},
    "prompt": {},
    "input": {},
    "prompt_token_ids": {"prompt_token_ids": [1, 2, 3]},
    "prompt_token_ids_b64": {"prompt_token_ids_b64": "AQAAAA=="},
    "frequency_penalty": {"frequency_penalty": 0.1},
    "logit_bias": {"logit_bias": {"5": 1.0}},
    "logprobs": {},  # type differs: set per endpoint below
    "top_logprobs": {"logprobs": True, "top_logprobs": 2},
    "max_completion_tokens": {"max_completion_tokens": 3},
    "max_tokens": {"max_tokens": 3},
    "n": {"n": 2},
    "presence_penalty": {"presence_penalty": 0.2},
    "response_format": {"response_format": {"type": "text"}},
    "seed": {"seed": 5},
    "stop": {"stop": ["zzz"]},
    "stream": {"stream": False},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True}},
    "temperature": {"temperature": 0.5},
    "top_p": {"top_p": 0.9},
    "tools": {"tools": [{"type": "function", "function": {"name": "f"}}]},
    "tool_choice": {"tool_choice": "none"},
    "parallel_tool_calls": {"parallel_tool_calls": True},
    "user": {"user": "u1"},
    "reasoning_effort": {"reasoning_effort": "low"},
    "thinking": {"thinking": {"type": "disabled"}},
    "thinking_token_budget": {"thinking_token_budget": 16},
    "prompt_ignore_length": {"prompt_ignore_length": 0},
    "best_of": {"best_of": 1},
    "use_beam_search": {"use_beam_search": False},
    "top_k": {"top_k": 5},
    "top_p_min": {"top_p_min": 0.0},
    "min_p": {"min_p": 0.05},
    "repetition_penalty": {"repetition_penalty": 1.1},
    "length_penalty": {"length_penalty": 1.0},
    "early_stopping": {"early_stopping": True},
    "stop_token_ids": {"stop_token_ids": [2]},
    "include_stop_str_in_output": {"include_stop_str_in_output": True},
    "ignore_eos": {"ignore_eos": True},
    "min_tokens": {"min_tokens": 1},
    "skip_special_tokens": {"skip_special_tokens": True},
    "spaces_between_special_tokens": {"spaces_between_special_tokens": True},
    "truncate_prompt_tokens": {"truncate_prompt_tokens": 100},
    "lora_request": {},  # needs a real path: set in the test
    "echo": {"echo": False},
    "add_generation_prompt": {"add_generation_prompt": True},
    "add_special_tokens": {"add_special_tokens": False},
    "documents": {"documents": [{"title": "t", "text": "x"}]},
    "chat_template": {"chat_template": "{{ messages }}"},
    "chat_template_kwargs": {"chat_template_kwargs": {"enable_thinking": False}},
    "injected_chat_template_kwargs": {"injected_chat_template_kwargs": ["k"]},
    "media_io_kwargs": {"media_io_kwargs": {"video": {"num_frames": 4}}},
    "disaggregated_params": {"disaggregated_params": {"request_type": "context_and_generation"}},
    "conversation_params": {"conversation_params": {"conversation_id": "c1"}},
    "cache_salt": {"cache_salt": "salt"},
    "priority": {"priority": 0.5},
    "agent_hierarchy": {"agent_hierarchy": None},
    "mm_processor_kwargs": {"mm_processor_kwargs": {"num_frames": 2}},
    "suffix": {"suffix": ""},
    "return_context_logits": {"return_context_logits": False},
    "detokenize": {"detokenize": True},
    "encoding_format": {"encoding_format": "float"},
    "dimensions": {"dimensions": 8},
}


def _with(base: dict[str, Any], field: str, lora: Path, endpoint: str) -> dict[str, Any]:
    body = {**base, **SAMPLES[field]}
    if field == "lora_request":
        body["lora_request"] = {"lora_name": "sql", "lora_int_id": 1, "lora_path": str(lora)}
    if field == "logprobs":
        body["logprobs"] = True if endpoint == "chat" else 1
    return body


def test_every_known_field_has_a_sample() -> None:
    fields = P.CHAT_COMPLETION_FIELDS | P.COMPLETION_FIELDS | P.EMBEDDING_FIELDS
    assert fields <= SAMPLES.keys()
    assert all(
        isinstance(s, frozenset)
        for s in (P.CHAT_COMPLETION_FIELDS, P.COMPLETION_FIELDS, P.EMBEDDING_FIELDS)
    )
    # the fields the gateway most relies on
    assert {
        "top_k",
        "min_p",
        "repetition_penalty",
        "min_tokens",
        "ignore_eos",
        "stop_token_ids",
        "lora_request",
        "response_format",
    } <= P.CHAT_COMPLETION_FIELDS
    assert {"stream_options", "lora_request", "top_k"} <= P.COMPLETION_FIELDS
    assert "stream_options" in P.NESTED_OBJECT_FIELDS
    assert P.FINISH_REASONS >= {"stop", "length", "timeout", "cancelled"}


def _known(field: str) -> tuple[str, ...]:
    """`priority` is known only to a worker started with --priority (test_priority.py)."""
    return ("--priority",) if field == "priority" else ()


@pytest.mark.parametrize("field", sorted(P.CHAT_COMPLETION_FIELDS))
async def test_chat_accepts(sim, lora_dir: Path, field: str) -> None:
    s = await sim("--model", "m", "--output-tokens", "4", *_known(field))
    r = await post(s.port, "/v1/chat/completions", _with(CHAT, field, lora_dir, "chat"))
    assert r.status == 200, r.body


@pytest.mark.parametrize("field", sorted(P.COMPLETION_FIELDS))
async def test_completion_accepts(sim, lora_dir: Path, field: str) -> None:
    s = await sim("--model", "m", "--output-tokens", "4", *_known(field))
    r = await post(s.port, "/v1/completions", _with(COMPLETION, field, lora_dir, "completion"))
    assert r.status == 200, r.body


@pytest.mark.parametrize("field", sorted(P.EMBEDDING_FIELDS))
async def test_embedding_accepts(sim, lora_dir: Path, field: str) -> None:
    s = await sim("--model", "e", "--embedding", "--dimensions", "16")
    r = await post(s.port, "/v1/embeddings", _with(EMBEDDING, field, lora_dir, "embedding"))
    assert r.status == 200, r.body


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/v1/chat/completions", CHAT),
        ("/v1/completions", COMPLETION),
    ],
)
async def test_unknown_field_rejected_naming_it(sim, path: str, base: dict[str, Any]) -> None:
    s = await sim("--model", "m", "--output-tokens", "4")
    for field in ("foo", "max_output_tokens", "logprob", "functions"):
        r = await post(s.port, path, {**base, field: 1})
        assert r.status == 400
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        # FastAPI's RequestValidationError handler: {"error": str(exc)}, a plain string.
        assert list(body) == ["error"] and isinstance(body["error"], str)
        assert f"'loc': ('body', '{field}')" in body["error"]
        assert "'type': 'extra_forbidden'" in body["error"]
    # an OpenAI-only chat field the worker lacks
    if path.endswith("chat/completions"):
        r = await post(s.port, path, {**base, "modalities": ["text"]})
        assert r.status == 400 and "modalities" in r.json()["error"]


async def test_unknown_nested_field_rejected(sim) -> None:
    s = await sim("--model", "m", "--output-tokens", "4")
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**CHAT, "stream": True, "stream_options": {"include_usage": True, "x": 1}},
    )
    assert r.status == 400
    assert "('body', 'stream_options', 'x')" in r.json()["error"]
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "strictly": True}}]},
    )
    assert r.status == 400
    assert "('body', 'tools', 0, 'function', 'strictly')" in r.json()["error"]
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**CHAT, "response_format": {"type": "json_object", "schemas": {}}},
    )
    assert r.status == 400 and "'schemas'" in r.json()["error"]


async def test_embedding_unknown_field(sim) -> None:
    s = await sim("--model", "e", "--embedding", "--dimensions", "16")
    r = await post(s.port, "/v1/embeddings", {**EMBEDDING, "truncate": True})
    assert r.status == 400 and "('body', 'truncate')" in r.json()["error"]


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("n", "two", "int_parsing"),
        ("max_tokens", [1], "int_type"),
        ("temperature", "hot", "float_parsing"),
        ("stream", "maybe", "bool_parsing"),
        ("top_k", None, "int_type"),  # not Optional in trtllm
        ("user", 5, "string_type"),
    ],
)
async def test_known_field_types_checked(sim, field: str, value: Any, kind: str) -> None:
    s = await sim("--model", "m", "--output-tokens", "4")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, field: value})
    assert r.status == 400
    assert f"'type': '{kind}', 'loc': ('body', '{field}')" in r.json()["error"]


async def test_unhashable_literal_is_a_literal_error(sim) -> None:
    """A list or object where trtllm wants one of a few strings: pydantic's literal_error,
    not a TypeError from the set lookup."""
    s = await sim("--model", "m", "--output-tokens", "4")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "response_format": {"type": ["json"]}})
    assert r.status == 400
    loc = "'loc': ('body', 'response_format', 'type')"
    assert f"'type': 'literal_error', {loc}" in r.json()["error"]
    e = await sim("--model", "e", "--embedding", "--dimensions", "16")
    r = await post(e.port, "/v1/embeddings", {**EMBEDDING, "encoding_format": {"f": 1}})
    assert r.status == 400
    assert "'type': 'literal_error', 'loc': ('body', 'encoding_format')" in r.json()["error"]


async def test_lax_types_pass(sim) -> None:
    s = await sim("--model", "m", "--output-tokens", "4")
    r = await post(
        s.port,
        "/v1/chat/completions",
        {**CHAT, "max_tokens": "3", "temperature": 1, "stream": 0, "n": 1.0},
    )
    assert r.status == 200, r.body
    assert r.json()["usage"]["completion_tokens"] == 3


async def test_missing_required(sim) -> None:
    s = await sim("--model", "m")
    r = await post(s.port, "/v1/chat/completions", {"model": "m"})
    assert r.status == 400
    assert "'type': 'missing', 'loc': ('body', 'messages')" in r.json()["error"]
    r = await post(s.port, "/v1/completions", {"prompt": "x"})
    assert "'type': 'missing', 'loc': ('body', 'model')" in r.json()["error"]


async def test_model_validators(sim) -> None:
    s = await sim("--model", "m")
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "stream_options": {}})
    assert r.status == 400
    assert "stream_options can only be set if stream is true" in r.json()["error"]
    r = await post(s.port, "/v1/chat/completions", {**CHAT, "tool_choice": "required"})
    assert r.status == 400 and "`tools` must be set" in r.json()["error"]
    r = await post(s.port, "/v1/completions", {**COMPLETION, "suffix": "end"})
    assert r.status == 400 and "suffix is not supported" in r.json()["error"]


async def test_invalid_json(sim) -> None:
    s = await sim("--model", "m")
    r = await post(s.port, "/v1/chat/completions", b"{not json")
    assert r.status == 400
    assert "'type': 'json_invalid'" in r.json()["error"]
