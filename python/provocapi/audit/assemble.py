"""A streamed chat answer put back together: each choice's text and tool calls, the
finish reasons and the usage chunk, plus what was wrong with the chunks' shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Call:
    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Assembled:
    texts: dict[int, str] = field(default_factory=dict)
    calls: dict[int, list[Call]] = field(default_factory=dict)
    finish: dict[int, str | None] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts.get(0, "")

    @property
    def first_calls(self) -> list[Call]:
        return self.calls.get(0, [])


def chat_stream(events: list[Any]) -> Assembled:
    out = Assembled()
    partial: dict[tuple[int, int], dict[str, str]] = {}
    for ev in events:
        if not isinstance(ev, dict) or not isinstance(ev.get("choices"), list):
            out.problems.append("a chunk without a choices list")
            continue
        if isinstance(ev.get("usage"), dict):
            out.usage = ev["usage"]
        for c in ev["choices"]:
            if not isinstance(c, dict) or not isinstance(c.get("delta"), dict):
                out.problems.append("a choice without a delta object")
                continue
            i = c.get("index", 0)
            i = i if isinstance(i, int) else 0
            d = c["delta"]
            if isinstance(d.get("content"), str):
                out.texts[i] = out.texts.get(i, "") + d["content"]
            for tc in d.get("tool_calls") or []:
                if not isinstance(tc, dict):
                    out.problems.append("a tool_calls delta that is not an object")
                    continue
                j = tc.get("index", 0)
                slot = partial.setdefault((i, j if isinstance(j, int) else 0), {})
                if isinstance(tc.get("id"), str):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if isinstance(fn.get("name"), str):
                    slot["name"] = slot.get("name", "") + fn["name"]
                if isinstance(fn.get("arguments"), str):
                    slot["arguments"] = slot.get("arguments", "") + fn["arguments"]
            if c.get("finish_reason") is not None:
                out.finish[i] = c["finish_reason"]
    for (i, _j), slot in sorted(partial.items()):
        call = Call(slot.get("id", ""), slot.get("name", ""), slot.get("arguments", ""))
        out.calls.setdefault(i, []).append(call)
    return out


def message_calls(message: Any) -> list[Call]:
    """The tool calls of a non-streamed message (an empty list when it has none)."""
    calls: list[Call] = []
    if not isinstance(message, dict):
        return calls
    for tc in message.get("tool_calls") or []:
        fn = tc.get("function") if isinstance(tc, dict) else None
        if isinstance(fn, dict):
            calls.append(
                Call(str(tc.get("id") or ""), str(fn.get("name") or ""), str(fn.get("arguments")))
            )
    return calls
