"""Simulators started as processes with the misbehaviour the test sets up, and the
probe run in this process against them (it is a plain HTTP client)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness.gateway import Gateway
from harness.procs import Proc
from harness.sims import start_sim_proc
from provocapi.audit.context import Ctx
from provocapi.audit.probe import run_all
from provocapi.audit.verdicts import Outcome
from provocapi.audit.wire import Endpoint
from provocapi.netutil import free_port

StartSim = Callable[..., str]
Served = tuple[Gateway, dict[str, str]]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Our gateway on the embedded catalogue (simulated workers), with two keys: `prober`
    (no limit) and `limited` (5 requests a minute)."""
    gw = Gateway(tmp_path_factory.mktemp("audit-gw"))
    # made before the start, so the gateway knows them from its first request
    keys = {"prober": gw.create_key("prober"), "limited": gw.create_key("limited", "--rpm", "5")}
    gw.start()
    try:
        yield gw, keys
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def start_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartSim]:
    """start_sim(model, *flags) → the simulator's base URL (…/v1); stopped at module end."""
    procs: list[Proc] = []
    logs = tmp_path_factory.mktemp("sims")

    def start(model: str, *flags: str) -> str:
        port = free_port()
        procs.append(start_sim_proc(model, port, logs, *flags, name=f"sim-{port}"))
        return f"http://127.0.0.1:{port}/v1"

    try:
        yield start
    finally:
        for p in procs:
            p.stop()


def verdicts(
    url: str, model: str, embedding_model: str | None = None, key: str = ""
) -> dict[str, Outcome]:
    ctx = Ctx(Endpoint(url, key), model, embedding_model)
    return {o.probe: o for o in run_all(ctx)}


def path_of_readme() -> Path:
    return Path(__file__).resolve().parents[2] / "README.md"
