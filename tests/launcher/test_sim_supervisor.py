"""The embedded default heals itself: `provocapi serve` reaps a simulator process
killed with -9 (no zombie), starts it again on the same ports, and routing sees its
workers come back; stopping `serve` stops the restarted one too."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from harness.gateway import Gateway
from harness.proctree import children, state
from harness.waiting import poll
from provocapi.sim_supervisor import FIRST_BACKOFF_S, MAX_BACKOFF_S, SimSupervisor, next_backoff

SIM = b"provocapi.sim"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def chat(url: str, key: str, model: str | None = None) -> int:
    body = {**BODY, "model": model} if model else BODY
    with httpx2.Client(timeout=10, trust_env=False) as c:
        r = c.post(f"{url}/v1/chat/completions", json=body,
                   headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        return r.status_code


def test_backoff_doubles_to_its_cap_and_starts_over_after_a_stable_run() -> None:
    b = next_backoff(0.0, 0.1)
    seen = [b]
    for _ in range(8):
        b = next_backoff(b, 0.1)
        seen.append(b)
    assert seen[:3] == [FIRST_BACKOFF_S, 2 * FIRST_BACKOFF_S, 4 * FIRST_BACKOFF_S]
    assert seen[-1] == MAX_BACKOFF_S
    assert next_backoff(MAX_BACKOFF_S, 60.0) == FIRST_BACKOFF_S


def test_a_killed_process_is_reaped_restarted_and_stopped() -> None:
    sup = SimSupervisor([sys.executable, "-c", "import time; time.sleep(60)"])
    first = sup.spawn()
    sup.watch()
    try:
        os.kill(first.pid, signal.SIGKILL)
        assert poll(lambda: sup.proc is not first and sup.restarts == 1, bool, 10)
        assert state(first.pid) is None  # reaped: no zombie left
        assert sup.proc is not None and sup.proc.poll() is None
    finally:
        sup.stop()
    assert sup.proc.poll() is not None and state(sup.proc.pid) is None


def test_a_clean_exit_is_not_restarted() -> None:
    sup = SimSupervisor([sys.executable, "-c", "pass"])
    first = sup.spawn()
    sup.watch()
    try:
        assert poll(lambda: first.poll() is not None, bool, 10)
        time.sleep(3 * 0.2)  # a few watch periods
        assert sup.proc is first and sup.restarts == 0
    finally:
        sup.stop()


@pytest.fixture
def serve_default(tmp_path: Path) -> Iterator[Gateway]:
    """`provocapi serve` with no config: the embedded default on simulated workers."""
    gw = Gateway(tmp_path, None, name="serve-default")
    try:
        yield gw.start(60)
    finally:
        gw.stop(20)


def test_serve_heals_a_killed_simulator(serve_default: Gateway) -> None:
    gw, url = serve_default, serve_default.url
    assert gw.proc is not None
    proc, launcher = gw.proc, gw.pid
    key = gw.create_key("acme")
    assert poll(lambda: chat(url, key) == 200, bool, 30)  # the key reached the worker
    # the embedded default's example adapter is real: generated into the data dir,
    # accepted by the simulated worker (which checks what lora_path holds)
    example = gw.data_dir / "example-adapters" / "sql-expert"
    assert (example / "adapter_model.safetensors").stat().st_size < 1_000_000
    assert chat(url, key, "llama-3.1-8b-instruct:sql-expert") == 200
    (sim,) = children(launcher, SIM)
    os.kill(sim, signal.SIGKILL)
    assert poll(lambda: state(sim) is None, bool, 10), f"pid {sim} is {state(sim)}: not reaped"
    restarted = poll(lambda: children(launcher, SIM), bool, 30)
    assert restarted and sim not in restarted
    # routing's health probes find the workers again on the same ports
    assert poll(lambda: chat(url, key) == 200, bool, 60)
    out = proc.output(20000)
    assert f"process {sim} died (signal 9); restarting it" in out
    # SIGTERM to the launcher alone (not its group): its own shutdown must stop the
    # simulator it restarted
    os.kill(launcher, signal.SIGTERM)
    proc.popen.wait(30)
    for pid in restarted:
        assert state(pid) is None, f"simulator {pid} outlived serve"
