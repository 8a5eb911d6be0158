"""The process API: start_sim, python -m provocapi.sim, fleets, refusing and starting modes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from provocapi.netutil import free_ports
from provocapi.sim import free_port, start_sim


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_start_sim_and_stop() -> None:
    with start_sim(["--model", "llama-x"]) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        status, body = _get(sim.url + "/v1/models")
        assert status == 200 and json.loads(body)["data"][0]["id"] == "llama-x"
        proc = sim.process
    assert proc.poll() is not None


def test_fleet_in_one_process() -> None:
    ports = free_ports(2)
    fleet = [
        {"model": "llama-x", "port": ports[0]},
        {"model": "bge-m3", "port": ports[1], "embedding": True, "dimensions": 8},
    ]
    with start_sim(["--fleet", json.dumps(fleet)]) as sim:
        assert sim.urls == [f"http://127.0.0.1:{p}" for p in ports]
        assert json.loads(_get(sim.urls[0] + "/v1/models")[1])["data"][0]["id"] == "llama-x"
        req = urllib.request.Request(
            sim.urls[1] + "/v1/embeddings",
            data=b'{"model": "bge-m3", "input": "x"}',
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=2) as r:
            assert len(json.loads(r.read())["data"][0]["embedding"]) == 8


def test_refused_then_listening() -> None:
    port = free_port()
    sim = start_sim(["--model", "m", "--refuse-s", "0.8", "--port", str(port)], wait=False)
    try:
        time.sleep(0.3)
        assert sim.process.poll() is None
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # refused while "loading"
        deadline = time.monotonic() + 10
        while _probe(port) is False:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _get(f"http://127.0.0.1:{port}/health")[0] == 200
    finally:
        sim.stop()


def _probe(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_starting_mode_waits_for_the_port_only() -> None:
    # --starting-s counts from process start, and a loaded machine can take a second or
    # more to import: long enough to see "starting", then polled until healthy
    with start_sim(["--model", "m", "--starting-s", "4"]) as sim:
        assert _get(sim.url + "/health")[0] == 503
        deadline = time.monotonic() + 15
        while _get(sim.url + "/health")[0] != 200:
            assert time.monotonic() < deadline, "never became healthy"
            time.sleep(0.1)


def test_cli_errors_and_help() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "provocapi.sim", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "--model is required" in r.stderr
    for port in ("99999", "-1"):  # 99999 said it listened there, and bound 34463
        r = subprocess.run(
            [sys.executable, "-m", "provocapi.sim", "--model", "m", "--port", port],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 2 and f"--port {port} is not a port" in r.stderr, r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "provocapi.sim", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0
    for flag in (
        "--family",
        "--embedding",
        "--dimensions",
        "--ttft-ms",
        "--token-delay-ms",
        "--output-tokens",
        "--seed",
        "--tool-parser",
        "--error-rate",
        "--drop-rate",
        "--starting-s",
        "--refuse-s",
        "--max-queue",
        "--openai",
        "--api-key",
        "--fleet",
    ):
        assert flag in r.stdout
