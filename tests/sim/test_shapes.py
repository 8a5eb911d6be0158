"""Chat bodies of a known shape (app.py: the same fields but messages as a body seen
before) skip validating those fields again: their answers must be what a worker that never
saw the shape gives, errors included. bench/sim_fresh_cost.py --check does this on a wide
sweep against the code before; here the cases that matter most, in process."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from provocapi.sim.app import SimWorker, _shape
from provocapi.sim.config import SimConfig
from provocapi.sim.server import SimRequest

USER = [{"role": "user", "content": "hello there"}]
OTHER = [{"role": "user", "content": "something else entirely"}]
NOISE = re.compile(rb'(chatcmpl-)[0-9a-f]{32}|"created":\d+|date: [^\r]+')


def answer(worker: SimWorker, body: Any) -> bytes:
    req = SimRequest(b"POST", b"/v1/chat/completions", {}, orjson.dumps(body), True)
    out = worker(req, None)  # type: ignore[arg-type]  # answered at once: no connection
    assert isinstance(out, bytes)
    return NOISE.sub(rb"\1", out)


def test_a_shape_is_its_fields_with_their_types() -> None:
    base = {"model": "m", "messages": USER, "stream": 1}
    assert _shape(base) == _shape({**base, "messages": OTHER})
    assert _shape(base) != _shape({**base, "stream": True})  # equal values, other types
    assert _shape(base) != _shape({**base, "stream": 1.0})
    assert _shape({"model": "m"}) is None  # no messages
    assert _shape({**base, "stop": ["x"]}) is None  # lists and objects: not kept
    assert _shape({**base, "response_format": {"type": "text"}}) is None
    assert _shape({**base, "user": "u" * 300}) is None  # long: not kept either


@pytest.mark.parametrize("family", ["llama3", "qwen2", "mistral"])
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"stream": 0, "echo": 1, "ignore_eos": 0},
        {"n": 2, "max_tokens": 5, "seed": 3},
        {"logprobs": True, "top_logprobs": 2},
        {"stop": "e", "include_stop_str_in_output": True},
        {"min_tokens": 40, "ignore_eos": True, "max_tokens": 50},
    ],
)
def test_known_shape_answers_as_a_fresh_worker(family: str, fields: dict[str, Any]) -> None:
    cfg = SimConfig(model="m", port=0, family=family)
    warm = SimWorker(cfg)
    answer(warm, {"model": "m", "messages": USER, **fields})  # the shape is now known
    bad_id = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [{"id": "abcDEF123"}]},
        {"role": "tool", "tool_call_id": "bad", "content": "x"},
    ]
    for messages in (OTHER, [{"content": "no role"}, "x"], "not a list", [], None, bad_id):
        body = {"model": "m", "messages": messages, **fields}
        assert answer(warm, body) == answer(SimWorker(cfg), body), messages
    # the same values under other types are other shapes, checked in full
    others = (("echo", 1.0), ("ignore_eos", 0.0), ("n", True), ("seed", "3"), ("max_tokens", 5.5))
    for name, value in others:
        body = {"model": "m", "messages": OTHER, **fields, name: value}
        assert answer(warm, body) == answer(SimWorker(cfg), body), (name, value)
