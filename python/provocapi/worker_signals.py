"""A Granian worker stops once, however many times it is told to.

Granian's worker answers SIGINT and SIGTERM with `WorkerSignal.set()`, a blocking
send on a channel of one slot that its stop thread reads once. A third signal before
the process ends blocks in that send for good, holding the GIL that the stop itself
needs: every thread of the worker waits on a futex, and `provocapi serve` waits for
the worker. Ctrl-C pressed three times (SIGINT to the whole group) hung serve that
way in 2 of 5 tries, and an orphaned worker too: the kernel repeats
PR_SET_PDEATHSIG each time the worker is handed to another thread of the dying
launcher. Granian 2.8.9 up to its main branch of 2026-08 sends the same way.

Here Granian's own handlers are installed, then replaced by one that passes the
first signal on and drops the rest: the worker is stopping already.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger("provocapi.worker_signals")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def once(stop: Callable[[], object]) -> Callable[..., None]:
    """A signal handler that calls `stop` on the first signal only."""
    fired = False

    def handler(*_: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            stop()

    return handler


def stop_once() -> bool:
    """Make this process's Granian worker stop once (call before Granian starts
    serving: from the app factory). False when Granian's private hook is not where
    2.8 keeps it (the worker then has Granian's own handlers)."""
    try:
        from granian import _signals
    except ImportError:
        return False
    original = getattr(_signals, "set_loop_signals", None)
    if original is None:
        log.warning("granian._signals.set_loop_signals not found: repeated signals may hang")
        return False
    if getattr(original, "stops_once", False):
        return True

    def set_loop_signals(loop: Any) -> Any:
        event = original(loop)
        handler = once(event.set)
        for sig in SIGNALS:
            try:
                loop.add_signal_handler(sig, handler, sig, None)
            except NotImplementedError:  # a loop without them: as Granian does then
                signal.signal(sig, handler)
        return event

    set_loop_signals.stops_once = True  # type: ignore[attr-defined]
    _signals.set_loop_signals = set_loop_signals
    return True
