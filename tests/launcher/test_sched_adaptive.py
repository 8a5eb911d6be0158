"""`[server] sched_batch = "auto"` (sched_adaptive.py): a worker switches its HTTP runtime's
threads to SCHED_BATCH only while its event loop is saturated, and back when the load goes.
The decision alone first, fed samples; then a real `provocapi serve` under wrk."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.gateway import Gateway
from harness.proctree import granian_workers
from provocapi import schedstat
from provocapi.config import default_config_text
from provocapi.sched_adaptive import (
    ENTER,
    ENTER_SAMPLES,
    IDLE,
    IDLE_SAMPLE_S,
    LEAVE,
    RATE_LEAVE,
    SAMPLE_S,
    WAIT_ENTER,
    WAIT_LEAVE,
    Switch,
    runtime_threads,
)

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import floor  # noqa: E402


def test_saturation_for_samples_in_a_row_switches_to_batch() -> None:
    s = Switch()
    for _ in range(ENTER_SAMPLES - 1):
        assert s.observe(0.85, 0.1) is None
    assert s.observe(ENTER - 0.1, 0.1) is True and s.batch
    assert s.observe(1.0, 0.0) is None  # already batch


def test_a_burst_shorter_than_the_run_does_not_switch() -> None:
    s = Switch()
    for _ in range(5):
        for _ in range(ENTER_SAMPLES - 1):
            assert s.observe(0.89, 0.1) is None
        assert s.observe(ENTER - 0.11, 0.1) is None  # the streak starts over
    assert not s.batch


def test_one_call_at_a_time_does_not_switch() -> None:
    # one worker, one call at a time: its loop runs ~47% and waits ~11% (scratch); with a
    # busy neighbour on its core ~31% and ~27%
    s = Switch()
    for _ in range(10 * ENTER_SAMPLES):
        assert s.observe(0.47, 0.11) is None
        assert s.observe(0.31, WAIT_ENTER - 0.01) is None
    assert not s.batch


def test_a_loop_waiting_behind_another_switches_though_not_busy() -> None:
    # two workers sharing a core, saturated: each loop runs ~37% and waits ~35-42% of the
    # time, runnable under ENTER, but the core is saturated all the same
    s = Switch()
    for _ in range(ENTER_SAMPLES - 1):
        assert s.observe(0.37, WAIT_ENTER) is None
    assert s.observe(0.37, 0.35) is True and s.batch
    # runnable under LEAVE but still waiting behind the other: stays
    assert s.observe(LEAVE - 0.36, WAIT_LEAVE + 0.01) is None and s.batch
    # waiting no more and not busy: back
    assert s.observe(LEAVE - 0.2, WAIT_LEAVE - 0.01) is False and not s.batch


def test_batch_holds_above_leave_and_goes_back_below_at_once() -> None:
    s = Switch()
    for _ in range(ENTER_SAMPLES):
        s.observe(0.85, 0.1)
    assert s.batch
    # batch's own saving (0.84-0.91x the CPU) must not switch it back
    assert s.observe(ENTER * 0.84, 0.0) is None and s.batch
    assert s.observe(LEAVE, 0.0) is None and s.batch
    assert s.observe(LEAVE - 0.11, 0.1) is False and not s.batch
    # and back in only after a new full run
    for _ in range(ENTER_SAMPLES - 1):
        assert s.observe(0.85, 0.1) is None
    assert s.observe(0.85, 0.1) is True


def _batched_at(rate: float) -> Switch:
    s = Switch()
    for _ in range(ENTER_SAMPLES):
        s.observe(0.95, 0.03, rate)
    assert s.batch and s.entry_rate == pytest.approx(rate)
    return s


def test_batch_saving_more_than_the_gap_does_not_switch_back_at_the_same_load() -> None:
    # near 80% of the maximum a batched loop ran under LEAVE at the load that saturated it
    # under the default policy: by the shares alone it went back, and came in again
    s = _batched_at(5000.0)
    for rate in (5000.0, 4900.0, 5100.0, 5000.0 * RATE_LEAVE + 1):
        assert s.observe(LEAVE - 0.2, 0.02, rate) is None and s.batch
    # the load gone (the rate down by more than the policy could explain): back
    assert s.observe(LEAVE - 0.2, 0.02, 5000.0 * RATE_LEAVE - 1) is False and not s.batch


def test_fewer_heavier_requests_with_the_loop_busy_keep_batch() -> None:
    s = _batched_at(5000.0)
    assert s.observe(0.95, 0.03, 500.0) is None and s.batch  # the rate fell, the loop is busy
    assert s.observe(LEAVE + 0.01, 0.0, 500.0) is None and s.batch
    assert s.observe(LEAVE - 0.01, 0.0, 500.0) is False  # and now it is not


def test_the_entry_rate_is_the_streaks_and_each_entry_measures_anew() -> None:
    s = Switch()
    s.observe(0.95, 0.0, 9000.0)
    s.observe(0.5, 0.0, 9000.0)  # the streak broken: its rate forgotten
    for rate in (3000.0, 4000.0, 5000.0):
        s.observe(0.95, 0.0, rate)
    assert s.batch and s.entry_rate == pytest.approx(4000.0)
    assert s.observe(0.3, 0.0, 0.0) is False
    for _ in range(ENTER_SAMPLES):
        s.observe(0.95, 0.0, 1000.0)
    assert s.batch and s.entry_rate == pytest.approx(1000.0)


def test_a_loop_saturated_without_requests_goes_by_the_shares() -> None:
    s = _batched_at(0.0)  # busy with no requests answered (a long count, say)
    assert s.observe(LEAVE, 0.0, 0.0) is None
    assert s.observe(LEAVE - 0.01, 0.0, 0.0) is False


def test_an_idle_loop_is_sampled_once_a_second_a_busy_or_batched_one_ten_times() -> None:
    s = Switch()
    assert s.next_sample_s(0.01, 0.01) == IDLE_SAMPLE_S  # idle: once a second
    assert s.next_sample_s(IDLE, 0.0) == SAMPLE_S  # some load: watched closely
    assert s.next_sample_s(0.47, 0.11) == SAMPLE_S
    for _ in range(ENTER_SAMPLES):
        s.observe(0.95, 0.03, 5000.0)
    # batched: a sudden idle spell must still be seen at once, to go back
    assert s.batch and s.next_sample_s(0.0, 0.0) == SAMPLE_S


def test_runtime_threads_are_the_tokio_ones(tmp_path: Path) -> None:
    for tid, comm in ((10, "python\n"), (11, "tokio-rt-worker\n"), (12, "provocapi-count_0\n")):
        (tmp_path / str(tid)).mkdir()
        (tmp_path / str(tid) / "comm").write_text(comm)
    (tmp_path / "13").mkdir()  # a thread that ended between the listing and the read
    assert runtime_threads(str(tmp_path)) == [11]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = default_config_text().replace("[server]\n", '[server]\nsched_batch = "auto"\n', 1)
    g = Gateway(tmp_path_factory.mktemp("sched-auto"), config, workers=1)
    g.start(60.0)
    try:
        yield g
    finally:
        g.stop()


def _runtime_policies(worker: int) -> set[int]:
    out = set()
    for tid in runtime_threads(f"/proc/{worker}/task"):
        with contextlib.suppress(OSError):  # ended since the listing
            out.add(os.sched_getscheduler(tid))
    return out


def _watch(worker: int, seconds: float, until: int | None = None) -> list[set[int]]:
    """The runtime threads' policies every 50 ms for `seconds`, or until all are `until`."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(_runtime_policies(worker))
        if until is not None and seen[-1] == {until}:
            break
        time.sleep(0.05)
    return seen


def _loop_shares(worker: int, since: tuple[tuple[int, int], int]) -> str:
    """The loop thread's run and run-queue wait shares of the wall time since `since`."""
    (before, at), (now, now_at) = since, _loop_schedstat(worker)
    ran, waited = schedstat.shares(before, now, now_at - at)
    return f"loop ran {ran:.2f}, waited {waited:.2f}"


def _loop_schedstat(worker: int) -> tuple[tuple[int, int], int]:
    """The worker's loop thread (its main thread) schedstat, and when it was read."""
    fd = os.open(f"/proc/{worker}/task/{worker}/schedstat", os.O_RDONLY)
    try:
        got = schedstat.read(fd)
    finally:
        os.close(fd)
    assert got is not None
    return got, time.monotonic_ns()


def test_a_saturated_worker_batches_its_runtime_and_goes_back(gw: Gateway, tmp_path: Path) -> None:
    assert gw.proc is not None
    (worker,) = granian_workers(gw.proc.pid)
    assert "while its loop is saturated (auto)" in gw.output()  # the banner says so
    inherited = os.sched_getscheduler(0)
    assert inherited != os.SCHED_BATCH, "run the tests under another policy than SCHED_BATCH"
    assert _runtime_policies(worker) == {inherited}  # idle: the default

    # one call at a time leaves the loop mostly idle: no switch
    key = gw.create_key("auto")
    url = f"{gw.url}/v1/chat/completions"
    data = json.dumps(floor.body(False)).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        req = urllib.request.Request(url, data, headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        assert _runtime_policies(worker) == {inherited}

    # the worker on one core and wrk's 64 connections on another: its loop saturated. A busy
    # neighbour shares the worker's core, as a second worker would: alone, with this config,
    # the loop is runnable only ~0.90-0.91 of the time at saturation (the floor's config
    # ~0.95), too near ENTER to switch in every run; with the neighbour it waits on the run
    # queue well over WAIT_ENTER, and runnable over ENTER too.
    cpus = sorted(os.sched_getaffinity(0))
    for task in Path(f"/proc/{worker}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpus[-1]})
    spin = [sys.executable, "-c", "while True: pass"]
    neighbour = subprocess.Popen(["taskset", "-c", str(cpus[-1]), *spin])
    script = floor.lua_script(tmp_path / "chat.lua", key, False)
    try:
        wrk = subprocess.Popen(
            ["taskset", "-c", str(cpus[0]), "wrk", "-t1", "-c64", "-d6s", "-s", str(script), url],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            since = _loop_schedstat(worker)
            during = _watch(worker, 5.5, until=os.SCHED_BATCH)
            shares = _loop_shares(worker, since)
        finally:
            out, _ = wrk.communicate(timeout=30)
    finally:
        neighbour.kill()
        neighbour.wait()
    assert wrk.returncode == 0 and '"status":0' in out, out
    assert {os.SCHED_BATCH} in during, f"{shares}; {during}"
    # the loop's own thread keeps its policy all along
    assert os.sched_getscheduler(worker) == inherited

    # the load gone: back to the default within a few samples
    after = _watch(worker, 2.0)
    assert after[-1] == {inherited}, after
    with urllib.request.urlopen(f"{gw.url}/health", timeout=10) as r:
        assert r.status == 200
