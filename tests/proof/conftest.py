"""The stack the proof tests run against: one simulator process serving a fleet
(three chat families, two embedding models, and FAULTY, a chat model whose worker
answers half its calls with a 500: the injected fault), the local Hugging Face hub
stand-in holding one good adapter repo, and a gateway (two Granian workers) with its
stderr captured in its log.

Tests here are marked `proof` (`pytest -m proof` runs them alone,
`-m "not proof"` leaves them out); their size comes from PROVOCAPI_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from adapters.files import adapter, modules
from adapters.hub_server import Hub, Repo, running_hub
from harness.gateway import Gateway
from harness.procs import PY, Proc
from harness.waiting import wait_healthy
from provocapi.lora_files import CONFIG_FILE, WEIGHTS_FILE
from provocapi.netutil import free_ports

ADMIN_KEY = "admin-proof-5b1e7c2d9a"
HUB_REPO = "proof/good-lora"
CHAT = {  # model → (family, aliases)
    "llama-3.1-8b-instruct": ("llama3", ["gpt-4o-mini"]),
    "qwen-2.5-72b-instruct": ("qwen2", ["gpt-4-turbo"]),
    "mistral-small-3-24b": ("mistral", []),
    "llama-3.1-70b-instruct": ("llama3", ["gpt-4o"]),  # FAULTY
}
FAULTY = "llama-3.1-70b-instruct"
FAULTY_NAMES = (FAULTY, "gpt-4o")
EMBED = {  # model → (dimensions, min_dimensions)
    "bge-m3": (1024, None),
    "nomic-embed-v1.5": (768, 64),
}
# How many examples each generated test draws: small in the test command, larger by
# `PROVOCAPI_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/proof -m proof`.
EXAMPLES = int(os.environ.get("PROVOCAPI_FUZZ_EXAMPLES", "0")) or None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.proof)


@dataclass
class ProofStack:
    url: str
    key: str  # tenant "main": every model
    admin_key: str
    gateway: Gateway
    hub: Hub

    @property
    def log(self) -> Path:
        assert self.gateway.proc is not None
        return self.gateway.proc.log_path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _config(sim_ports: dict[str, int], hub_url: str, store: Path) -> str:
    parts = [
        f"""
[server]
admin_key = "{ADMIN_KEY}"
max_body_bytes = 262144
body_read_timeout_s = 5.0
request_timeout_s = 30.0

[adapters]
dir = "{store}"
hf_endpoint = "{hub_url}"
hf_timeout_s = 5
delete_grace_s = 0
max_per_tenant = 1000
"""
    ]
    for model, (family, aliases) in CHAT.items():
        parts.append(
            f"""
[[models]]
id = "{model}"
kind = "chat"
family = "{family}"
context_length = 32768
max_output_tokens = 64
default_max_tokens = 8
aliases = {json.dumps(aliases)}
workers = ["http://127.0.0.1:{sim_ports[model]}"]
capabilities = {{ tools = true, json_mode = true, json_schema = true, logprobs = true }}
"""
        )
    for model, (dims, low) in EMBED.items():
        parts.append(
            f"""
[[models]]
id = "{model}"
kind = "embedding"
context_length = 8192
dimensions = {dims}
{f"min_dimensions = {low}" if low else ""}
workers = ["http://127.0.0.1:{sim_ports[model]}"]
"""
        )
    return "".join(parts)


@pytest.fixture(scope="session")
def proof_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofStack]:
    root = tmp_path_factory.mktemp("proof")
    models = [*CHAT, *EMBED]
    ports = dict(zip(models, free_ports(len(models)), strict=True))
    fleet = [
        {"model": m, "port": ports[m], "family": CHAT[m][0],
         "error_rate": 0.5 if m == FAULTY else None} for m in CHAT
    ] + [
        {"model": m, "port": ports[m], "embedding": True, "dimensions": EMBED[m][0]}
        for m in EMBED
    ]  # fmt: skip
    sim = Proc(
        "sim-fleet",
        [PY, "-m", "provocapi", "worker-sim", "--ttft-ms", "0", "--token-delay-ms", "0",
         "--output-tokens", "6", "--seed", "7", "--fleet", json.dumps(fleet)],
        root,
    )  # fmt: skip
    gateway: Gateway | None = None
    with running_hub() as hub:
        cfg, weights = adapter(root / "hub-lora", modules("llama-3.1-8b-instruct"))
        hub.repos[HUB_REPO] = Repo({CONFIG_FILE: cfg, WEIGHTS_FILE: weights})
        try:
            for m in models:
                wait_healthy(f"http://127.0.0.1:{ports[m]}/health", sim, 30)
            gateway = Gateway(root, _config(ports, hub.url, root / "adapters"), workers=2)
            gateway.start(60)
            (key,) = gateway.new_keys("main").values()
            yield ProofStack(gateway.url, key, ADMIN_KEY, gateway, hub)
        finally:
            if gateway is not None:
                gateway.stop()
            sim.stop()
            print(f"\nproof logs: {root}")
