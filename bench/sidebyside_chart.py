"""The chart of bench/sidebyside.py: six panels from its .json, one PNG.

    .cache/bench-venv/bin/python bench/sidebyside_chart.py bench/results/sidebyside-<date>.json \\
        bench/results/sidebyside-<date>.png

Runs in the bench-only venv (matplotlib), never in the project's own environment.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

ORDER = ("direct", "provocapi", "floor", "litellm")
NAMES = {
    "direct": "direct",
    "provocapi": "provocapi",
    "floor": "floor\n(aiohttp)",
    "litellm": "LiteLLM",
}
COLORS = {"direct": "#9e9e9e", "provocapi": "#1f77b4", "floor": "#2ca02c", "litellm": "#d62728"}


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def bars(ax: Axes, values: dict[str, float], title: str, unit: str, log: bool = False) -> None:
    names = [n for n in ORDER if n in values and _finite(values[n])]
    ys = [values[n] for n in names]
    b = ax.bar([NAMES[n] for n in names], ys, color=[COLORS[n] for n in names])
    for rect, y in zip(b, ys, strict=True):
        label = f"{y:,.0f}" if y >= 100 else f"{y:.3g}"
        ax.annotate(
            label, (rect.get_x() + rect.get_width() / 2, y), ha="center", va="bottom", fontsize=8
        )
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit, fontsize=9)
    if log and ys and min(ys) > 0:
        ax.set_yscale("log")
    ax.tick_params(axis="x", labelsize=8)
    ax.margins(y=0.15)


def grouped(
    ax: Axes,
    series: dict[str, dict[str, float]],
    title: str,
    unit: str,
    under: dict[str, str] | None = None,
) -> None:
    """Added p50/p90/p99 per gateway, log scale (LiteLLM is orders of magnitude above)."""
    names = [n for n in ORDER if n in series]
    under = under or {}
    qs = ("p50", "p90", "p99")
    width = 0.26
    for i, q in enumerate(qs):
        xs, ys = [], []
        for j, n in enumerate(names):
            v = series[n].get(q)
            if _finite(v):
                xs.append(j + (i - 1) * width)
                ys.append(max(float(v), 0.01))  # log scale: clip at 10 µs
        ax.bar(xs, ys, width, label=q, alpha=0.85, color=("#6baed6", "#3182bd", "#08519c")[i])
        for x, y in zip(xs, ys, strict=True):
            label = f"{y:,.0f}" if y >= 10 else f"{y:.2g}"
            ax.annotate(label, (x, y), ha="center", va="bottom", fontsize=6)
    ticks = [NAMES[n].split("\n")[0] + under.get(n, "") for n in names]
    ax.set_xticks(range(len(names)), ticks, fontsize=8)
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit, fontsize=9)
    ax.legend(fontsize=7)


def main(argv: list[str]) -> int:
    src, dst = Path(argv[0]), Path(argv[1])
    r = json.loads(src.read_text())
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    bars(
        axes[0][0],
        {n: v["rate"] for n, v in r["max"].items()},
        "max throughput (non-streaming, c=64)",
        "req/s (log)",
        log=True,
    )
    cpu = {n: v["cpu_per_1k"] for n, v in r["max"].items() if v.get("cpu_per_1k") is not None}
    bars(axes[0][1], cpu, "gateway CPU per 1,000 requests (at max)", "CPU seconds (log)", log=True)
    d40 = r["at40"].get("direct")
    added40: dict[str, dict[str, float]] = {}
    if d40:
        for n, v in r["at40"].items():
            if n != "direct":
                added40[n] = {
                    q: v[q] - d40[q]
                    for q in ("p50", "p90", "p99")
                    if _finite(v[q]) and _finite(d40[q])
                }
    n40 = {n: f"\nn={v['n']:,}" for n, v in r["at40"].items()}
    note = "\n(p99 shown only from 1,000 samples)"
    grouped(axes[0][2], added40, "added latency over direct at 40 req/s" + note, "ms (log)", n40)
    half: dict[str, dict[str, float]] = {}
    for n, v in r["half"].items():
        dh = r["half_direct"].get(n)
        if n != "direct" and dh:
            half[f"{n}"] = {
                q: v[q] - dh[q] for q in ("p50", "p90", "p99") if _finite(v[q]) and _finite(dh[q])
            }
    nh = {n: f"\n{v['rate']:,.0f} req/s, n={v['n']:,}" for n, v in r["half"].items()}
    grouped(axes[1][0], half, "added latency at 50% of own max" + note, "ms (log)", nh)
    if r.get("stream"):
        bars(
            axes[1][1],
            {n: v["tokens_per_s"] for n, v in r["stream"].items()},
            "streaming: tokens/s relayed (64 streams, 20 ms/token)",
            "tokens/s",
        )
    else:
        axes[1][1].set_axis_off()
    if r.get("memory"):
        mem = r["memory"]
        opened = ", ".join(f"{NAMES[n].split()[0]} {v['open_max']:,}" for n, v in mem.items())
        bars(
            axes[1][2],
            {n: v["rss_at_max_open"] / 2**20 for n, v in mem.items()},
            f"RSS of the gateway tree, {int(r['durations']['hold']):,} streams opened at once\n"
            f"(most open: {opened})",
            "MiB",
        )
    else:
        axes[1][2].set_axis_off()
    title = f"provocapi vs LiteLLM vs the Python floor vs direct — {r['started']}"
    if r.get("quick"):
        title += " (--quick smoke run)"
    fig.suptitle(
        title + "\n(gateway alone on one core; load generator + upstream on the other)", fontsize=11
    )
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
