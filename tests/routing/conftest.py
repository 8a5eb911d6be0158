"""Several simulated workers and a gateway in front of them, for the routing tests.

Workers run in-process on the test's event loop (cheap, and the test reads their
counters directly); the gateway is a real `provocapi serve` process (Granian, one
or more worker processes) with fast probe and ejection settings.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest
from e2e.helpers import PY, Proc, create_key, free_ports, wait_healthy
from provocapi.sim import Worker
from provocapi.sim.cli import configs
from provocapi.sim.process import free_port
from provocapi.sim.server import serve

FAST_ROUTING = """\
[routing]
probe_interval_s = 0.1
probe_timeout_s = 2.0
metrics_interval_s = 0.2
eject_after_failures = 3
eject_s = 0.6
queue_timeout_s = 5.0
"""


@dataclass
class Sim:
    port: int
    worker: Worker
    server: asyncio.Server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def served(self) -> int:
        return self.worker.stats.served


SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def sims() -> AsyncIterator[SimFactory]:
    """``await sims("--model", "m", ...)``: a fresh in-process worker with those flags (on a
    free port unless they name one)."""
    started: list[Sim] = []

    async def factory(*args: str) -> Sim:
        (cfg,) = configs(["--port", str(free_port()), *args])  # a later --port wins
        worker = Worker(cfg)
        server = await serve(worker, cfg.host, cfg.port)
        started.append(Sim(cfg.port, worker, server))
        return started[-1]

    yield factory
    for s in started:
        s.server.close()


@dataclass
class Gateway:
    root: str
    key: str
    proc: Proc
    data_dir: Path
    config_path: Path
    client: httpx2.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx2.AsyncClient(
            base_url=self.root,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30.0,
            trust_env=False,
            limits=httpx2.Limits(max_connections=200, max_keepalive_connections=200),
        )

    async def chat(self, model: str, text: str, **extra: object) -> httpx2.Response:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        return await self.client.post("/v1/chat/completions", json=body)

    async def metrics(self) -> str:
        r = await self.client.get("/metrics")
        assert r.status_code == 200
        return r.text

    async def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in (await self.metrics()).splitlines():
            m = re.match(rf"^{name}(\{{.*\}})?\s+(\S+)$", line)
            if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
                total += float(m.group(2))
        return total


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """``gateway(config_toml, workers=1)``: a running gateway and a key for it."""
    procs: list[Gateway] = []
    n = 0

    def factory(config: str, workers: int = 1, env: dict[str, str] | None = None) -> Gateway:
        nonlocal n
        n += 1
        root = tmp_path / f"gw{n}"
        root.mkdir()
        cfg = root / "provocapi.toml"
        cfg.write_text(textwrap.dedent(config))
        data = root / "data"
        key = create_key(data, "t")
        (port,) = free_ports(1)
        proc = Proc(
            f"gateway{n}",
            [
                PY, "-m", "provocapi", "serve", "--config", str(cfg), "--host", "127.0.0.1",
                "--port", str(port), "--data-dir", str(data), "--workers", str(workers),
            ],
            root,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(f"{url}/health", proc, 30.0)
        except Exception:
            proc.stop()
            raise
        gw = Gateway(url, key, proc, data, cfg)
        procs.append(gw)
        return gw

    yield factory
    for gw in procs:
        gw.proc.stop()


def model_toml(model: str, workers: list[str], **extra: str) -> str:
    """A chat model table; `workers` items are TOML values (a URL string or an inline table)."""
    lines = [
        "[[models]]",
        f'id = "{model}"',
        'kind = "chat"',
        'family = "llama3"',
        "default_max_tokens = 16",
        f"workers = [{', '.join(workers)}]",
    ]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def url(u: str) -> str:
    return f'"{u}"'


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll an async condition (every 50 ms) until true; fail after timeout_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
