"""The comparison written out: Markdown (overall, findings, per case side by side),
JSON (everything), and SVG charts of latency and token distributions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import charts
from .runner import Run

CHECKS = (
    ("tool_valid_rate", "tool"),
    ("expect_tool_rate", "expected tool"),
    ("json_valid_rate", "json"),
    ("substring_rate", "substring"),
)
CHARTS = ("latency.svg", "ttft.svg", "prompt_tokens.svg", "completion_tokens.svg")


def _n(v: Any, digits: int = 0, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}{unit}"
    return f"{v}{unit}"


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.0f}%"


def _cell(text: str | None, limit: int = 120) -> str:
    if text is None:
        return "(failed)"
    t = " ".join(text.split()).replace("|", "\\|")
    return t if len(t) <= limit else t[: limit - 1] + "…"


def overall_table(o: dict[str, Any]) -> list[str]:
    a, b = o["a"], o["b"]
    rows = [
        ("requests (failed)", f"{a['runs']} ({a['errors']})", f"{b['runs']} ({b['errors']})"),
        ("latency p50 / p90 / p99 ms", *(
            " / ".join(_n(s["latency_ms"][p]) for p in ("p50", "p90", "p99")) for s in (a, b)
        )),
        ("TTFT p50 / p90 / p99 ms", *(
            " / ".join(_n(s["ttft_ms"][p]) for p in ("p50", "p90", "p99")) for s in (a, b)
        )),
        ("tokens/s (median)", _n(a["tokens_per_s"], 1), _n(b["tokens_per_s"], 1)),
        ("prompt tokens (mean per case)", _n(a["prompt_tokens"], 1), _n(b["prompt_tokens"], 1)),
        ("completion tokens (mean)", _n(a["completion_tokens"], 1),
         _n(b["completion_tokens"], 1)),
        ("tool-call rate", _rate(a["tool_call_rate"]), _rate(b["tool_call_rate"])),
        ("valid tool calls", _rate(a["tool_valid_rate"]), _rate(b["tool_valid_rate"])),
        ("expected tool called", _rate(a["expect_tool_rate"]), _rate(b["expect_tool_rate"])),
        ("valid JSON", _rate(a["json_valid_rate"]), _rate(b["json_valid_rate"])),
        ("expected substring", _rate(a["substring_rate"]), _rate(b["substring_rate"])),
    ]  # fmt: skip
    lines = ["| | A | B |", "|---|---|---|"]
    lines += [f"| {k} | {x} | {y} |" for k, x, y in rows]
    lines += [
        "",
        f"- token ratio B/A: prompt {_n(o['prompt_token_ratio'], 2)}, "
        f"completion {_n(o['completion_token_ratio'], 2)}",
        f"- outputs: {_rate(o['exact_match_rate'])} exact matches, mean normalised edit "
        f"distance {_n(o['edit_distance'], 2)}"
        + (f", mean embedding cosine {_n(o['cosine'], 3)}" if o["cosine"] is not None else ""),
    ]
    return lines


def markdown(meta: dict[str, Any], o: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    lines = [
        "# provocapi compare",
        "",
        f"- A: {meta['a']} (model {meta['a_model'] or 'per case'})",
        f"- B: {meta['b']} (model {meta['b_model'] or 'per case'})",
        f"- golden set: {meta['golden']} ({o['cases']} cases), repeat {meta['repeat']}, "
        f"concurrency {meta['concurrency']} per side",
        "",
        "## Overall",
        "",
        *overall_table(o),
        "",
        "## Findings",
        "",
        *([f"- {f}" for f in o["findings"]] or ["- no difference above the thresholds"]),
        "",
        "## Per case",
        "",
        "| case | category | A output | B output | prompt tok A/B | completion tok A/B | "
        "latency p50 ms A/B | TTFT p50 ms A/B | match | edit dist | checks A/B |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        a, b = c["a"], c["b"]
        checks = []
        for key, label in CHECKS:
            if a[key] is not None or b[key] is not None:
                checks.append(f"{label} {_rate(a[key])}/{_rate(b[key])}")
        if c["cosine"] is not None:
            checks.append(f"cosine {c['cosine']:.3f}")
        lines.append(
            f"| {c['id']} | {c['category']} | {_cell(c['output_a'])} | {_cell(c['output_b'])} | "
            f"{_n(a['prompt_tokens'], 1)}/{_n(b['prompt_tokens'], 1)} | "
            f"{_n(a['completion_tokens'], 1)}/{_n(b['completion_tokens'], 1)} | "
            f"{_n(a['latency_ms']['p50'])}/{_n(b['latency_ms']['p50'])} | "
            f"{_n(a['ttft_ms']['p50'])}/{_n(b['ttft_ms']['p50'])} | "
            f"{_rate(c['exact_match_rate'])} | {_n(c['edit_distance'], 2)} | "
            f"{'; '.join(checks) or 'n/a'} |"
        )
    lines += ["", "Charts: " + ", ".join(f"[{n}]({n})" for n in CHARTS), ""]
    return "\n".join(lines)


def unwritable(out_dir: Path) -> str | None:
    """Why the report cannot go to `out_dir` (made here if missing); None when it can."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return e.strerror or str(e)
    if not os.access(out_dir, os.W_OK | os.X_OK):
        return "not writable"
    return None


def write(
    out_dir: Path,
    meta: dict[str, Any],
    o: dict[str, Any],
    cases: list[dict[str, Any]],
    runs: list[Run],
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text(markdown(meta, o, cases))
    doc = {"meta": meta, "overall": o, "cases": cases}
    (out_dir / "report.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    ok = {side: [r for r in runs if r.side == side and r.ok] for side in ("a", "b")}
    chat = {c["id"] for c in cases if c["kind"] == "chat"}
    lat = {f"side {s.upper()}": [r.latency_s * 1000 for r in ok[s] if r.case in chat] for s in ok}
    ttft = {f"side {s.upper()}": [r.ttft_s * 1000 for r in ok[s] if r.ttft_s is not None]
            for s in ok}  # fmt: skip
    (out_dir / "latency.svg").write_text(charts.box_plot("Latency per request", lat, " ms"))
    (out_dir / "ttft.svg").write_text(charts.box_plot("Time to first token", ttft, " ms"))
    ids = [c["id"] for c in cases]
    for key, title in (("prompt_tokens", "Prompt tokens per case"),
                       ("completion_tokens", "Completion tokens per case")):  # fmt: skip
        series = {f"side {s.upper()}": [c[s][key] or 0.0 for c in cases] for s in ("a", "b")}
        (out_dir / f"{key}.svg").write_text(charts.grouped_bars(title, ids, series))
