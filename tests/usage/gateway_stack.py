"""The usage tests' gateway: `provocapi serve` (tests/harness) with usage on the test
ClickHouse, over one simulator process (a fleet of three models)."""

from __future__ import annotations

import json
import secrets
import textwrap
from pathlib import Path

import httpx2
from harness.gateway import Gateway
from provocapi.lora_files import write_zero_adapter
from provocapi.netutil import free_port, free_ports
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


def config(sims: SimHandle, ch: ClickHouse, database: str, flush_ms: int, lora: Path) -> str:
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
        lora_path = "{lora}"
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
        workers = ["http://127.0.0.1:{free_port()}"]
        """
    )


def make_gateway(root: Path, sims: SimHandle, ch: ClickHouse, flush_ms: int, workers: int = 1,
                 database: str | None = None) -> Gateway:  # fmt: skip
    """Not started yet: `start()` it (and again after `kill9()`, on the same port and data)."""
    database = database or "gw_" + secrets.token_hex(4)
    lora = root / "lora-sql"  # the simulator checks it holds a loadable adapter
    write_zero_adapter(lora, {"q_proj": (8, 8)}, rank=2, layers=1)
    return Gateway(root, config(sims, ch, database, flush_ms, lora), workers=workers)


def usage(gw: Gateway, key: str, **params: str) -> httpx2.Response:
    with httpx2.Client(timeout=30, trust_env=False) as c:
        return c.get(f"{gw.url}/v1/usage", params=params,
                     headers={"Authorization": f"Bearer {key}"})  # fmt: skip
