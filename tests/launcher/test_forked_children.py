"""`provocapi serve` forks its batch runner and usage flusher processes from the launcher
after loading the tokenizers, so they share the tables (and the imported modules)
instead of loading their own: they keep what the fresh interpreters had (a lifeline
pipe on stdin, SIGINT/SIGTERM ignored, their niceness, a restart when killed, the end
when serve goes) and hold none of each other's pipes. The runner, which answers no
clients, leads health keeping (routing/lease.py) in the serving workers' stead."""

from __future__ import annotations

import io
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest
from harness.gateway import Gateway, metric_sum
from harness.proctree import batch_runners, flushers, granian_workers, state
from harness.waiting import poll
from provocapi._core import StateTable
from provocapi.datadir import run_dir
from provocapi.routing.lease import Lease

CHAT = "llama-3.1-8b-instruct"
MIB = 1 << 20
# The embedded default's tokenizer tables (llama3, qwen2, mistral) take well over this;
# a runner that loaded its own copy shares none of its heap with the launcher.
SHARED_HEAP_MIN = 24 * MIB
_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    # the embedded default: simulated workers, runner and flusher processes
    g = Gateway(tmp_path_factory.mktemp("forked"), workers=2)
    try:
        g.start(60.0)
        yield g
    finally:
        g.stop()


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _nice(pid: int) -> int:
    return int(_stat(pid)[16])  # field 19 of /proc/PID/stat


def _ignored(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return {s for s in range(1, 65) if mask & (1 << (s - 1))}
    return set()


def _fd_targets(pid: int) -> dict[int, str]:
    out = {}
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(entry)] = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue
    return out


def _shared_heap(pid: int) -> int:
    """Bytes of the process's anonymous memory (heap, no file behind it) it shares with
    another process: pages inherited at fork and not written since."""
    total, anon = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if _MAPPING.match(line):
            parts = line.split()
            anon = len(parts) < 6 or parts[5] == "[heap]"
        elif anon and line.startswith(("Shared_Clean:", "Shared_Dirty:")):
            total += int(line.split()[1]) * 1024
    return total


def _one(found: list[int]) -> int:
    assert len(found) == 1, found
    return found[0]


def _check_forked(gw: Gateway, pid: int, nice: int) -> None:
    """Forked from the launcher (its command line, its child), with a lifeline and the
    niceness and signals of its kind."""
    launcher = Path(f"/proc/{gw.pid}/cmdline").read_bytes()
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == launcher
    assert int(_stat(pid)[1]) == gw.pid
    assert _fd_targets(pid)[0].startswith("pipe:")
    assert {signal.SIGINT, signal.SIGTERM} <= _ignored(pid)
    assert _nice(pid) == min(19, _nice(gw.pid) + nice)


def test_runner_and_flusher_are_forked_with_their_lifeline(gw: Gateway) -> None:
    runner = _one(batch_runners(gw.pid))
    flusher = _one(flushers(gw.pid))
    assert len(granian_workers(gw.pid)) == 2
    _check_forked(gw, runner, 10)  # [batch] runner_nice, [usage] flusher_nice defaults
    _check_forked(gw, flusher, 10)
    # each holds its own lifeline only: neither keeps the other alive after serve, and
    # neither holds a pipe of the launcher's (its lifelines' write ends) or its socket
    runner_fds, flusher_fds = _fd_targets(runner), _fd_targets(flusher)
    assert flusher_fds[0] not in runner_fds.values()
    assert runner_fds[0] not in flusher_fds.values()
    launcher = {t for t in _fd_targets(gw.pid).values() if t.startswith(("pipe:", "socket:"))}
    for fds in (runner_fds, flusher_fds):
        assert not {t for fd, t in fds.items() if fd > 2} & launcher


def test_the_runner_shares_the_launchers_tokenizer_tables(gw: Gateway) -> None:
    runner = _one(batch_runners(gw.pid))
    assert _shared_heap(runner) >= SHARED_HEAP_MIN


def _health_leader(gw: Gateway) -> int | None:
    """The pid holding serve's health lease (probes and /metrics polls) now."""
    table = StateTable(str(run_dir(gw.data_dir, "127.0.0.1", gw.port) / "state.bin"))
    return Lease(table, "rt/lease/health", 1.0).holder()


def test_the_runner_leads_health_keeping(gw: Gateway) -> None:
    runner = _one(batch_runners(gw.pid))
    # the first round may find a worker up first; the runner takes over at its next tick
    assert poll(lambda: _health_leader(gw), lambda pid: pid == runner, 10) == runner
    # the runner's probes and polls reach every worker's /metrics through the shared table
    assert metric_sum(gw.metrics_text(), "provocapi_worker_up", model=CHAT) == 1
    # stalled, its lease runs out (3 ticks of 1 s) and a serving worker leads meanwhile
    workers = granian_workers(gw.pid)
    os.kill(runner, signal.SIGSTOP)
    try:
        assert poll(lambda: _health_leader(gw), lambda pid: pid in workers, 10) in workers
    finally:
        os.kill(runner, signal.SIGCONT)
    # back, the runner takes the lease from the worker, which was renewing it every tick
    assert poll(lambda: _health_leader(gw), lambda pid: pid == runner, 5) == runner


def _run_batch(gw: Gateway, key: str, n: int) -> None:
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
    lines = [
        {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": CHAT, "max_tokens": 4,
                  "messages": [{"role": "user", "content": f"question {i}"}]}}
        for i in range(n)
    ]  # fmt: skip
    data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    file_id = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch").id
    batch = client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done = poll(
        lambda: client.batches.retrieve(batch.id),
        lambda b: b.status in ("completed", "failed", "expired", "cancelled"),
        timeout_s=40,
    )
    assert done.status == "completed", done
    assert done.request_counts is not None and done.request_counts.completed == n
    assert done.output_file_id is not None
    out = [orjson.loads(x) for x in client.files.content(done.output_file_id).content.splitlines()]
    assert sorted(r["custom_id"] for r in out) == sorted(f"q{i}" for i in range(n))


def test_a_killed_runner_is_forked_again_and_runs_batches(gw: Gateway) -> None:
    key = gw.new_keys("forked")["forked"]
    _run_batch(gw, key, 4)
    first = _one(batch_runners(gw.pid))
    os.kill(first, signal.SIGKILL)
    found = poll(lambda: batch_runners(gw.pid), lambda r: len(r) == 1 and r != [first], 20)
    again = _one(found)
    assert again != first
    assert state(first) is None  # reaped by the launcher: no zombie
    _check_forked(gw, again, 10)  # forked again from the launcher, which holds the tables
    assert _shared_heap(again) >= SHARED_HEAP_MIN
    # the killed runner's lease runs out (3 ticks of 1 s); then the new one leads again
    assert poll(lambda: _health_leader(gw), lambda pid: pid == again, 15) == again
    _run_batch(gw, key, 6)


def test_runner_and_flusher_end_when_serve_is_gone(tmp_path: Path) -> None:
    g = Gateway(tmp_path, workers=1)
    g.start(60.0)
    try:
        runner, flusher = _one(batch_runners(g.pid)), _one(flushers(g.pid))
        # the launcher and its workers die without a word: the lifelines close
        for pid in [g.pid, *granian_workers(g.pid)]:
            os.kill(pid, signal.SIGKILL)
        gone = poll(lambda: (state(runner), state(flusher)), lambda s: s == (None, None), 30)
        assert gone == (None, None)
    finally:
        g.kill9()
