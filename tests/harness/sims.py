"""Simulated trtllm-serve workers for tests: as processes (`provocapi worker-sim`,
what a gateway meets in production), or served on the test's own event loop
(cheap, and the test reads the worker's counters directly)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provocapi.netutil import free_port
from provocapi.sim import SimWorker
from provocapi.sim.cli import configs
from provocapi.sim.server import serve

from .procs import PY, Proc
from .waiting import wait_healthy


def start_sim_proc(
    model: str, port: int, log_dir: Path, *args: str, name: str | None = None, wait: bool = True
) -> Proc:
    """`provocapi worker-sim --port PORT --model MODEL ARGS`; with `wait`, healthy first."""
    cmd = [PY, "-m", "provocapi", "worker-sim", "--port", str(port), "--model", model, *args]
    proc = Proc(name or f"sim-{model}", cmd, log_dir)
    if wait:
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        except BaseException:
            proc.stop()
            raise
    return proc


@contextmanager
def sim_url(model: str, log_dir: Path, *args: str) -> Iterator[str]:
    """A simulator process on a free port, healthy, for the block: its URL."""
    port = free_port()
    proc = start_sim_proc(model, port, log_dir, *args)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@dataclass
class LocalSim:
    """A simulator served on the running event loop."""

    port: int
    worker: SimWorker
    server: asyncio.Server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def served(self) -> int:
        return self.worker.stats.served

    def close(self) -> None:
        self.server.close()


async def serve_local(*args: str) -> LocalSim:
    """A simulator with those worker-sim flags, on a free port unless they name one."""
    (cfg,) = configs(["--port", str(free_port()), *args])  # a later --port wins
    worker = SimWorker(cfg)
    server = await serve(worker, cfg.host, cfg.port)
    return LocalSim(cfg.port, worker, server)
