"""Several simulated workers and a gateway in front of them, for the routing tests.

Workers run in-process on the test's event loop (cheap, and the test reads their
counters directly); the gateway is a real `provocapi serve` process (Granian, one
or more worker processes) with fast probe and ejection settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from harness import gateway as harness_gateway
from harness.gateway import metric_sum
from harness.sims import LocalSim, serve_local

FAST_ROUTING = """\
[routing]
probe_interval_s = 0.1
probe_timeout_s = 2.0
metrics_interval_s = 0.2
eject_after_failures = 3
eject_s = 0.6
queue_timeout_s = 5.0
"""


Sim = LocalSim
SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def sims() -> AsyncIterator[SimFactory]:
    """``await sims("--model", "m", ...)``: a fresh in-process worker with those flags (on a
    free port unless they name one)."""
    started: list[Sim] = []

    async def factory(*args: str) -> Sim:
        started.append(await serve_local(*args))
        return started[-1]

    yield factory
    for s in started:
        s.close()


class Gateway(harness_gateway.Gateway):
    """A started gateway with a key of tenant "t" and an async client that uses it."""

    def __init__(
        self, root: Path, config: str, workers: int, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(root, config, workers=workers, env=env)
        self.key = self.create_key("t")
        self.start(30.0)
        self.client = httpx2.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30.0,
            trust_env=False,
            limits=httpx2.Limits(max_connections=200, max_keepalive_connections=200),
        )

    async def chat(self, model: str, text: str, **extra: object) -> httpx2.Response:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        return await self.client.post("/v1/chat/completions", json=body)

    async def metrics(self) -> str:  # type: ignore[override]
        r = await self.client.get("/metrics")
        assert r.status_code == 200
        return r.text

    async def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        return metric_sum(await self.metrics(), name, **labels)


GatewayFactory = Callable[..., Gateway]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """``gateway(config_toml, workers=1)``: a running gateway and a key for it."""
    started: list[Gateway] = []

    def factory(config: str, workers: int = 1, env: dict[str, str] | None = None) -> Gateway:
        started.append(Gateway(tmp_path / f"gw{len(started) + 1}", config, workers, env))
        return started[-1]

    yield factory
    for gw in started:
        gw.stop(5)


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
