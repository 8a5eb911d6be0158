"""GET /health back to back on one connection until stdin closes, then print each
answer as "<finished at> <latency>", in seconds of `time.monotonic()` (one clock for
every process on the machine).

It runs apart from pytest so that the test process's own pauses are not counted as
the gateway's: by the time the end-to-end tests run, a full collection of pytest's
heap takes a tenth of a second or more, and it stops every thread of that process.
Usage: python poll_health.py PORT
"""

from __future__ import annotations

import gc
import http.client
import select
import sys
import time


def main() -> None:
    gc.disable()  # a few small objects per answer; nothing here needs collecting
    conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
    answers: list[tuple[float, float]] = []
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], 0)[0]:  # readable: the test closed it
        t0 = time.monotonic()
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"/health answered {resp.status}")
        t1 = time.monotonic()
        answers.append((t1, t1 - t0))
    conn.close()
    sys.stdout.write("".join(f"{done!r} {lat!r}\n" for done, lat in answers))


if __name__ == "__main__":
    main()
