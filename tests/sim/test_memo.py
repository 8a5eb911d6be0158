"""The memo of repeated bodies (sim/memo.py): the same bytes as a fresh render, fresh ids,
bounded, and every per-request behaviour (faults, counters, lora checks) kept."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import orjson
import pytest
from provocapi.sim import memo as memo_mod
from provocapi.sim.config import build_parser, from_namespace
from provocapi.sim.memo import Memo

from .client import get, post

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

# (kind, body) pairs covering every shape of answer: one id, several ids (tool calls, one per
# choice), completions (single, merged prompts, echo), JSON mode.
CASES = [
    ("chat", CHAT),
    ("chat", {**CHAT, "n": 3, "max_tokens": 7, "stop": ["model"]}),
    ("chat", {**CHAT, "tools": [WEATHER], "n": 2}),
    (
        "chat",
        {
            **CHAT,
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
    ),
    ("chat", {**CHAT, "response_format": {"type": "json_object"}}),
    ("completion", {"model": "m", "prompt": "once upon", "max_tokens": 9}),
    ("completion", {"model": "m", "prompt": ["a", "b"], "n": 2, "echo": True}),
    ("completion", {"model": "m", "prompt": [1, 2, 3]}),
]
PATH = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}
ID_RE = re.compile(rb'("id":"(?:chatcmpl-tool-|chatcmpl-|cmpl-|call_))([0-9a-f]+)"')
CREATED_RE = re.compile(rb'"created":(\d+)')


def _normal(raw: bytes) -> bytes:
    return CREATED_RE.sub(b'"created":0', ID_RE.sub(rb'\1X"', raw))


def _fresh(worker, kind: str, body: dict) -> bytes:
    """What the worker renders for this body without the memo."""
    from provocapi.sim import plan

    make = plan.chat if kind == "chat" else plan.completion
    p = make(body, worker.cfg, worker.openai, worker.counter)
    return worker._body_bytes(p, body, kind)


@pytest.mark.parametrize("profile", [(), ("--openai",)], ids=["trtllm", "openai"])
async def test_repeated_body_same_bytes_as_fresh_render_with_fresh_ids(fresh_sim, profile) -> None:
    s = await fresh_sim("--model", "m", "--family", "qwen2", "--tool-parser", "qwen3", *profile)
    for kind, body in CASES:
        if profile and kind == "completion" and "echo" in body:
            continue
        replies = [await post(s.port, PATH[kind], body) for _ in range(3)]
        assert all(r.status == 200 for r in replies), replies[0].body
        assert s.worker.memo[kind].get(orjson.dumps(body)) is not None
        fresh = _fresh(s.worker, kind, body)
        for r in replies:
            # byte for byte what a fresh render gives, apart from the ids and `created`
            assert _normal(r.body) == _normal(fresh)
            assert abs(r.json()["created"] - time.time()) < 5
            assert len(r.body) == len(fresh)
        ids = [ID_RE.findall(r.body) for r in replies]
        assert len(ids[0]) == len(ID_RE.findall(fresh)) >= 1
        flat = [i for one in ids for _, i in one]
        assert len(set(flat)) == len(flat)  # every id fresh, none repeated
        width = 24 if profile else 32
        assert all(re.fullmatch(rb"[0-9a-f]{%d}" % width, i) for i in flat)


def test_template_holes_and_fill() -> None:
    m = Memo(id_bytes=16)
    entry = memo_mod.Entry({}, None)  # type: ignore[arg-type]

    def render(created: int, new_id) -> bytes:
        return orjson.dumps(
            {
                "id": "x-" + new_id(),
                "created": created,
                "calls": [{"id": "t-" + new_id()}, {"id": "t-" + new_id()}],
            }
        )

    a, b = m.fill(entry, render), m.fill(entry, render)
    segments, holes = entry.template
    assert holes == (memo_mod.ID, memo_mod.CREATED, memo_mod.ID, memo_mod.ID)
    assert len(segments) == 5
    for out in (a, b):
        d = orjson.loads(out)
        assert d["created"] == int(time.time()) or abs(d["created"] - time.time()) < 2
        assert re.fullmatch(r"x-[0-9a-f]{32}", d["id"])
        assert all(re.fullmatch(r"t-[0-9a-f]{32}", c["id"]) for c in d["calls"])
    assert orjson.loads(a)["id"] != orjson.loads(b)["id"]


def test_marker_in_the_text_means_no_template() -> None:
    """A body whose own text contains a marker is rendered afresh every time."""
    m = Memo(id_bytes=16)
    entry = memo_mod.Entry({}, None)  # type: ignore[arg-type]

    def render(created: int, new_id) -> bytes:
        return orjson.dumps({"id": new_id(), "created": created, "text": memo_mod._MARK + "000000"})

    out = m.fill(entry, render)
    assert entry.template is False
    assert re.fullmatch(r"[0-9a-f]{32}", orjson.loads(out)["id"])
    assert orjson.loads(out)["text"] == memo_mod._MARK + "000000"


async def test_marker_in_a_prompt_still_answers_right(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--tool-parser", "qwen3", "--family", "qwen2")
    body = {
        **CHAT,
        "messages": [{"role": "user", "content": f"say {memo_mod._CREATED_MARK}"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "q": {"type": "string", "enum": [memo_mod._MARK + "000001"]}
                        },
                    },
                },
            }
        ],
    }
    for _ in range(2):
        r = await post(s.port, PATH["chat"], body)
        assert r.status == 200
        assert _normal(r.body) == _normal(_fresh(s.worker, "chat", body))
    entry = s.worker.memo["chat"].get(orjson.dumps(body))
    assert entry is not None and entry.template is False  # a marker in it: rendered each time


def test_bounded_lru() -> None:
    from provocapi.sim.faults import NONE
    from provocapi.sim.plan import AnswerPlan
    from provocapi.sim.textgen import Choice

    plan = AnswerPlan(1, [Choice(["a"], "stop")], [None], NONE)
    m = Memo(id_bytes=16, max_entries=4)
    for i in range(10):
        m.add(b"%d" % i, {}, plan)
        assert len(m) <= 4
    assert m.get(b"0") is None and m.get(b"9") is not None
    assert m.get(b"6") is not None  # now the most recently used
    m.add(b"10", {}, plan)
    m.add(b"11", {}, plan)
    m.add(b"12", {}, plan)
    assert m.get(b"6") is not None and m.get(b"7") is None
    assert m.add(b"x" * (memo_mod.MAX_BODY + 1), {}, plan) is None  # too large: never kept
    assert m.add(b"lora", {"lora_request": {}}, plan) is None


async def test_worker_memo_stays_bounded(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--output-tokens", "2")
    for i in range(memo_mod.MAX_ENTRIES + 20):
        r = await post(s.port, PATH["chat"], {**CHAT, "seed": i})
        assert r.status == 200
    assert len(s.worker.memo["chat"]) == memo_mod.MAX_ENTRIES
    # an answer too long for the bound is not kept
    r = await post(
        s.port, PATH["chat"], {**CHAT, "max_tokens": memo_mod.MAX_TOKENS + 1, "ignore_eos": True}
    )
    assert r.status == 200 and r.json()["usage"]["completion_tokens"] == memo_mod.MAX_TOKENS + 1
    assert (
        s.worker.memo["chat"].get(
            orjson.dumps({**CHAT, "max_tokens": memo_mod.MAX_TOKENS + 1, "ignore_eos": True})
        )
        is None
    )


async def test_memo_entries_sets_the_bound(fresh_sim) -> None:
    # --memo-entries: a benchmark cycling through many distinct prompts keeps them all
    n = memo_mod.MAX_ENTRIES + 40
    s = await fresh_sim("--model", "m", "--output-tokens", "2", "--memo-entries", str(n))
    for i in range(n + 5):
        assert (await post(s.port, PATH["chat"], {**CHAT, "seed": i})).status == 200
    memo = s.worker.memo["chat"]
    assert len(memo) == n
    assert memo.get(orjson.dumps({**CHAT, "seed": 4})) is None  # the oldest went first
    assert memo.get(orjson.dumps({**CHAT, "seed": 5})) is not None
    # 0: nothing is remembered, every answer is still right
    s0 = await fresh_sim("--model", "m", "--output-tokens", "2", "--memo-entries", "0")
    for _ in range(2):
        r = await post(s0.port, PATH["chat"], CHAT)
        assert r.status == 200 and r.json()["usage"]["completion_tokens"] == 2
    assert len(s0.worker.memo["chat"]) == 0


def test_memo_entries_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="--memo-entries"):
        from_namespace(build_parser().parse_args(["--model", "m", "--port", "0",
                                                  "--memo-entries", "-1"]))  # fmt: skip


async def test_faults_apply_to_a_repeated_body(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--error-rate", "1")
    for _ in range(3):
        r = await post(s.port, PATH["chat"], CHAT)
        assert r.status == 500 and r.json()["type"] == "InternalServerError"
    assert s.worker.stats.errors == 3 and s.worker.stats.requests == 3
    s = await fresh_sim("--model", "m")
    body = {**CHAT, "messages": [{"role": "user", "content": "x [sim:status=503]"}]}
    for _ in range(3):
        assert (await post(s.port, PATH["chat"], body)).status == 503
    body = {**CHAT, "messages": [{"role": "user", "content": "x [sim:garbage]"}]}
    for _ in range(2):
        r = await post(s.port, PATH["chat"], body)
        assert r.status == 200 and r.body == b"<html>garbage, not json</html>"
    body = {**CHAT, "messages": [{"role": "user", "content": "x [sim:finish=timeout]"}]}
    for _ in range(2):
        assert (await post(s.port, PATH["chat"], body)).json()["choices"][0][
            "finish_reason"
        ] == "timeout"
    body = {**CHAT, "messages": [{"role": "user", "content": "x [sim:delay_ms=150]"}]}
    for _ in range(2):
        t0 = time.monotonic()
        assert (await post(s.port, PATH["chat"], body)).status == 200
        assert time.monotonic() - t0 >= 0.14


async def test_error_rate_rolls_as_before(fresh_sim) -> None:
    """The same seeded sequence of 500s whether the body repeats (memo) or not."""
    s = await fresh_sim("--model", "m", "--error-rate", "0.5", "--seed", "3")
    same = [(await post(s.port, PATH["chat"], CHAT)).status for _ in range(30)]
    s = await fresh_sim("--model", "m", "--error-rate", "0.5", "--seed", "3")
    varied = [(await post(s.port, PATH["chat"], {**CHAT, "seed": i})).status for i in range(30)]
    assert same == varied and 500 in same and 200 in same


async def test_repeated_answers_count_in_stats(fresh_sim) -> None:
    s = await fresh_sim("--model", "m")
    for _ in range(5):
        assert (await post(s.port, PATH["chat"], CHAT)).status == 200
    stats = (await get(s.port, "/sim/stats")).json()
    assert stats["requests"] == 5 and stats["served"] == 5 and stats["in_flight"] == 0
    iterations = (await get(s.port, "/metrics")).json()
    assert len(iterations) == 5
    assert len({it["kvCacheStats"]["allocNewBlocks"] for it in iterations}) == 1


async def test_repeated_stream_body(fresh_sim) -> None:
    s = await fresh_sim("--model", "m", "--output-tokens", "4")
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    a = await post(s.port, PATH["chat"], body)
    b = await post(s.port, PATH["chat"], body)
    assert a.complete and b.complete
    assert [c["choices"] for c in a.chunks()] == [c["choices"] for c in b.chunks()]
    assert a.chunks()[0]["id"] != b.chunks()[0]["id"]  # the engine's request id moves on
    assert s.worker.stats.served == 2


async def test_lora_path_checked_on_every_request(fresh_sim, lora_dir: Path) -> None:
    s = await fresh_sim("--model", "m")
    body = {
        **CHAT,
        "lora_request": {"lora_name": "sql", "lora_int_id": 1, "lora_path": str(lora_dir)},
    }
    assert (await post(s.port, PATH["chat"], body)).status == 200
    assert len(s.worker.memo["chat"]) == 0
    shutil.rmtree(lora_dir)
    r = await post(s.port, PATH["chat"], body)
    assert r.status == 400 and "does not exist" in r.json()["error"]


async def test_invalid_body_never_remembered(fresh_sim) -> None:
    s = await fresh_sim("--model", "m")
    body = {**CHAT, "foo": 1}
    for _ in range(2):
        r = await post(s.port, PATH["chat"], body)
        assert r.status == 400 and "extra_forbidden" in r.json()["error"]
    assert len(s.worker.memo["chat"]) == 0
    assert s.worker.stats.errors == 2


def test_word_pieces_same_as_the_plain_walk() -> None:
    from provocapi.sim import textgen

    for key in (0, 1, 255, 256, 1 << 20, 0xFFFFFFFF, 123456789):
        for count in (
            0,
            1,
            5,
            len(textgen.WORDS) - 1,
            len(textgen.WORDS),
            len(textgen.WORDS) + 1,
            300,
        ):
            step = 7 + (key >> 8) % 5 * 2
            plain = [
                textgen._SPACED[(key % textgen._N + i * step) % textgen._N] for i in range(count)
            ]
            if plain:
                plain[0] = plain[0][1:]
            assert textgen.word_pieces(key, count) == plain
