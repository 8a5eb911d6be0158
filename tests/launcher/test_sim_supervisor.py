"""The embedded default heals itself: `provocapi serve` reaps a simulator process
killed with -9 (no zombie), starts it again on the same ports, and routing sees its
workers come back; stopping `serve` stops the restarted one too."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx2
import pytest
from e2e.helpers import PY, Proc, create_key, free_ports, wait_healthy
from provocapi.sim_supervisor import FIRST_BACKOFF_S, MAX_BACKOFF_S, SimSupervisor, next_backoff

SIM = b"provocapi.sim"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}


def state(pid: int) -> str | None:
    """The process's state letter in /proc (Z: a zombie), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def children(parent: int, marker: bytes) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and marker in cmd and fields[0] != "Z":
            out.append(int(entry))
    return out


def until(fn, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(0.1)
        value = fn()
    return value


def chat(url: str, key: str) -> int:
    with httpx2.Client(timeout=10, trust_env=False) as c:
        r = c.post(f"{url}/v1/chat/completions", json=BODY,
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
        assert until(lambda: sup.proc is not first and sup.restarts == 1, 10)
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
        assert until(lambda: first.poll() is not None, 10)
        time.sleep(3 * 0.2)  # a few watch periods
        assert sup.proc is first and sup.restarts == 0
    finally:
        sup.stop()


@pytest.fixture
def serve_default(tmp_path: Path):  # type: ignore[no-untyped-def]
    """`provocapi serve` with no config: the embedded default on simulated workers."""
    (port,) = free_ports(1)
    data = tmp_path / "data"
    cmd = [PY, "-m", "provocapi", "serve", "--port", str(port), "--data-dir", str(data)]
    proc = Proc(f"serve-default-{time.monotonic_ns()}", cmd, tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, 60)
        yield proc, f"http://127.0.0.1:{port}", data
    finally:
        proc.stop(20)


def test_serve_heals_a_killed_simulator(serve_default) -> None:  # type: ignore[no-untyped-def]
    proc, url, data = serve_default
    launcher = proc.popen.pid
    key = create_key(data, "acme")
    assert until(lambda: chat(url, key) == 200)  # the key reached the worker
    (sim,) = children(launcher, SIM)
    os.kill(sim, signal.SIGKILL)
    assert until(lambda: state(sim) is None, 10), f"pid {sim} is {state(sim)}: not reaped"
    restarted = until(lambda: children(launcher, SIM))
    assert restarted and sim not in restarted
    # routing's health probes find the workers again on the same ports
    assert until(lambda: chat(url, key) == 200, 60)
    out = proc.output(20000)
    assert f"process {sim} died (signal 9); restarting it" in out
    # SIGTERM to the launcher alone (not its group): its own shutdown must stop the
    # simulator it restarted
    os.kill(launcher, signal.SIGTERM)
    proc.popen.wait(30)
    for pid in restarted:
        assert state(pid) is None, f"simulator {pid} outlived serve"
