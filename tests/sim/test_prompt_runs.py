"""The one-pass runs of a plain conversation (chat_template.RUNS) against the renderers.

The counter takes a plain request's runs from ``llama3_runs``/``qwen2_runs`` instead of the
family's renderer; they must give exactly the renderer's runs, or None (then the renderer
runs). Checked on every shape a message list can take, plain or not.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from provocapi.sim.chat_template import RENDER, RUNS, Special

ROLES: list[Any] = ["system", "user", "assistant", "tool", "ipython", "developer", None, 3]
CONTENTS: list[Any] = [
    "plain",
    "  padded text \n",
    "",
    " ",
    "<|eot_id|> and <|im_end|>",
    "naïve 日本 🎉",
    None,
    [{"type": "text", "text": "part"}],
    5,
]
CALL = {"id": "abcDEF123", "function": {"name": "f", "arguments": '{"a": 1}'}}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def reference(family: str, body: dict[str, Any]) -> tuple[int, list[str]] | None:
    """The renderer's runs, as prompt_count joins them."""
    try:
        parts = RENDER[family](body)
    except Exception:  # the counter falls back to the estimate; the runs must then be None
        return None
    specials, texts, run = 0, [], ""
    for p in parts:
        if isinstance(p, Special):
            specials += 1
            if run:
                texts.append(run)
            run = ""
        else:
            run += p
    if run:
        texts.append(run)
    return specials, texts


def message(rng: random.Random) -> Any:
    if rng.random() < 0.03:
        return rng.choice(["text", 1, None, ["x"]])
    m: dict[str, Any] = {}
    if rng.random() < 0.95:
        m["role"] = rng.choice(ROLES)
    if rng.random() < 0.95:
        m["content"] = rng.choice(CONTENTS)
    if rng.random() < 0.1:
        m["tool_calls"] = rng.choice([None, [], [CALL], [CALL, CALL]])
    if rng.random() < 0.1:
        m["tool_call_id"] = "abcDEF123"
    return m


def bodies() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    rng = random.Random(7)
    for _ in range(3000):
        body: dict[str, Any] = {"messages": [message(rng) for _ in range(rng.randrange(0, 5))]}
        if rng.random() < 0.2:
            body["tools"] = rng.choice([None, [], TOOLS])
        if rng.random() < 0.2:
            body["add_generation_prompt"] = rng.choice([True, False, None, 0, "yes"])
        out.append(body)
    # every pair of plain turns, in order
    plain = [
        {"role": r, "content": c} for r in ("system", "user", "assistant") for c in CONTENTS[:6]
    ]
    out += [{"messages": list(pair)} for pair in itertools.product(plain, repeat=2)]
    out += [{"messages": None}, {"messages": "hi"}, {"messages": {}}, {}]
    return out


@pytest.mark.parametrize("family", sorted(RUNS))
def test_runs_are_the_renderers(family: str) -> None:
    fast = RUNS[family]
    taken = 0
    for body in bodies():
        runs = fast(body)
        if runs is None:
            continue  # the renderer's job
        taken += 1
        assert runs == reference(family, body), body
    assert taken > 500  # the plain shapes do take the short way
