"""Limits across replicas through a real redis-server (Debian's, started on a free
loopback port): two replicas share one budget; Redis gone → each admits its share."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from harness.gateway import Gateway
from harness.procs import Proc, create_key
from harness.redis_server import RedisServer
from harness.sims import start_sim_proc
from harness.waiting import wait_healthy
from provocapi.admission.leases import Leases
from provocapi.errors import ApiError
from provocapi.netutil import free_ports

from .conftest import CONFIG, Env, key

RPM = 50


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _replicas(make_env: Callable[[str], Env], url: str) -> tuple[Env, Env]:
    text = f'redis_url = "{url}"\n' + CONFIG.replace("key_rpm = 5\n", f"key_rpm = {RPM}\n")
    return make_env(text), make_env(text)


def _admit(env: Env, k) -> bool:
    try:
        env.gate.admit(env.chat(k, model="other"))
        return True
    except ApiError as err:
        assert err.status == 429, err.message
        return False


def test_two_replicas_share_one_limit(make_env: Callable[[str], Env], redis_server) -> None:
    a, b = _replicas(make_env, redis_server.url)
    k = key("nobody", "key_global")
    t0 = time.monotonic()
    admitted = [0, 0]
    for i in range(4 * RPM):
        admitted[i % 2] += _admit((a, b)[i % 2], k)
    elapsed = time.monotonic() - t0
    refilled = math.ceil(elapsed * RPM / 60)
    total = sum(admitted)
    # each machine may hold one lease batch (1% of the limit, at least 1) unused
    assert RPM - 2 <= total <= RPM + refilled, (admitted, elapsed)
    assert min(admitted) > 0  # both replicas drew on the one budget


def test_leased_tokens_come_back_to_the_machine(
    make_env: Callable[[str], Env],
    redis_server,
) -> None:
    text = f'redis_url = "{redis_server.url}"\n' + CONFIG
    env = make_env(text)
    k = key("small", "key_tok")  # tier tiny: key_tpm = 50
    call = env.chat(k, model="other", max_tokens=30)
    env.gate.admit(call)
    limits, mode = call.admission_hold
    assert mode == "global"
    pool_before = limits.buckets.add_pool(2, 0, 0)
    call.status, call.completion_tokens = 200, 2
    env.gate.settle(call)
    assert limits.buckets.add_pool(2, 0, 0) == pool_before + 28


def test_redis_down_admits_the_last_seen_share_and_never_fails(
    make_env: Callable[[str], Env],
    redis_server,
    caplog,
) -> None:
    a, b = _replicas(make_env, redis_server.url)
    for env in (a, b):
        leases = env.gate.leases
        assert isinstance(leases, Leases)
        leases._heartbeat()
    a.gate.leases._heartbeat()  # now it has seen b too
    assert a.gate.leases.replicas == 2
    redis_server.stop()
    k = key("nobody", "key_down")
    admitted = sum(_admit(a, k) for _ in range(2 * RPM))
    assert RPM // 2 <= admitted <= RPM // 2 + 1  # half of 50 per minute, on this replica
    assert "provocapi_ratelimit_redis_fallback_total 1" in a.telemetry.render()
    assert any("unreachable" in r.getMessage() for r in caplog.records)


def test_the_redis_password_stays_out_of_the_log(
    make_env: Callable[[str], Env], redis_server, caplog
) -> None:
    url = redis_server.url.replace("redis://", "redis://:s3cret-pw@", 1)
    env, _ = _replicas(make_env, url)
    redis_server.stop()
    _admit(env, key("nobody", "key_pw"))
    said = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert said, caplog.text
    assert "s3cret-pw" not in caplog.text
    assert ":***@127.0.0.1" in said[0]


# ------------------------------------------------------------ two gateway processes

GW_RPM = 20


@pytest.fixture(scope="module")
def two_gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    root = tmp_path_factory.mktemp("two-gw")
    server = RedisServer(root)
    server.start()
    ports = free_ports(3)
    sim = start_sim_proc(
        "m",
        ports[0],
        root,
        "--ttft-ms",
        "0",
        "--token-delay-ms",
        "0",
        "--output-tokens",
        "4",
        name="sim",
        wait=False,
    )
    procs: list[Proc | Gateway] = [sim]
    try:
        config = f"""\
            redis_url = "{server.url}"

            [[models]]
            id = "m"
            kind = "chat"
            workers = ["http://127.0.0.1:{ports[0]}"]
            """
        data = root / "data"
        secret = create_key(data, "t", "--rpm", str(GW_RPM))
        wait_healthy(f"http://127.0.0.1:{ports[0]}/health", sim)
        gateways = [
            Gateway(root / f"gateway-{n}", config, workers=1, data_dir=data, port=port)
            for n, port in enumerate(ports[1:])
        ]
        procs += gateways
        for gw in gateways:
            gw.launch()
        for gw in gateways:
            gw.wait_ready(30)
        yield [gw.url for gw in gateways], secret
    finally:
        for p in reversed(procs):
            p.stop(5)
        server.stop()


def test_two_gateways_sharing_one_redis_hold_one_limit(two_gateways) -> None:
    urls, secret = two_gateways
    clients = [openai.OpenAI(base_url=u + "/v1", api_key=secret, max_retries=0) for u in urls]

    def one(i: int) -> int:
        try:
            clients[i % 2].chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=2
            )
            return 200
        except openai.RateLimitError as err:
            assert 1 <= int(err.response.headers["retry-after"]) <= 60
            return 429

    t0 = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(one, range(4 * GW_RPM)))
    elapsed = time.monotonic() - t0
    ok = codes.count(200)
    assert codes.count(200) + codes.count(429) == len(codes)
    assert GW_RPM - 2 <= ok <= GW_RPM + math.ceil(elapsed * GW_RPM / 60), (ok, elapsed)


async def test_the_lease_loop_keeps_a_batch_ready(
    make_env: Callable[[str], Env], redis_server
) -> None:
    import asyncio

    text = f'redis_url = "{redis_server.url}"\n' + CONFIG.replace(
        "key_rpm = 5\n", "key_rpm = 1000\n"
    )
    env = make_env(text)
    k = key("nobody", "key_loop")
    call = env.chat(k, model="other")
    env.gate.admit(call)  # first use: leased on the request path, now known to the loop
    limits, _ = call.admission_hold
    leases = env.gate.leases
    assert leases is not None
    limits.buckets.add_pool(2, 0, -limits.buckets.add_pool(2, 0, 0))  # spend the lease
    task = asyncio.ensure_future(leases.run())
    try:
        for _ in range(100):  # the loop refills one batch (1% of 1000) within a few ticks
            await asyncio.sleep(0.02)
            if limits.buckets.add_pool(2, 0, 0) >= 10:
                break
        assert limits.buckets.add_pool(2, 0, 0) == 10
        assert leases.replicas == 1  # its heartbeat registered this replica
    finally:
        task.cancel()
