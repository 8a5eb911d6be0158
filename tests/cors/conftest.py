"""Gateways for the CORS tests: one simulated worker, and a gateway per policy
(keys and the default `*`; keyless and its loopback-only default; keys and a list)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness.gateway import Gateway
from harness.sims import sim_url

MODEL = "llama-3.1-8b-instruct"
LISTED = "https://app.example.com"  # the listed gateway's one exact origin
LISTED_WILD = "http://*.dev.example:*"  # and a pattern
EXTRA_HEADERS = '["X-Trace-Id", "traceparent"]'  # the listed gateway's cors_allow_headers
ADMIN = "admin-cors-5e1d"


@dataclass(frozen=True)
class Keyed:
    gateway: Gateway
    key: str  # no limit
    limited_key: str  # one request a minute: the second is a 429


def _config(worker: str, server: str = "") -> str:
    return f"""\
        [[models]]
        id = "{MODEL}"
        kind = "chat"
        family = "llama3"
        workers = ["{worker}"]

        [server]
        {server}
        """


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    args = ("--output-tokens", "6", "--ttft-ms", "0", "--token-delay-ms", "1")
    with sim_url(MODEL, tmp_path_factory.mktemp("sim"), *args) as url:
        yield url


def _started(root: Path, config: str, args: tuple[str, ...] = ()) -> Gateway:
    return Gateway(root, config, workers=1, args=args)


@pytest.fixture(scope="package")
def keyed(sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    """Keys required, cors_allow_origins left to its default (`*`)."""
    gw = _started(tmp_path_factory.mktemp("keyed"), _config(sim))
    key = gw.create_key("main")
    limited = gw.create_key("limited", "--rpm", "1")
    try:
        yield Keyed(gw.start(), key, limited)
    finally:
        gw.stop()


@pytest.fixture(scope="package")
def keyless(sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`serve --no-auth`, cors_allow_origins left to its default (this machine's pages)."""
    gw = _started(tmp_path_factory.mktemp("keyless"), _config(sim), ("--no-auth",))
    try:
        yield gw.start()
    finally:
        gw.stop()


@pytest.fixture(scope="package")
def listed(sim: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    """Keys required, and only the listed origins."""
    server = (
        f'cors_allow_origins = ["{LISTED}", "{LISTED_WILD}"]\n'
        f"cors_allow_headers = {EXTRA_HEADERS}\n"
        f'admin_key = "{ADMIN}"'
    )
    gw = _started(tmp_path_factory.mktemp("listed"), _config(sim, server))
    key = gw.create_key("main")
    try:
        yield Keyed(gw.start(), key, key)
    finally:
        gw.stop()
