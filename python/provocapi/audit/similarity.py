"""Numbers that compare two answers and summarise many runs: percentiles, a normalised
word-level edit distance, cosine similarity."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the closest ranks; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()


def edit_distance(a: str, b: str) -> float:
    """Levenshtein distance over words, divided by the longer length: 0 same, 1 unrelated.
    Words rather than characters: cheaper, and closer to how a reader sees a change."""
    wa, wb = normalise(a).split(), normalise(b).split()
    if not wa and not wb:
        return 0.0
    prev = list(range(len(wb) + 1))
    for i, x in enumerate(wa, 1):
        cur = [i]
        for j, y in enumerate(wb, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1] / max(len(wa), len(wb))


def cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Cosine similarity; None when the vectors differ in length or one is zero."""
    if len(a) != len(b) or not a:
        return None
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:
        return None
    return dot / (na * nb)
