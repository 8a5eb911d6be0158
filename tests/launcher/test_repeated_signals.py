"""Ctrl-C pressed again and again (SIGINT to serve's whole process group) while a stream
is in flight: serve and its Granian workers still end. Granian's worker handler
blocked for good on the third signal, holding the GIL its own stop needed, and serve
waited for that worker for ever (worker_signals.py); the same hang left orphaned
workers running when the kernel repeated their parent-death signal. And a worker that
does not stop at all is killed after `stop_timeout_s`: serve waited for it for ever."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from harness.gateway import Gateway
from harness.proctree import describe, granian_workers, running
from harness.sims import sim_url
from harness.waiting import poll

MODEL = "m"
# a stream of 100 tokens 40 ms apart: still running when the signals come
SLOW = ("--ttft-ms", "0", "--token-delay-ms", "40", "--output-tokens", "100")


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    with sim_url(MODEL, tmp_path, *SLOW) as worker:
        config = f"""\
            [[models]]
            id = "{MODEL}"
            kind = "chat"
            workers = ["{worker}"]
            """
        g = Gateway(tmp_path / "gw", config, workers=2)
        try:
            g.start(60.0)
            yield g
        finally:
            g.kill9()


def _stream(gw: Gateway, key: str, started: threading.Event) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx2.Client(timeout=30, trust_env=False) as c:
            with c.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers=headers) as r:
                for _ in r.iter_bytes():
                    started.set()
    except httpx2.TransportError:
        pass  # cut when the worker stops: what matters is that it stops
    finally:
        started.set()


def test_ctrl_c_pressed_five_times_mid_stream_still_stops_serve(gw: Gateway) -> None:
    key = gw.new_keys("t")["t"]
    workers = granian_workers(gw.pid)
    assert len(workers) == 2, workers
    started = threading.Event()
    reader = threading.Thread(target=_stream, args=(gw, key, started), daemon=True)
    reader.start()
    assert started.wait(20), "the stream never started"
    for _ in range(5):  # each worker gets every one (the terminal signals the group)
        os.killpg(gw.pid, signal.SIGINT)
        time.sleep(0.05)
    left = poll(lambda: running([gw.pid, *workers]), lambda pids: not pids, timeout_s=30)
    assert left == [], "still running after Ctrl-C: " + "; ".join(map(describe, left))
    reader.join(10)


def test_a_worker_that_does_not_stop_is_killed_after_stop_timeout_s(tmp_path: Path) -> None:
    # a worker that cannot act on its SIGTERM (stopped here; one that missed it, or hung,
    # is the same to serve): serve waited on it for ever, now kills it after the timeout
    g = Gateway(tmp_path, "[server]\nstop_timeout_s = 2\n", workers=2)
    try:
        g.start(60.0)
        workers = granian_workers(g.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGSTOP)
        signalled = time.monotonic()
        os.kill(g.pid, signal.SIGTERM)  # the launcher alone, as systemd and Docker do
        left = poll(lambda: running([g.pid, *workers]), lambda pids: not pids, timeout_s=30)
        assert left == [], "still running after SIGTERM: " + "; ".join(map(describe, left))
        assert time.monotonic() - signalled >= 2.0, "the stopped worker was not waited for"
        assert "refused to gracefully stop" in g.output(20000), g.output(3000)
    finally:
        g.kill9()
