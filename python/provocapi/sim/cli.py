"""``provocapi worker-sim`` / ``python -m provocapi.sim``: run one worker, or a fleet of them
(several simulated models in one process, each on its own port)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import uvloop

from ..parent_death import DIE_WITH_PARENT_ENV, die_with_parent
from .app import SimWorker
from .config import SimConfig, build_parser, entry_argv, from_namespace
from .server import serve


def _without_fleet(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--fleet":
            skip = True
        elif not word.startswith("--fleet="):
            out.append(word)
    return out


def configs(argv: list[str]) -> list[SimConfig]:
    """Parse the command line; a fleet's entries take the other flags as defaults."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if not ns.fleet:
        return [from_namespace(ns)]
    entries = json.loads(ns.fleet)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError("--fleet takes a JSON list of objects")
    base = _without_fleet(argv)
    return [from_namespace(parser.parse_args(base + entry_argv(e))) for e in entries]


async def run(cfgs: list[SimConfig]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers: list[asyncio.Server] = []
    failed: list[BaseException] = []

    async def start(cfg: SimConfig) -> None:
        worker = SimWorker(cfg)  # created now: --starting-s counts from process start
        if cfg.refuse_s > 0:
            await asyncio.sleep(cfg.refuse_s)
        servers.append(await serve(worker, cfg.host, cfg.port))
        profile = "openai" if cfg.openai else "trtllm"
        print(
            f"worker-sim: {cfg.model} ({profile}) on {cfg.host}:{cfg.port}",
            file=sys.stderr,
            flush=True,
        )

    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            failed.append(task.exception())  # type: ignore[arg-type]
            stop.set()

    tasks = [asyncio.create_task(start(c)) for c in cfgs]
    for task in tasks:
        task.add_done_callback(done)
    await stop.wait()
    for task in tasks:
        task.cancel()
    for server in servers:
        server.close()
    for exc in failed:
        print(f"worker-sim: {exc}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parent = os.environ.pop(DIE_WITH_PARENT_ENV, None)
    if parent:  # serve's own simulator ends with serve (the value: serve's pid)
        die_with_parent(parent=int(parent) if parent.isdigit() else None)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cfgs = configs(args)
    except ValueError as e:
        print(f"worker-sim: {e}", file=sys.stderr)
        return 2
    return uvloop.run(run(cfgs))
