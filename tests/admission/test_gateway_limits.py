"""Rate limits through a real gateway (`serve --workers 2`) and the official SDK."""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
import pytest
from harness.gateway import Gateway
from harness.procs import Proc, create_key
from harness.sims import start_sim_proc
from harness.waiting import wait_healthy
from provocapi.netutil import free_port

MODEL = "llama-3.1-8b-instruct"
OUTPUT_TOKENS = 24  # what the simulator writes unless max_tokens is lower


# Created before the gateway starts, so every process knows them from its first request.
KEYS = {
    "headers": ("team", "--rpm", "50", "--tpm", "20000"),
    "unlimited": ("loner",),
    "shared": ("team", "--rpm", "20"),
    "large": ("team", "--tpm", "100"),
    "refund": ("team", "--tpm", "400"),
}


@dataclass
class Gw:
    base_url: str
    keys: dict[str, str]

    def key(self, name: str) -> str:
        return self.keys[name]

    def client(self, key: str, retries: int = 0) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=retries)


def _config(worker: str) -> str:
    return textwrap.dedent(
        f"""\
        [tenants.team]
        tier = "team"

        [tiers.team]
        tenant_rpm = 1000
        tenant_tpm = 100000

        [[models]]
        id = "{MODEL}"
        kind = "chat"
        family = "llama3"
        context_length = 8192
        max_output_tokens = 1024
        default_max_tokens = 64
        workers = ["{worker}"]
        """
    )


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    root = tmp_path_factory.mktemp("limits")
    sim_port = free_port()
    sim = start_sim_proc(
        MODEL, sim_port, root, "--family", "llama3", "--ttft-ms", "0", "--token-delay-ms", "0",
        "--output-tokens", str(OUTPUT_TOKENS), "--seed", "3", name="sim", wait=False,
    )  # fmt: skip
    procs: list[Proc | Gateway] = [sim]
    try:
        gateway = Gateway(root, _config(f"http://127.0.0.1:{sim_port}"), workers=2)
        keys = {name: create_key(gateway.data_dir, *args) for name, args in KEYS.items()}
        wait_healthy(f"http://127.0.0.1:{sim_port}/health", sim)
        procs.append(gateway)
        gateway.start(30)
        yield Gw(f"{gateway.url}/v1", keys)
    finally:
        for p in reversed(procs):
            p.stop(5)


def _chat(client: openai.OpenAI, **kw: object):
    return client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Say something."}], **kw
    )


def test_every_response_to_a_limited_key_has_the_six_headers(gw: Gw) -> None:
    client = gw.client(gw.key("headers"))
    for stream in (False, True):
        raw = _chat(client, stream=stream, max_tokens=10)
        h = raw.headers
        assert h["x-ratelimit-limit-requests"] == "50"
        assert h["x-ratelimit-limit-tokens"] == "20000"
        for name in ("remaining-requests", "remaining-tokens", "reset-requests", "reset-tokens"):
            assert h[f"x-ratelimit-{name}"]
        body = raw.parse()
        if stream:
            assert "".join(c.choices[0].delta.content or "" for c in body if c.choices)
    unlimited = gw.client(gw.key("unlimited"))  # default tier absent: no limits at all
    assert "x-ratelimit-limit-requests" not in _chat(unlimited).headers


def test_processes_of_one_gateway_share_one_bucket(gw: Gw) -> None:
    rpm = int(KEYS["shared"][2])
    client = gw.client(gw.key("shared"))
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: _try(client), range(3 * rpm)))
    elapsed = time.monotonic() - t0
    ok = [o for o in outcomes if o == 200]
    refused = [o for o in outcomes if isinstance(o, openai.RateLimitError)]
    assert len(ok) + len(refused) == len(outcomes)
    assert rpm <= len(ok) <= rpm + math.ceil(elapsed * rpm / 60) + 1
    for err in refused:
        assert err.code == "rate_limit_exceeded"
        assert 1 <= int(err.response.headers["retry-after"]) <= 60
        assert int(err.response.headers["retry-after-ms"]) > 0
        assert err.response.headers["x-ratelimit-remaining-requests"] == "0"


def _try(client: openai.OpenAI) -> object:
    try:
        _chat(client, max_tokens=4)
        return 200
    except openai.RateLimitError as err:
        return err


def test_too_large_for_the_bucket_is_not_retried(gw: Gw) -> None:
    client = gw.client(gw.key("large"), retries=2)
    with pytest.raises(openai.RateLimitError) as info:
        _chat(client, max_tokens=500)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert "Request too large" in info.value.message


def test_unused_tokens_come_back_when_the_answer_ends(gw: Gw) -> None:
    client = gw.client(gw.key("refund"))
    max_tokens = 200  # the simulator writes 24
    first = _chat(client, max_tokens=max_tokens)
    used = first.parse().usage.total_tokens
    remaining1 = int(first.headers["x-ratelimit-remaining-tokens"])
    cost = 400 - remaining1  # what admission reserved: counted prompt + max_tokens
    assert cost > max_tokens
    second = _chat(client, max_tokens=max_tokens)
    remaining2 = int(second.headers["x-ratelimit-remaining-tokens"])
    # without the refund the second would not even fit (2 x cost > 400)
    assert 2 * cost > 400
    assert remaining1 - used <= remaining2 <= remaining1 - used + 10  # 400 tpm: ~7 tokens/s
