"""A history's tool-call ids mapped onto what Mistral's template accepts."""

from __future__ import annotations

from typing import Any

from provocapi.tool_ids import fits, mistral_history


def _history(call_ids: list[str], result_ids: list[str]) -> list[dict[str, Any]]:
    calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}}
             for i in call_ids]  # fmt: skip
    return [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        *({"role": "tool", "tool_call_id": i, "content": "r"} for i in result_ids),
    ]


def test_ids_that_fit_leave_the_history_alone() -> None:
    assert mistral_history(_history(["Ab3dE6gH9"], ["Ab3dE6gH9"])) is None
    assert mistral_history([{"role": "user", "content": "hi"}]) is None


def test_foreign_ids_map_to_nine_alphanumerics_and_stay_paired() -> None:
    ids = ["call_" + "x" * 24, "toolu_01ABCDEF", "chatcmpl-tool-3"]
    history = _history(ids, list(reversed(ids)))
    out = mistral_history(history)
    assert out is not None
    new_calls = [c["id"] for c in out[1]["tool_calls"]]
    new_results = [m["tool_call_id"] for m in out[2:]]
    assert all(fits(i) for i in new_calls)
    assert new_results == list(reversed(new_calls))  # each result still names its call
    assert len(set(new_calls)) == 3
    assert mistral_history(history) == out  # the same input, the same ids
    assert history[1]["tool_calls"][0]["id"] == ids[0]  # the client's objects untouched


def test_a_mapped_id_never_takes_one_the_history_already_uses() -> None:
    from provocapi import tool_ids

    taken = tool_ids._base62("call_1", 0)
    out = mistral_history(_history(["call_1", taken], ["call_1", taken]))
    assert out is not None
    first, second = (c["id"] for c in out[1]["tool_calls"])
    assert second == taken and first != taken and fits(first)
    assert out[2]["tool_call_id"] == first
