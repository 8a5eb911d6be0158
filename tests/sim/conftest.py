"""Simulators for the conformance tests.

Most tests talk to workers served in-process on the test loop (cheap to start, and the
test can read the worker's counters); a few start real processes through start_sim to
check the process API, fleets, refusing and starting modes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from provocapi.sim import Worker
from provocapi.sim.cli import configs
from provocapi.sim.process import free_port
from provocapi.sim.server import serve


@dataclass
class Sim:
    port: int
    worker: Worker

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture(scope="session")
async def sim() -> AsyncIterator[SimFactory]:
    """``await sim("--model", "m", ...)``: a worker with those flags (shared per flag set)."""
    started: dict[tuple[str, ...], Sim] = {}
    servers: list[asyncio.Server] = []

    async def factory(*args: str) -> Sim:
        if args in started:
            return started[args]
        port = free_port()
        (cfg,) = configs(["--port", str(port), *args])
        worker = Worker(cfg)
        servers.append(await serve(worker, cfg.host, port))
        started[args] = Sim(port, worker)
        return started[args]

    yield factory
    for server in servers:
        server.close()


@pytest.fixture
async def fresh_sim() -> AsyncIterator[SimFactory]:
    """Like ``sim`` but never shared: for tests that read counters or timing."""
    servers: list[asyncio.Server] = []

    async def factory(*args: str) -> Sim:
        port = free_port()
        (cfg,) = configs(["--port", str(port), *args])
        worker = Worker(cfg)
        servers.append(await serve(worker, cfg.host, port))
        return Sim(port, worker)

    yield factory
    for server in servers:
        server.close()


@pytest.fixture
def lora_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sql-lora"
    d.mkdir()
    (d / "adapter_config.json").write_text("{}")
    return d
