"""`--data-dir` that cannot be used: exit 2, saying why, before anything starts.
Serves may share one; each keeps its own files in it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx2
from harness.gateway import Gateway
from harness.procs import run_cli
from harness.proctree import granian_workers
from harness.waiting import poll
from provocapi.netutil import free_port

# no simulator to start: serve is up as soon as Granian listens
CONFIG = """\
[[models]]
id = "m"
kind = "chat"
workers = ["http://127.0.0.1:1"]
"""


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    for args in (
        ["serve", "--port", str(free_port())],
        ["keys", "list"],
        ["keys", "create", "--tenant", "t"],
    ):
        res = run_cli(*args, "--data-dir", str(a_file))
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"data dir {a_file} is a file" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        assert "listening" not in res.stdout


def test_serves_sharing_a_data_dir_keep_their_own_files(tmp_path: Path) -> None:
    """Replicas may share a data dir (keys, usage, batches). Each wrote its effective
    config and state table at the data dir's top: a Granian worker of one, respawned
    after a kill -9, then started from the other's config (its models, its keys setting)."""
    a = Gateway(tmp_path / "a", CONFIG)
    b = Gateway(tmp_path / "b", CONFIG.replace('id = "m"', 'id = "other"'), data_dir=a.data_dir)
    try:
        a.start()
        b.start()
        (worker,) = granian_workers(b.pid)
        os.kill(worker, signal.SIGKILL)  # Granian respawns it from b's effective config
        poll(lambda: granian_workers(b.pid), lambda pids: pids and pids != [worker])
        models = poll(lambda: _models(b), lambda m: m == ["other"], timeout_s=30)
        assert models == ["other"], b.output()
        assert _models(a) == ["m"]
    finally:
        b.stop()
        a.stop()


def test_a_second_serve_on_the_same_address_and_data_dir_is_refused(tmp_path: Path) -> None:
    first = Gateway(tmp_path / "first", CONFIG)
    try:
        first.start()
        res = run_cli(
            "serve", "--config", str(first.config_path), "--data-dir", str(first.data_dir),
            "--port", str(first.port),
        )  # fmt: skip
        assert res.returncode == 2, res.stdout + res.stderr
        assert "is in use by another provocapi serve" in res.stderr, res.stderr
        assert f"(pid {first.pid})" in res.stderr
        assert first.alive()
    finally:
        first.stop()
    # the lock goes with the serve that held it
    again = Gateway(tmp_path / "again", CONFIG, data_dir=first.data_dir, port=first.port)
    try:
        again.start()
    finally:
        again.stop()


def _models(gw: Gateway) -> list[str]:
    try:
        r = httpx2.get(f"{gw.url}/health", timeout=5, trust_env=False)
    except httpx2.TransportError:
        return []
    return sorted(r.json()["models"]) if r.status_code == 200 else []


def test_a_data_dir_with_a_space_is_printed_ready_to_paste(tmp_path: Path) -> None:
    gw = Gateway(tmp_path / "gw", CONFIG, data_dir=tmp_path / "data dir")
    try:
        gw.start()
        assert f"--data-dir '{tmp_path / 'data dir'}'" in gw.output(), gw.output()
        assert gw.create_key("spaced").startswith("pk-prov-")
    finally:
        gw.stop()
