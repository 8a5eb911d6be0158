"""Loop-stall diagnostics: where the event loop thread is when it misses its heartbeat.

Off unless `PROVOCAPI_STALL_MS` is set (for example 5). A coroutine ticks every
millisecond; a thread wakes every millisecond and, when the last tick is older
than the threshold, samples the loop thread's Python stack. Every 10 s the most
frequent stacks are logged at WARNING on `provocapi.stalls`. Hints, not proof:
the thread samples only when it holds the GIL, so a blocking syscall that
releases it is over-represented.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import threading
import time

log = logging.getLogger("provocapi.stalls")

REPORT_EVERY_S = 10.0


class StallWatch(threading.Thread):
    def __init__(self, threshold_s: float) -> None:
        super().__init__(daemon=True, name="provocapi-stallwatch")
        self.threshold_s = threshold_s
        self.loop_thread = threading.get_ident()
        self.last_tick = time.perf_counter()
        self.samples: collections.Counter[tuple[str, ...]] = collections.Counter()
        self.stalls = 0  # distinct stalls (a late heartbeat, counted once)
        self.longest_s = 0.0
        self.running = True

    async def ticker(self) -> None:
        try:
            while True:
                self.last_tick = time.perf_counter()
                await asyncio.sleep(0.001)
        finally:
            self.running = False  # the thread stops with its ticker

    def run(self) -> None:
        in_stall = False
        reported = time.monotonic()
        while self.running:
            time.sleep(0.001)
            late = time.perf_counter() - self.last_tick
            if late >= self.threshold_s:
                if not in_stall:
                    self.stalls += 1
                in_stall = True
                self.longest_s = max(self.longest_s, late)
                self.samples[self._stack()] += 1
            else:
                in_stall = False
            if time.monotonic() - reported >= REPORT_EVERY_S:
                reported = time.monotonic()
                self._report()

    def _stack(self) -> tuple[str, ...]:
        frame = sys._current_frames().get(self.loop_thread)
        stack: list[str] = []
        while frame is not None and len(stack) < 12:
            code = frame.f_code
            where = code.co_filename.rsplit("site-packages/", 1)[-1]
            stack.append(f"{where}:{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        return tuple(stack)

    def _report(self) -> None:
        if not self.stalls:
            return
        lines = [
            f"{self.stalls} loop stalls over {self.threshold_s * 1e3:g} ms in the last "
            f"{REPORT_EVERY_S:g} s (longest {self.longest_s * 1e3:.1f} ms); "
            "stacks, innermost first:"
        ]
        for stack, n in self.samples.most_common(4):
            lines.append(f"  {n} samples")
            lines.extend(f"    {f}" for f in stack)
        log.warning("\n".join(lines))
        self.samples.clear()
        self.stalls = 0
        self.longest_s = 0.0


def start_if_asked() -> asyncio.Task[None] | None:
    """Called on the loop thread at start-up."""
    raw = os.environ.get("PROVOCAPI_STALL_MS")
    if not raw:
        return None
    watch = StallWatch(float(raw) / 1000)
    watch.start()
    return asyncio.get_running_loop().create_task(watch.ticker())
