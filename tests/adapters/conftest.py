"""One gateway (two worker processes) with the adapter store, over one simulated
llama-3.1-8b worker; the other catalogue models are declared (their shapes are
checked) but never called."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from harness.gateway import Gateway
from harness.procs import Proc
from harness.sims import start_sim_proc
from provocapi.netutil import free_port

from .hub_server import Hub, running_hub

MAX_UPLOAD = 4 * 1024 * 1024
MAX_PER_TENANT = 4
MAX_TENANT_BYTES = 3 * 1024 * 1024
CHAT = "llama-3.1-8b-instruct"
ADMIN = "admin-adapters-3c1f9e"


def config(sim_url: str, store: Path, worker_view: Path, hub_url: str) -> str:
    chat = "".join(
        f"""
[[models]]
id = "{m}"
kind = "chat"
family = "{family}"
aliases = {aliases}
workers = ["{sim_url}"]
"""
        for m, family, aliases in (
            ("llama-3.1-8b-instruct", "llama3", '["gpt-4o-mini"]'),
            ("llama-3.1-70b-instruct", "llama3", "[]"),
            ("qwen-2.5-72b-instruct", "qwen2", "[]"),
            ("mistral-small-3-24b", "mistral", "[]"),
        )
    )
    return f"""
[server]
admin_key = "{ADMIN}"

[adapters]
dir = "{store}"
worker_dir = "{worker_view}"
max_upload_bytes = {MAX_UPLOAD}
delete_grace_s = 0
hf_endpoint = "{hub_url}"
hf_timeout_s = 5
max_per_tenant = {MAX_PER_TENANT}
max_bytes_per_tenant = {MAX_TENANT_BYTES}
{chat}
[[models]]
id = "bge-m3"
kind = "embedding"
dimensions = 1024
workers = ["{sim_url}"]
"""


@dataclass
class Env:
    url: str
    sim_url: str
    keys: dict[str, str]
    store: Path
    worker_view: Path
    gateway: Gateway
    hub: Hub

    def http(self, tenant: str | None) -> httpx2.Client:
        secret = ADMIN if tenant is None else self.keys[tenant]
        return httpx2.Client(
            base_url=self.url,
            headers={"authorization": f"Bearer {secret}"},
            timeout=30.0,
            trust_env=False,
        )

    def sim_loras(self) -> dict[str, dict[str, object]]:
        with httpx2.Client(trust_env=False) as c:
            loras: dict[str, dict[str, object]] = c.get(f"{self.sim_url}/sim/stats").json()["loras"]
            return loras


@pytest.fixture(scope="package")  # one gateway for every adapters test module
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("adapters")
    store = root / "store"
    store.mkdir()
    worker_view = root / "worker-view"  # the workers mount the same files elsewhere
    os.symlink(store, worker_view)
    port = free_port()
    sim: Proc = start_sim_proc(
        CHAT, port, root, "--family", "llama3", "--ttft-ms", "0", "--token-delay-ms", "0",
        "--output-tokens", "4",
    )  # fmt: skip
    sim_url = f"http://127.0.0.1:{port}"
    with running_hub() as hub:
        gw = Gateway(root, config(sim_url, store, worker_view, hub.url), workers=2)
        try:
            gw.start()
            keys = gw.new_keys("t1", "t2")
            yield Env(gw.url, sim_url, keys, store, worker_view, gw, hub)
        finally:
            gw.stop()
            sim.stop()
