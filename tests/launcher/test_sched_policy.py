"""With `[server] sched_batch = true`, `provocapi serve` runs its Granian workers under
SCHED_BATCH (sched_policy.py), every thread of them; by default ("auto", which switches a
worker's runtime threads only while it is saturated: test_sched_adaptive.py) an idle
worker keeps the policy serve was started with (the kernel's default, here this test's).
Either way the simulated GPU workers it starts keep that policy (they are not ours to
tune), and the gateway answers."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.gateway import Gateway
from harness.proctree import granian_workers
from harness.waiting import poll
from provocapi.config import default_config_text
from provocapi.sched_adaptive import RUNTIME_THREAD_PREFIX


def _thread_policies(pid: int) -> dict[int, tuple[str, int]]:
    """Each thread's name and scheduling policy."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            out[int(task.name)] = (name, os.sched_getscheduler(int(task.name)))
        except OSError:
            continue  # a thread that ended in between
    return out


def _has_runtime(policies: dict[int, tuple[str, int]]) -> bool:
    return any(name.startswith(RUNTIME_THREAD_PREFIX) for name, _ in policies.values())


def _sims(serve_pid: int) -> list[int]:
    """The simulated workers: processes of the tree running provocapi.sim."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == serve_pid and b"provocapi.sim" in cmd:
            out.append(int(entry.name))
    return out


@pytest.fixture(scope="module", params=["default", "on"])
def gw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    config = None
    if request.param == "on":
        # the embedded default with the one change: its models and simulated workers
        config = default_config_text().replace("[server]\n", "[server]\nsched_batch = true\n", 1)
    g = Gateway(tmp_path_factory.mktemp(f"sched-{request.param}"), config, workers=2)
    g.start(60.0)
    try:
        yield g
    finally:
        g.stop()


def test_the_workers_threads_run_the_policy_the_config_asks(gw: Gateway) -> None:
    assert gw.proc is not None
    workers = granian_workers(gw.proc.pid)
    assert len(workers) == 2
    # without the switch a process keeps the policy it was started with: this test's
    inherited = os.sched_getscheduler(0)
    assert inherited != os.SCHED_BATCH, "run the tests under another policy than SCHED_BATCH"
    want = os.SCHED_BATCH if gw.config_path is not None else inherited
    if gw.config_path is None:  # the embedded default is "auto", its banner says so
        assert "while its loop is saturated (auto)" in gw.output()
    for pid in workers:
        # /health may come from the other worker while this one still starts its runtime
        poll(lambda: _thread_policies(pid), _has_runtime, timeout_s=30)  # noqa: B023
        policies = _thread_policies(pid)
        # the event loop's thread and Granian's runtime's carry the requests
        assert policies[pid][1] == want, (pid, policies)
        runtime = [p for name, p in policies.values() if name.startswith("tokio")]
        assert runtime and set(runtime) == {want}, policies
        # any other: the same, or SCHED_IDLE (admission/gate.py's counting thread)
        assert {p for _, p in policies.values()} <= {want, os.SCHED_IDLE}, policies
    sims = _sims(gw.proc.pid)
    assert sims, "the embedded default starts simulated workers"
    for pid in sims:
        assert {p for _, p in _thread_policies(pid).values()} == {inherited}
    with urllib.request.urlopen(f"{gw.url}/health", timeout=10) as r:
        assert r.status == 200
