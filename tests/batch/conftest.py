"""A gateway with small batch limits over one chat and one embedding simulator."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from harness.gateway import Gateway
from harness.procs import Proc, create_key
from harness.sims import start_sim_proc
from harness.waiting import wait_healthy
from provocapi.netutil import free_port, free_ports

CHAT = "llama-3.1-8b-instruct"
CHAT_ALIAS = "gpt-4o-mini"  # a line may name the model by it
EMBED = "bge-m3"
MAX_FILE_BYTES = 32 * 1024
QUOTA_BYTES = 200 * 1024
EXPIRY_WINDOW_S = 2  # the gateway of the expiry test
MAX_LINES = 50


def _config(chat_port: int, embed_port: int, window_s: float) -> str:
    return f"""\
        [server]
        connect_timeout_s = 2.0

        [batch]
        max_file_bytes = {MAX_FILE_BYTES}
        tenant_quota_bytes = {QUOTA_BYTES}
        max_lines = {MAX_LINES}
        completion_window_s = {window_s}
        line_concurrency = 2
        lease_s = 2.0
        poll_interval_s = 0.1

        [tiers.thrifty]
        batch_tpm = 1

        [tenants.thrifty]
        tier = "thrifty"

        [tiers.rationed]
        tenant_rpm = 1

        [tenants.rationed]
        tier = "rationed"

        [[models]]
        id = "{CHAT}"
        kind = "chat"
        family = "llama3"
        aliases = ["{CHAT_ALIAS}"]
        default_max_tokens = 8
        workers = ["http://127.0.0.1:{chat_port}"]

        [[models]]
        id = "{EMBED}"
        kind = "embedding"
        dimensions = 8
        workers = ["http://127.0.0.1:{embed_port}"]
        """


@dataclass
class BatchStack:
    gateway: Gateway
    key: str
    other_key: str
    hoarder_key: str
    sims: list[Proc]
    chat_port: int
    embed_port: int

    def client(self, key: str | None = None) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.gateway.url}/v1", api_key=key or self.key, max_retries=0
        )


@pytest.fixture(scope="session")
def bstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchStack]:
    root: Path = tmp_path_factory.mktemp("batch")
    chat_port, embed_port = free_ports(2)
    fast = ["--ttft-ms", "0", "--token-delay-ms", "1", "--output-tokens", "8", "--seed", "7"]
    sims = [
        start_sim_proc(CHAT, chat_port, root, "--family", "llama3", *fast, wait=False),
        start_sim_proc(EMBED, embed_port, root, "--embedding", "--dimensions", "8", wait=False),
    ]
    gw = Gateway(root, _config(chat_port, embed_port, 86_400), workers=1)
    try:
        keys = [create_key(gw.data_dir, t) for t in ("main", "other", "hoarder")]
        for port, sim in zip((chat_port, embed_port), sims, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/health", sim)
        gw.start(30.0)
        yield BatchStack(gw, keys[0], keys[1], keys[2], sims, chat_port, embed_port)
    finally:
        gw.stop()
        for sim in sims:
            sim.stop()


@pytest.fixture
def short_window(bstack: BatchStack, tmp_path: Path) -> Iterator[BatchStack]:
    """A second gateway on the same simulators whose batches expire after 2 s."""
    config = _config(bstack.chat_port, bstack.embed_port, EXPIRY_WINDOW_S)
    gw = Gateway(tmp_path, config, workers=1)
    try:
        key = create_key(gw.data_dir, "main")
        gw.start(30.0)
        yield BatchStack(gw, key, key, key, [], bstack.chat_port, bstack.embed_port)
    finally:
        gw.stop()


def wait_final(client: openai.OpenAI, batch_id: str, timeout_s: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        b = client.batches.retrieve(batch_id)
        if b.status in ("completed", "failed", "expired", "cancelled"):
            return b
        assert time.monotonic() < deadline, f"batch still {b.status}"
        time.sleep(0.1)


@contextmanager
def one_worker_stack(
    root: Path, sim_args: tuple[str, ...], sections: str, model_fields: str = ""
) -> Iterator[BatchStack]:
    """A gateway over one chat simulator started with `sim_args`: `sections` is TOML
    before the model's table, `model_fields` more lines of that table."""
    port = free_port()
    sim = start_sim_proc(CHAT, port, root, "--family", "llama3", *sim_args)
    models = f"""
        [[models]]
        id = "{CHAT}"
        kind = "chat"
        family = "llama3"
        workers = ["http://127.0.0.1:{port}"]
        """
    config = textwrap.dedent(sections) + textwrap.dedent(models) + textwrap.dedent(model_fields)
    gw = Gateway(root / "gw", config, workers=1)
    try:
        key = create_key(gw.data_dir, "main")
        gw.start(30.0)
        yield BatchStack(gw, key, key, key, [sim], port, port)
    finally:
        gw.stop()
        sim.stop()
