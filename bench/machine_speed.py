"""How fast the measured core is right now: a fixed pure-Python workload's CPU time.

This machine is a KVM guest whose two cores are shared with other tenants. The CPU
time the same work takes on core 1 moves by up to 1.8x from one minute to the next
(164 to 294 ms at load average under 1, 2026-12-04), and neither the load average nor
steal time shows it. So absolute figures from runs at different times
(req/s, CPU per request) differ that much for the same build; only ratios measured
in one run compare. The benches print this probe before and after, so a reader can
tell a slow machine from a slow gateway across runs.

    .venv/bin/python bench/machine_speed.py [--core 1] [--times 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

# Integer arithmetic, dict building, JSON encoding and hashing: the kinds of work a
# gateway's request does, in a fresh interpreter (no warm caches from the caller).
_WORK = """
import hashlib, json, time
t0 = time.process_time()
s = 0
for i in range(600_000):
    s += i * i % 7
d = {str(i): i for i in range(20_000)}
for _ in range(20):
    json.dumps(d)
for _ in range(3_000):
    hashlib.sha256(b"x" * 4096).digest()
print(time.process_time() - t0)
"""


def probe_ms(core: int = 1, times: int = 3) -> float:
    """Median CPU milliseconds of the fixed workload pinned to `core` (lower is faster)."""
    runs = []
    for _ in range(times):
        out = subprocess.run(
            ["taskset", "-c", str(core), sys.executable, "-c", _WORK],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append(float(out) * 1000)
    return statistics.median(runs)


SPEED_PROBE = "bench/machine_speed.py: CPU time of a fixed workload on core 1, lower is faster"


def describe(core: int = 1) -> str:
    """One phrase for a results header."""
    return f"{probe_ms(core):.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--core", type=int, default=1)
    ap.add_argument("--times", type=int, default=5)
    args = ap.parse_args()
    print(f"core {args.core}: {probe_ms(args.core, args.times):.0f} ms (median of {args.times})")


if __name__ == "__main__":
    main()
