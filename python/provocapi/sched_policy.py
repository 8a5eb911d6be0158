"""SCHED_BATCH for the serving processes.

Each Granian worker has two busy threads: the event loop's (Python) and the Rust
runtime's (HTTP). Every answer the loop hands over wakes the runtime's thread
with an eventfd write, and under the kernel's default policy the woken thread
preempts the loop mid-turn: a switch and back for most requests, each costing
the time of the switch and the caches it cools. Under SCHED_BATCH a woken
thread does not preempt; it runs when the loop's turn ends, and then writes
every answer the turn produced. bench/results/sched-batch-2026-12-06*.md: CPU a
request at saturation 0.84-0.91x, context switches from ~4.5 to ~0.25 a
request. Below saturation the same rule costs latency: a woken thread waits
for the running one, or the scheduler's tick (300 req/s open loop: p99 6.40
against 5.35 ms; one call at a time p50 +0.17 ms in a loud spell). Hence
`[server] sched_batch = true` is an option, for workers that run saturated;
the default, "auto", batches a worker's runtime threads only while its loop is
saturated (sched_adaptive.py).

Set in the launcher before Granian forks its workers: they and every thread
they start inherit it. No privilege is needed to choose SCHED_BATCH.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("provocapi")


def use_batch() -> bool:
    """This thread (and what it forks or starts from now on) to SCHED_BATCH; False,
    with a warning, where the platform refuses it (the server runs as before)."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # not Linux, or a seccomp filter
        log.warning("could not switch the serving processes to SCHED_BATCH: %s", exc)
        return False
    return True
