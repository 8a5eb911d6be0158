"""Probes of tool calling: tool_choice auto / required / named / none, parallel calls,
and a streamed call put back together."""

from __future__ import annotations

from typing import Any

from . import assemble
from .context import TOOL_PROMPT, TOOLS, Ctx, stream_not_ok
from .probe_chat import chat_answer
from .toolcheck import call_problem
from .verdicts import BROKEN, IGNORED, WORKS, Outcome, short

NAMES = ("tools", "tool_choice")


def _calls(
    probe: str, ctx: Ctx, extra: dict[str, Any], prompt: str = TOOL_PROMPT
) -> Outcome | list[assemble.Call]:
    out, _body, msg = chat_answer(probe, ctx, {"tools": TOOLS, **extra}, NAMES, prompt)
    if out:
        return out
    return assemble.message_calls(msg)


def _judge_calls(probe: str, calls: list[assemble.Call], what: str) -> Outcome:
    if not calls:
        return Outcome(probe, IGNORED, f"{what}: answered in text, no tool call")
    for c in calls:
        if problem := call_problem(c, TOOLS):
            return Outcome(probe, BROKEN, problem)
    listed = ", ".join(f"{c.name}({short(c.arguments, 40)})" for c in calls)
    return Outcome(probe, WORKS, f"{len(calls)} call(s): {listed}")


def tools_auto(ctx: Ctx) -> Outcome:
    calls = _calls("tools_auto", ctx, {"tool_choice": "auto"})
    if isinstance(calls, Outcome):
        return calls
    return _judge_calls("tools_auto", calls, "tool_choice auto")


def tools_required(ctx: Ctx) -> Outcome:
    calls = _calls("tools_required", ctx, {"tool_choice": "required"})
    if isinstance(calls, Outcome):
        return calls
    return _judge_calls("tools_required", calls, "tool_choice required")


def tools_named(ctx: Ctx) -> Outcome:
    # the prompt asks for the weather; the choice names the other tool
    choice = {"type": "function", "function": {"name": "get_time"}}
    calls = _calls("tools_named", ctx, {"tool_choice": choice})
    if isinstance(calls, Outcome):
        return calls
    if calls and any(c.name != "get_time" for c in calls):
        return Outcome("tools_named", IGNORED, f"named get_time, called {calls[0].name}")
    return _judge_calls("tools_named", calls, "tool_choice named get_time")


def tools_none(ctx: Ctx) -> Outcome:
    calls = _calls("tools_none", ctx, {"tool_choice": "none"})
    if isinstance(calls, Outcome):
        return calls
    if calls:
        return Outcome("tools_none", IGNORED, f"tool_choice none, still called {calls[0].name}")
    return Outcome("tools_none", WORKS, "answered in text, no call")


def parallel_tool_calls(ctx: Ctx) -> Outcome:
    prompt = "Use the get_weather tool for both cities: the weather in Paris and in Tokyo?"
    extra = {"tool_choice": "auto", "parallel_tool_calls": True}
    out, _body, msg = chat_answer(
        "parallel_tool_calls",
        ctx,
        {"tools": TOOLS, **extra},
        ("parallel_tool_calls", *NAMES),
        prompt,
    )
    if out:
        return out
    return _judge_calls("parallel_tool_calls", assemble.message_calls(msg), "parallel allowed")


def streamed_tool_call(ctx: Ctx) -> Outcome:
    s = ctx.stream({"tools": TOOLS, "tool_choice": "required"}, TOOL_PROMPT)
    if out := stream_not_ok("streamed_tool_call", s, NAMES):
        return out
    a = assemble.chat_stream(s.events)
    if a.problems:
        return Outcome("streamed_tool_call", BROKEN, a.problems[0])
    calls = a.first_calls
    if calls and not all(c.id for c in calls):
        return Outcome("streamed_tool_call", BROKEN, "a streamed call without an id")
    return _judge_calls("streamed_tool_call", calls, "streamed, tool_choice required")
