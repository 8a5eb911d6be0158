"""SVG charts written by hand (no plotting library): box plots of a distribution per
side, and grouped bars of a number per case and side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from .similarity import percentile

COLOURS = ("#4C78A8", "#F58518")  # side A, side B
FONT = 'font-family="sans-serif" font-size="12"'


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    )
    return "\n".join(
        [
            head,
            f"<title>{escape(title)}</title>",
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{width / 2}" y="20" text-anchor="middle" {FONT} font-weight="bold">'
            f"{escape(title)}</text>",
            *body,
            "</svg>",
            "",
        ]
    )


def _ticks(top: float, y0: float, y1: float, x: float, unit: str) -> list[str]:
    out = []
    for i in range(5):
        v = top * i / 4
        y = y1 - (y1 - y0) * i / 4
        out.append(f'<line x1="{x}" x2="{x - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#333"/>')
        out.append(
            f'<text x="{x - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{v:.4g}{unit}</text>'
        )
    return out


def box_plot(title: str, series: Mapping[str, Sequence[float]], unit: str = "") -> str:
    """One box per series (min, p25, median, p75, max; p99 marked)."""
    width, height = 160 + 140 * len(series), 320
    y0, y1, x0 = 40.0, 280.0, 70.0
    top = max((max(v) for v in series.values() if v), default=1.0) * 1.1 or 1.0

    def y(v: float) -> float:
        return y1 - (y1 - y0) * v / top

    body = [f'<line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}" stroke="#333"/>']
    body += _ticks(top, y0, y1, x0, unit)
    for i, (label, values) in enumerate(series.items()):
        cx = x0 + 90 + 140 * i
        colour = COLOURS[i % len(COLOURS)]
        body.append(
            f'<text x="{cx}" y="{y1 + 20}" text-anchor="middle" {FONT}>'
            f"{escape(label)} (n={len(values)})</text>"
        )
        if not values:
            continue
        q = {p: percentile(values, p) or 0.0 for p in (0, 25, 50, 75, 99, 100)}
        body += [
            f'<line x1="{cx}" x2="{cx}" y1="{y(q[0]):.1f}" y2="{y(q[100]):.1f}" stroke="#333"/>',
            f'<rect x="{cx - 30}" y="{y(q[75]):.1f}" width="60" '
            f'height="{max(1.0, y(q[25]) - y(q[75])):.1f}" fill="{colour}" fill-opacity="0.7" '
            'stroke="#333"/>',
            f'<line x1="{cx - 30}" x2="{cx + 30}" y1="{y(q[50]):.1f}" y2="{y(q[50]):.1f}" '
            'stroke="#000" stroke-width="2"/>',
            f'<circle cx="{cx}" cy="{y(q[99]):.1f}" r="3" fill="#000"><title>p99 '
            f"{q[99]:.4g}{unit}</title></circle>",
            f'<text x="{cx + 36}" y="{y(q[50]) + 4:.1f}" {FONT}>{q[50]:.4g}{unit}</text>',
        ]
    return _svg(width, height, body, title)


def grouped_bars(
    title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]]
) -> str:
    """Per category one bar per series, side by side."""
    n = max(len(categories), 1)
    group = 18 * len(series) + 10
    width, height = int(100 + group * n), 360
    y0, y1, x0 = 40.0, 250.0, 70.0
    top = max((max(v) for v in series.values() if v), default=1.0) * 1.1 or 1.0
    body = [f'<line x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}" stroke="#333"/>']
    body += _ticks(top, y0, y1, x0, "")
    for j, cat in enumerate(categories):
        gx = x0 + 10 + group * j
        for i, (label, values) in enumerate(series.items()):
            v = values[j] if j < len(values) else 0.0
            h = (y1 - y0) * v / top
            body.append(
                f'<rect x="{gx + 18 * i}" y="{y1 - h:.1f}" width="16" height="{h:.1f}" '
                f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(cat)} {escape(label)}: '
                f"{v:.4g}</title></rect>"
            )
        tx = gx + group / 2 - 5
        body.append(
            f'<text x="{tx:.1f}" y="{y1 + 10}" {FONT} transform="rotate(60 {tx:.1f} {y1 + 10})">'
            f"{escape(cat[:18])}</text>"
        )
    for i, label in enumerate(series):
        body.append(
            f'<rect x="{x0 + 10 + 90 * i}" y="28" width="10" height="10" '
            f'fill="{COLOURS[i % len(COLOURS)]}"/>'
        )
        body.append(f'<text x="{x0 + 24 + 90 * i}" y="37" {FONT}>{escape(label)}</text>')
    return _svg(width, height, body, title)
