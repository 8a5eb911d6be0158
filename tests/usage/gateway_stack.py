"""A gateway (`provocapi serve`) with usage on the test ClickHouse, over one
simulator process, with keys for two tenants; start, kill -9, restart."""

from __future__ import annotations

import json
import os
import secrets
import signal
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from e2e.helpers import PY, Proc, create_key, free_ports, wait_healthy
from provocapi.sim.process import SimHandle, start_sim

from .clickhouse_server import PASSWORD, USER, ClickHouse

ADMIN_KEY = "admin-" + secrets.token_hex(8)
FAST = {"ttft_ms": 0, "token_delay_ms": 1, "output_tokens": 12, "seed": 3}
SLOW = {"ttft_ms": 0, "token_delay_ms": 40, "output_tokens": 400, "seed": 3}


def start_fleet() -> SimHandle:
    ports = free_ports(3)
    fleet = [
        {"model": "llama-3.1-8b-instruct", "family": "llama3", "port": ports[0], **FAST},
        {"model": "llama-3.1-70b-instruct", "family": "llama3", "port": ports[1], **SLOW},
        {"model": "bge-m3", "embedding": True, "dimensions": 1024, "port": ports[2], "seed": 3},
    ]
    return start_sim(["--fleet", json.dumps(fleet)])


def config(sims: SimHandle, ch: ClickHouse, database: str, flush_ms: int) -> str:
    u = sims.urls
    return textwrap.dedent(
        f"""\
        [server]
        admin_key = "{ADMIN_KEY}"

        [usage]
        store = "clickhouse"
        clickhouse_url = "{ch.url}"
        clickhouse_database = "{database}"
        clickhouse_user = "{USER}"
        clickhouse_password = "{PASSWORD}"
        flush_interval_ms = {flush_ms}
        max_range_days = 31

        [[models]]
        id = "llama-3.1-8b-instruct"
        kind = "chat"
        family = "llama3"
        aliases = ["gpt-4o-mini"]
        workers = ["{u[0]}"]

        [[models.adapters]]
        name = "sql"
        lora_path = "/tmp"
        lora_int_id = 3

        [[models]]
        id = "llama-3.1-70b-instruct"
        kind = "chat"
        family = "llama3"
        aliases = ["gpt-4o"]
        workers = ["{u[1]}"]

        [[models]]
        id = "bge-m3"
        kind = "embedding"
        dimensions = 1024
        workers = ["{u[2]}"]

        [[models]]
        id = "offline-llama"
        kind = "chat"
        family = "llama3"
        workers = ["http://127.0.0.1:{free_ports(1)[0]}"]
        """
    )


@dataclass
class Gateway:
    root: Path
    config_path: Path
    data_dir: Path
    port: int
    workers: int
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        cmd = [
            PY, "-m", "provocapi", "serve", "--config", str(self.config_path),
            "--port", str(self.port), "--data-dir", str(self.data_dir),
            "--workers", str(self.workers),
        ]  # fmt: skip
        self.proc = Proc(f"gateway-{time.monotonic_ns()}", cmd, logs)
        wait_healthy(f"{self.url}/health", self.proc, 60)

    def kill9(self) -> None:
        """The whole process group at once: no shutdown code runs anywhere."""
        assert self.proc is not None
        os.killpg(self.proc.popen.pid, signal.SIGKILL)
        self.proc.popen.wait(10)
        self.proc.stop()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(20)


def make_gateway(root: Path, sims: SimHandle, ch: ClickHouse, flush_ms: int, workers: int = 1,
                 database: str | None = None) -> Gateway:  # fmt: skip
    database = database or "gw_" + secrets.token_hex(4)
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "provocapi.toml"
    cfg.write_text(config(sims, ch, database, flush_ms))
    return Gateway(root, cfg, root / "data", free_ports(1)[0], workers)


def keys(gw: Gateway, *tenants: str) -> dict[str, str]:
    """New keys, once the running gateway knows them (it reloads keys within a second).

    Every Granian worker process refreshes on its own, so one 200 proves only the
    process that answered it: wait for several in a row (connections spread).
    """
    made = {t: create_key(gw.data_dir, t) for t in tenants}
    for secret in made.values():
        poll(
            lambda s=secret: _statuses(gw, s, 8),
            lambda statuses: all(code == 200 for code in statuses),
            timeout_s=10,
        )
    return made


def _statuses(gw: Gateway, key: str, n: int) -> list[int]:
    # A fresh connection each time, so the requests reach every worker process.
    out = []
    for _ in range(n):
        with httpx2.Client(timeout=10, trust_env=False) as c:
            r = c.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
            out.append(r.status_code)
    return out


def usage(gw: Gateway, key: str, **params: str) -> httpx2.Response:
    with httpx2.Client(timeout=30, trust_env=False) as c:
        return c.get(f"{gw.url}/v1/usage", params=params,
                     headers={"Authorization": f"Bearer {key}"})  # fmt: skip


def poll(fn: Callable[[], Any], until: Callable[[Any], bool], timeout_s: float = 60) -> Any:
    """The value once `until` holds (the flusher is asynchronous by design)."""
    deadline = time.monotonic() + timeout_s
    value = fn()
    while not until(value):
        if time.monotonic() > deadline:
            return value  # the caller's assertion shows what was there
        time.sleep(0.1)
        value = fn()
    return value
