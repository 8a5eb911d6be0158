"""Where a request's CPU goes: the ASGI app run in-process under cProfile, without Granian.

    .venv/bin/python bench/profile_app.py                      # provocapi, non-streaming
    .venv/bin/python bench/profile_app.py --target baseline    # the aiohttp pass-through
    .venv/bin/python bench/profile_app.py --stream --top 40

Starts the simulator (core 0, --output-tokens 64), pins itself to core 1, builds the app the
way Granian's worker would (provocapi.app:create_app with the launcher's environment, or
bench/baseline_proxy.py's PassThrough), and drives it with a small in-process ASGI server:
`--concurrency` tasks sending the floor's fixed chat body (bench/floor.py) until `--requests`
are answered. It reports the app's CPU per request without the profiler first, then the
functions that cost the most under cProfile (tottime, and cumulative for provocapi's own
code). Granian's own work (HTTP parsing, the ASGI bridge) is not in these figures; the
upstream client's (aiohttp) is.

    .venv/bin/python bench/profile_app.py --stalls 5 --concurrency 2   # what blocks the loop

The usage flusher (spool → store) runs inline here; under `provocapi serve` it has its
own process. `--flusher external` leaves it out, as serve does for its workers: the
figure is then the request path's alone (the spool just grows during the run).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import floor  # noqa: E402  (bench/floor.py: the body, the simulator, the key)

Message = MutableMapping[str, Any]
App = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]


async def lifespan(app: App) -> Callable[[], Awaitable[None]]:
    """Runs the app's lifespan startup; returns a coroutine function that shuts it down."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.3"}, "state": {}}
    task = asyncio.ensure_future(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    msg = await outbox.get()
    assert msg["type"] == "lifespan.startup.complete", msg

    async def shutdown() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 10)

    return shutdown


def chat_headers(body: bytes, key: str) -> list[tuple[bytes, bytes]]:
    """An SDK's headers for a chat call (what Granian hands the app)."""
    return [
        (b"host", b"127.0.0.1:8080"),
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(body)).encode()),
    ]


def chat_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of one POST /v1/chat/completions, as Granian builds it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def drive(
    app: App, body: bytes, key: str, total: int, concurrency: int, unique: bool = False
) -> dict[str, int]:
    """`unique`: the body's floor.UNIQUE_MARK becomes a number of its own per request."""
    headers = chat_headers(body, key)
    head, _, tail = body.partition(floor.UNIQUE_MARK.encode())
    counts = {"ok": 0, "failed": 0, "body_messages": 0}
    left = total
    serial = 0

    async def one() -> None:
        nonlocal serial
        answered = asyncio.Event()
        delivered = False
        status = 0
        sent, sent_headers = body, headers
        if unique:  # every prompt new: no count or cache can be reused
            serial += 1
            sent = b"%s%d%s" % (head, serial, tail)
            sent_headers = chat_headers(sent, key)

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": sent, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            elif msg["type"] == "http.response.body":
                counts["body_messages"] += 1
                if not msg.get("more_body", False):
                    answered.set()

        await app(chat_scope(sent_headers), receive, send)
        answered.set()
        counts["ok" if status == 200 else "failed"] += 1

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


# --timers-off: the gateway's clock-driven work (worker probes, /metrics reads, the batch
# runner's polls) left out, so that a run's work is its requests' alone. Under a slow
# harness (callgrind runs the app ~50x slower) these would otherwise be charged to them.
TIMERS_OFF = """
[routing]
probe_interval_s = 3600
metrics_interval_s = 3600

[batch]
poll_interval_s = 3600
"""


def build_app(
    target: str, upstream: str, work: Path, flusher: str = "inline", timers_off: bool = False
) -> tuple[App, str]:
    if target == "baseline":
        import baseline_proxy

        return baseline_proxy.PassThrough(upstream), "unused"
    cfg = work / "gateway.toml"
    text = floor.GATEWAY_CONFIG.format(model=floor.MODEL, upstream=upstream)
    cfg.write_text(text + TIMERS_OFF if timers_off else text)
    data = work / "data"
    argv = [sys.executable, "-m", "provocapi", "keys", "create", "--tenant", "bench"]
    out = subprocess.run(
        [*argv, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip().splitlines()[-1]
    os.environ.update(
        PROVOCAPI_CONFIG=str(cfg),
        PROVOCAPI_DATA_DIR=str(data),
        PROVOCAPI_STATE_FILE=str(work / "state.bin"),
        PROVOCAPI_LOG_LEVEL="WARNING",
    )
    if flusher == "external":
        from provocapi.usage.recorder import EXTERNAL, FLUSHER_ENV

        os.environ[FLUSHER_ENV] = EXTERNAL
    from provocapi.app import create_app

    return create_app(), key


class StallSampler(threading.Thread):
    """Samples the event loop thread's stack while the loop is stuck (a poor man's py-spy).

    A ticker coroutine notes the time every millisecond; this thread wakes every millisecond
    (or when the GIL lets it) and, when the last tick is older than `threshold_s`, records
    where the loop thread is. The stacks that keep showing up are what blocks the loop.
    Hints, not proof: the thread samples only when it gets the GIL, so a call that releases
    it (a syscall) is over-represented, and a saturated loop is "stuck" between any two
    ticks; use a low --concurrency so the loop has idle time and a stall stands out.
    """

    def __init__(self, threshold_s: float) -> None:
        super().__init__(daemon=True)
        self.threshold_s = threshold_s
        self.loop_thread = threading.get_ident()
        self.last_tick = time.perf_counter()
        self.samples: collections.Counter[tuple[str, ...]] = collections.Counter()
        self.stalled = 0
        self.running = True

    async def ticker(self) -> None:
        while self.running:
            self.last_tick = time.perf_counter()
            await asyncio.sleep(0.001)

    def run(self) -> None:
        while self.running:
            time.sleep(0.001)
            if time.perf_counter() - self.last_tick < self.threshold_s:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            stack: list[str] = []
            while frame is not None and len(stack) < 14:
                code = frame.f_code
                where = code.co_filename.replace(str(floor.REPO) + "/", "")
                stack.append(f"{where.split('site-packages/')[-1]}:{frame.f_lineno} {code.co_name}")
                frame = frame.f_back
            self.samples[tuple(stack)] += 1
            self.stalled += 1


async def find_stalls(app: App, body: bytes, key: str, args: argparse.Namespace) -> None:
    sampler = StallSampler(args.stalls / 1000)
    ticker = asyncio.ensure_future(sampler.ticker())
    sampler.start()
    t0 = time.perf_counter()
    await drive(app, body, key, args.requests, args.concurrency)
    wall = time.perf_counter() - t0
    sampler.running = False
    await ticker
    print(
        f"==> loop stuck for more than {args.stalls:g} ms: {sampler.stalled} samples "
        f"(~1 ms each) in {wall:.1f} s; the most frequent stacks, innermost first:"
    )
    for stack, n in sampler.samples.most_common(args.top // 3 or 5):
        print(f"\n  {n} samples")
        for line in stack:
            print(f"    {line}")


async def main_async(args: argparse.Namespace, upstream: str, work: Path) -> None:
    app, key = build_app(args.target, upstream, work, args.flusher, args.timers_off)
    body = json.dumps(floor.body(args.stream, args.unique_prompts)).encode()
    unique = args.unique_prompts
    shutdown = await lifespan(app)
    try:
        warm = await drive(app, body, key, min(500, args.requests), args.concurrency, unique)
        if warm["failed"]:
            raise SystemExit(f"warm-up: {warm['failed']} requests failed")
        cpu0, t0 = time.process_time(), time.perf_counter()
        counts = await drive(app, body, key, args.requests, args.concurrency, unique)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        n = counts["ok"] + counts["failed"]
        print(
            f"==> {args.target}, {'streaming' if args.stream else 'non-streaming'}, "
            f"{n} requests at concurrency {args.concurrency}, in-process (no Granian):\n"
            f"    {cpu / n * 1e6:.1f} µs CPU per request (this process: app + upstream client), "
            f"{n / wall:.0f} req/s, {counts['failed']} failed, "
            f"{counts['body_messages'] / n:.1f} body messages per response"
        )
        if args.stalls:
            await find_stalls(app, body, key, args)
            return
        if args.cpu_only:
            return
        # CPU time, not wall time: other work on a shared machine must not show up as ours
        prof = cProfile.Profile(time.process_time)
        prof.enable()
        await drive(app, body, key, args.requests, args.concurrency, unique)
        prof.disable()
    finally:
        await shutdown()
    buf = io.StringIO()
    if args.target == "provocapi":  # before strip_dirs: select provocapi's own modules by path
        own = pstats.Stats(prof, stream=buf)
        own.sort_stats("cumulative").print_stats(r"python/provocapi/", args.top)
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(args.top)
    print(buf.getvalue().replace(str(Path(floor.REPO, "python")) + "/", ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=("provocapi", "baseline"), default="provocapi")
    ap.add_argument("--stream", action="store_true", help='"stream": true bodies')
    ap.add_argument(
        "--unique-prompts",
        action="store_true",
        help="a different prompt each request (bench/floor.py's), so no count is cached",
    )
    ap.add_argument(
        "--cpu-only",
        action="store_true",
        help="only the CPU figure, no profile after it (alternated rounds: twice as many)",
    )
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--top", type=int, default=30, help="rows of each profile table")
    ap.add_argument(
        "--flusher",
        choices=("inline", "external"),
        default="inline",
        help="external: no usage flusher in this process (as under `provocapi serve`)",
    )
    ap.add_argument(
        "--stalls",
        type=float,
        metavar="MS",
        help="instead of profiling: sample what the event loop runs whenever it is stuck "
        "for more than MS milliseconds",
    )
    ap.add_argument(
        "--timers-off",
        action="store_true",
        help="no worker probes, /metrics reads or batch polls during the run (clock-driven "
        "work, not the requests'; bench/instructions.py counts with this)",
    )
    ap.add_argument(
        "--cpu",
        type=int,
        default=int(floor.SERVER_CPU),
        help="the core this process runs on (default: the floor's server core)",
    )
    args = ap.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    work = Path(tempfile.mkdtemp(prefix="provocapi-profile-"))
    procs = floor.Processes(work)
    try:
        upstream = floor.start_upstream(procs, "sim")
        import uvloop

        uvloop.run(main_async(args, upstream, work))
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
