"""Simulators for the conformance tests.

Most tests talk to workers served in-process on the test loop (cheap to start, and the
test can read the worker's counters); a few start real processes through start_sim to
check the process API, fleets, refusing and starting modes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from harness.sims import LocalSim, serve_local
from provocapi.lora_files import write_zero_adapter

Sim = LocalSim
SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture(scope="session")
async def sim() -> AsyncIterator[SimFactory]:
    """``await sim("--model", "m", ...)``: a worker with those flags (shared per flag set)."""
    started: dict[tuple[str, ...], Sim] = {}

    async def factory(*args: str) -> Sim:
        if args not in started:
            started[args] = await serve_local(*args)
        return started[args]

    yield factory
    for s in started.values():
        s.close()


@pytest.fixture
async def fresh_sim() -> AsyncIterator[SimFactory]:
    """Like ``sim`` but never shared: for tests that read counters or timing."""
    started: list[Sim] = []

    async def factory(*args: str) -> Sim:
        started.append(await serve_local(*args))
        return started[-1]

    yield factory
    for s in started:
        s.close()


@pytest.fixture
def lora_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sql-lora"
    write_zero_adapter(d, {"q_proj": (8, 8)}, rank=2, layers=1)
    return d
