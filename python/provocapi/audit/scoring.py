"""The runs of a comparison summed up: per case and overall, per side, and what differs
between the sides worth a reader's eye (`findings`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import schema
from .golden import Case
from .runner import Run
from .similarity import cosine, edit_distance, mean, normalise, percentile
from .toolcheck import call_problem

Stats = dict[str, Any]


def _pcts(values: list[float]) -> Stats:
    return {f"p{q}": percentile(values, q) for q in (50, 90, 99)}


def _rate(runs: list[Run], test: Callable[[Run], bool]) -> float | None:
    return sum(1 for r in runs if test(r)) / len(runs) if runs else None


def _json_ok(case: Case, r: Run) -> bool:
    try:
        value = json.loads(r.text)
    except ValueError:
        return False
    sch = case.json_schema
    if sch is not None:
        return not schema.errors(value, sch)
    return isinstance(value, (dict, list))


def quality(case: Case, runs: list[Run]) -> Stats:
    """Per side: the rates that apply to this case (None where they do not)."""
    ok = [r for r in runs if r.ok]
    out: Stats = {
        "tool_call_rate": None,
        "tool_valid_rate": None,
        "expect_tool_rate": None,
        "json_valid_rate": None,
        "substring_rate": None,
    }
    if case.tools and ok:
        tools = case.tools
        out["tool_call_rate"] = _rate(ok, lambda r: bool(r.calls))
        out["tool_valid_rate"] = _rate(
            ok, lambda r: bool(r.calls) and all(call_problem(c, tools) is None for c in r.calls)
        )
        if case.expect_tool:
            out["expect_tool_rate"] = _rate(
                ok, lambda r: bool(r.calls) and r.calls[0].name == case.expect_tool
            )
    if case.wants_json and ok:
        out["json_valid_rate"] = _rate(ok, lambda r: _json_ok(case, r))
    if case.expect_substring and ok:
        want = case.expect_substring.lower()
        out["substring_rate"] = _rate(ok, lambda r: want in r.output.lower())
    return out


def side_stats(runs: list[Run]) -> Stats:
    ok = [r for r in runs if r.ok]
    failed = [r for r in runs if not r.ok]
    tps = [t for r in ok if (t := r.tokens_per_s) is not None]
    return {
        "runs": len(runs),
        "errors": len(failed),
        "first_error": failed[0].error if failed else None,
        "prompt_tokens": mean([r.prompt_tokens for r in ok if r.prompt_tokens is not None]),
        "completion_tokens": mean(
            [r.completion_tokens for r in ok if r.completion_tokens is not None]
        ),
        "latency_ms": _pcts([r.latency_s * 1000 for r in ok]),
        "ttft_ms": _pcts([r.ttft_s * 1000 for r in ok if r.ttft_s is not None]),
        "tokens_per_s": percentile(tps, 50),
    }


def _ratio(b: float | None, a: float | None) -> float | None:
    return b / a if a and b is not None else None


def _pairs(a: list[Run], b: list[Run]) -> list[tuple[Run, Run]]:
    by_rep = {r.rep: r for r in b}
    return [(r, by_rep[r.rep]) for r in a if r.ok and r.rep in by_rep and by_rep[r.rep].ok]


def case_report(case: Case, a: list[Run], b: list[Run]) -> Stats:
    pairs = _pairs(a, b)
    sa, sb = side_stats(a), side_stats(b)
    out: Stats = {
        "id": case.id,
        "category": case.category,
        "kind": case.kind,
        "a": {**sa, **quality(case, a)},
        "b": {**sb, **quality(case, b)},
        "output_a": next((r.output for r in a if r.ok), None),
        "output_b": next((r.output for r in b if r.ok), None),
        "prompt_token_ratio": _ratio(sb["prompt_tokens"], sa["prompt_tokens"]),
        "completion_token_ratio": _ratio(sb["completion_tokens"], sa["completion_tokens"]),
        "exact_match_rate": None,
        "edit_distance": None,
        "cosine": None,
    }
    if case.kind == "chat" and pairs:
        out["exact_match_rate"] = sum(
            normalise(x.output) == normalise(y.output) for x, y in pairs
        ) / len(pairs)
        out["edit_distance"] = mean([edit_distance(x.output, y.output) for x, y in pairs])
    if case.kind == "embeddings" and pairs:
        sims = [c for x, y in pairs if (c := cosine(x.vector or [], y.vector or [])) is not None]
        out["cosine"] = mean(sims)
    return out


def _mean_of(cases: list[Stats], key: str, side: str | None = None) -> float | None:
    vals = [(c[side] if side else c)[key] for c in cases]
    return mean([v for v in vals if v is not None])


def overall(cases: list[Stats], runs: list[Run]) -> Stats:
    out: Stats = {"cases": len(cases)}
    chat_ids = {c["id"] for c in cases if c["kind"] == "chat"}
    for side in ("a", "b"):
        mine = [r for r in runs if r.side == side]
        chat = [r for r in mine if r.case in chat_ids]
        s = side_stats(chat)
        s["errors"] = sum(not r.ok for r in mine)
        s["runs"] = len(mine)
        for key in ("tool_call_rate", "tool_valid_rate", "expect_tool_rate",
                    "json_valid_rate", "substring_rate"):  # fmt: skip
            s[key] = _mean_of(cases, key, side)
        out[side] = s
    both = [c for c in cases if c["a"]["prompt_tokens"] and c["b"]["prompt_tokens"]]
    pa = sum(c["a"]["prompt_tokens"] for c in both)
    pb = sum(c["b"]["prompt_tokens"] for c in both)
    out["prompt_token_ratio"] = pb / pa if pa else None
    both = [c for c in cases if c["a"]["completion_tokens"] and c["b"]["completion_tokens"]]
    ca = sum(c["a"]["completion_tokens"] for c in both)
    cb = sum(c["b"]["completion_tokens"] for c in both)
    out["completion_token_ratio"] = cb / ca if ca else None
    out["exact_match_rate"] = _mean_of(cases, "exact_match_rate")
    out["edit_distance"] = _mean_of(cases, "edit_distance")
    out["cosine"] = _mean_of(cases, "cosine")
    out["findings"] = findings(out)
    return out


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


# a latency gap smaller than this is no finding, whatever its ratio: 3 ms against 4 ms
# on one server is the machine's noise, not a difference between providers
MIN_LATENCY_GAP_MS = 5.0


def findings(o: Stats) -> list[str]:
    """The differences worth a look, in words (thresholds: latency off by more than a
    quarter and by at least MIN_LATENCY_GAP_MS, tokens by more than 5%, rates by more
    than 10 points, any failed request)."""
    out: list[str] = []
    a, b = o["a"], o["b"]
    for side, s in (("A", a), ("B", b)):
        if s["errors"]:
            out.append(f"{side} failed {s['errors']} of {s['runs']} requests: {s['first_error']}")
    for key, label in (("latency_ms", "latency"), ("ttft_ms", "time to first token")):
        la, lb = a[key]["p50"], b[key]["p50"]
        if la and lb and not 0.8 <= lb / la <= 1.25 and abs(lb - la) >= MIN_LATENCY_GAP_MS:
            slower = "B" if lb > la else "A"
            out.append(
                f"{slower} is slower: p50 {label} {lb:.0f} ms (B) vs {la:.0f} ms (A), "
                f"x{max(la, lb) / min(la, lb):.2f}"
            )
    for key, label in (("prompt_token_ratio", "prompt"), ("completion_token_ratio", "completion")):
        r = o[key]
        if r is not None and not 0.95 <= r <= 1.05:
            out.append(f"{label} tokens differ: B/A = {r:.2f} (the tokenizer currency changes)")
    for key, label in (
        ("tool_call_rate", "tool-call rate"),
        ("tool_valid_rate", "valid tool calls"),
        ("expect_tool_rate", "expected tool called"),
        ("json_valid_rate", "valid JSON"),
        ("substring_rate", "expected substring present"),
    ):
        ra, rb = a[key], b[key]
        if ra is not None and rb is not None and abs(ra - rb) > 0.1:
            out.append(f"{label}: A {_pct(ra)}, B {_pct(rb)}")
    em = o["exact_match_rate"]
    if em is not None and em < 1:
        out.append(
            f"outputs differ: {_pct(em)} exact matches, mean edit distance {o['edit_distance']:.2f}"
        )
    return out
