"""A full tool round trip through the SDK on every family, streamed and not.

Mistral's template refuses tool-call ids that are not 9 alphanumerics (the simulator
applies that check as a real worker's template would): the gateway emits such ids for
Mistral models and maps any other id in the history (ours of another family, another
provider's) onto one, the same for the same id within a request.
"""

from __future__ import annotations

import re
from typing import Any

import httpx2
import openai
import pytest

from .conftest import CHAT_FAMILIES, Stack
from .test_tools import MESSAGES, TOOLS

FAMILIES = sorted(CHAT_FAMILIES.items())
MISTRAL = CHAT_FAMILIES["mistral"]


def _first_call(client: openai.OpenAI, model: str, stream: bool) -> dict[str, Any]:
    """The assistant message with its tool calls, as the client would send it back."""
    if not stream:
        resp = client.chat.completions.create(
            model=model, messages=MESSAGES, tools=TOOLS, max_tokens=128
        )
        return resp.choices[0].message.model_dump(exclude_none=True)
    with client.chat.completions.stream(
        model=model, messages=MESSAGES, tools=TOOLS, max_tokens=128
    ) as s:
        final = s.get_final_completion()
    msg = final.choices[0].message.model_dump(exclude_none=True)
    msg.pop("parsed", None)
    for c in msg.get("tool_calls", []):
        c.get("function", {}).pop("parsed_arguments", None)
    return msg


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("family", "model"), FAMILIES)
def test_round_trip(client: openai.OpenAI, family: str, model: str, stream: bool) -> None:
    msg = _first_call(client, model, stream)
    calls = msg["tool_calls"]
    assert calls, f"{family}: no tool call"
    for c in calls:
        if family == "mistral":
            assert re.fullmatch(r"[A-Za-z0-9]{9}", c["id"]), c["id"]
        else:
            assert c["id"].startswith("call_")
    follow = [
        *MESSAGES,
        msg,
        *({"role": "tool", "tool_call_id": c["id"], "content": '{"temp_c": 21}'} for c in calls),
    ]
    second = client.chat.completions.create(
        model=model, messages=follow, tools=TOOLS, max_tokens=16, stream=stream
    )
    if stream:
        text = "".join(ch.choices[0].delta.content or "" for ch in second if ch.choices)
    else:
        text = second.choices[0].message.content or ""
    assert text, f"{family}: no answer after the tool result"


FOREIGN = ["call_" + "Q" * 24, "toolu_01A09q90qw90lq917835lq9"]


def _foreign_history() -> list[Any]:
    calls = [
        {"id": i, "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        for i in FOREIGN
    ]  # fmt: skip
    return [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": calls},
        *({"role": "tool", "tool_call_id": i, "content": "21 C"} for i in FOREIGN),
    ]


def test_a_real_worker_template_would_refuse_foreign_ids(stack: Stack) -> None:
    """Sent straight to the (simulated) Mistral worker, the history is a 400."""
    with httpx2.Client(trust_env=False, timeout=10.0) as c:
        r = c.post(
            f"{stack.sims[MISTRAL]}/v1/chat/completions",
            json={"model": MISTRAL, "messages": _foreign_history(), "max_tokens": 4},
        )
    assert r.status_code == 400
    assert "alphanumeric strings with length 9" in r.json()["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_foreign_ids_are_mapped_for_mistral(client: openai.OpenAI, stream: bool) -> None:
    resp = client.chat.completions.create(
        model=MISTRAL, messages=_foreign_history(), tools=TOOLS, max_tokens=8, stream=stream
    )
    if stream:
        assert [ch for ch in resp if ch.choices]  # type: ignore[union-attr]
    else:
        assert resp.choices[0].message.content  # type: ignore[union-attr]
