"""The compare run's progress bar on stderr: redrawn on a terminal, a plain line every
tenth of the way otherwise (logs stay short)."""

from __future__ import annotations

import threading
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, total: int, out: TextIO, tty: bool | None = None) -> None:
        self.total = max(total, 1)
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last_tenth = -1

    def line(self) -> str:
        filled = WIDTH * self.done // self.total
        bar = "#" * filled + "." * (WIDTH - filled)
        rate = self.done / max(time.monotonic() - self._start, 1e-9)
        failed = f", {self.failed} failed" if self.failed else ""
        return f"[{bar}] {self.done}/{self.total} requests ({rate:.1f}/s{failed})"

    def step(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += not ok
            if self.tty:
                self.out.write("\r\x1b[2K" + self.line())
            elif (tenth := self.done * 10 // self.total) != self._last_tenth:
                self._last_tenth = tenth
                self.out.write(self.line() + "\n")
            self.out.flush()

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
