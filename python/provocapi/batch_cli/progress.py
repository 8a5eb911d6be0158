"""What following a batch prints: a redrawn bar on a terminal, plain lines otherwise.

Only text here (no I/O decisions beyond writing to the stream given), so the bar's content
can be checked without a terminal."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TextIO

BAR_WIDTH = 24
PLAIN_EVERY_S = 30.0  # a plain line at least this often even when nothing changed


def counts(batch: dict[str, Any]) -> tuple[int, int]:
    """(lines done, total): done counts completed and failed lines alike."""
    rc = batch.get("request_counts") or {}
    done = int(rc.get("completed") or 0) + int(rc.get("failed") or 0)
    return done, int(rc.get("total") or 0)


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class Rate:
    """Lines per second since following began (the first observation is the origin)."""

    start_done: int = -1
    start_t: float = 0.0

    def update(self, done: int, now: float) -> float | None:
        if self.start_done < 0 or done < self.start_done:
            self.start_done, self.start_t = done, now
            return None
        elapsed = now - self.start_t
        if elapsed <= 0 or done == self.start_done:
            return None
        return (done - self.start_done) / elapsed


def describe(status: str, done: int, total: int, rate: float | None) -> str:
    """`1200/5000 lines (24%)  41.0 lines/s  ETA 1m33s  in_progress`."""
    pct = f" ({done * 100 // total}%)" if total else ""
    parts = [f"{done}/{total or '?'} lines{pct}"]
    if rate:
        parts.append(f"{rate:.1f} lines/s")
        if total and done < total:
            parts.append(f"ETA {duration((total - done) / rate)}")
    parts.append(status)
    return "  ".join(parts)


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = width * done // total if total else 0
    return "[" + "#" * filled + "." * (width - filled) + "]"


@dataclass
class Reporter:
    """Prints each observation of a batch: `tty` redraws one line, else plain lines when
    something changed (or every PLAIN_EVERY_S)."""

    out: TextIO
    tty: bool
    rate: Rate = field(default_factory=Rate)
    _last: tuple[str, int] | None = None
    _last_t: float = 0.0
    _drawn: bool = False

    def show(self, batch: dict[str, Any], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        status = str(batch.get("status", "?"))
        done, total = counts(batch)
        line = describe(status, done, total, self.rate.update(done, now))
        if self.tty:
            self.out.write("\r\x1b[2K" + bar(done, total) + " " + line)
            self._drawn = True
        elif (status, done) != self._last or now - self._last_t >= PLAIN_EVERY_S:
            self.out.write(f"{batch.get('id', '?')}: {line}\n")
            self._last, self._last_t = (status, done), now
        self.out.flush()

    def finish(self) -> None:
        """Ends the bar's line, so what follows starts on its own."""
        if self.tty and self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False
