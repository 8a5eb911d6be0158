"""A gateway over one fast simulated worker, with usage, Redis or the spool's disk
as the test sets them: for faults of what the gateway depends on."""

from __future__ import annotations

import secrets
import textwrap
from pathlib import Path

import httpx2
from harness.gateway import Gateway
from harness.procs import Proc
from harness.sims import start_sim_proc
from harness.waiting import poll
from provocapi.netutil import free_port

ADMIN_KEY = "admin-" + secrets.token_hex(8)


def fast_sim(root: Path) -> tuple[Proc, str]:
    port = free_port()
    sim = start_sim_proc("m", port, root, "--ttft-ms", "0", "--token-delay-ms", "0",
                         "--output-tokens", "4", name="sim-fast")  # fmt: skip
    return sim, f"http://127.0.0.1:{port}"


def gateway(root: Path, worker: str, sections: str = "", workers: int = 1) -> Gateway:
    """`sections`: TOML put before the model (a [usage] table, a redis_url line)."""
    config = textwrap.dedent(sections) + textwrap.dedent(
        f"""
        [server]
        admin_key = "{ADMIN_KEY}"

        [[models]]
        id = "m"
        kind = "chat"
        family = "llama3"
        workers = ["{worker}"]
        """
    )
    return Gateway(root, config, workers=workers)


def unlimited_key(gw: Gateway) -> str:
    """A key whose limits no test load reaches; known to every worker process."""
    key = gw.create_key("acme", "--rpm", "1000000", "--tpm", "1000000000")

    def known() -> bool:  # fresh connections, so every worker process answers some
        for _ in range(8):
            with httpx2.Client(timeout=10, trust_env=False) as c:
                r = c.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
                if r.status_code != 200:
                    return False
        return True

    assert poll(known, bool, timeout_s=15)
    return key
