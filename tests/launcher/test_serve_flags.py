"""`provocapi serve` flags out of range, or an address it cannot listen on: exit 2 saying
why, before anything starts (a port past 65535 was a Granian traceback, 0 silently meant
8080, --workers 0 ran, a taken port or a name for the host failed only after the
simulators had started)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from harness.gateway import Gateway
from harness.procs import run_cli


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--port", "70000"), ("--port", "0"), ("--port", "-5"), ("--workers", "0"),
     ("--workers", "-1")],
)  # fmt: skip
def test_an_out_of_range_flag_is_refused(tmp_path: Path, flag: str, value: str) -> None:
    res = run_cli("serve", flag, value, "--data-dir", str(tmp_path / "data"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"argument {flag}: '{value}' is not" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process's socket listens on (a socket of this test: the same)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path, taken_port: int) -> None:
    # it was a Rust traceback after the simulators, flusher and runner had started, and
    # a simulator could even answer on that port meanwhile
    res = run_cli("serve", "--port", str(taken_port), "--data-dir", str(tmp_path / "data"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"error: cannot listen on 127.0.0.1:{taken_port}: Address already in use" in res.stderr
    assert "another process listens there" in res.stderr
    assert "Traceback" not in res.stderr
    assert "simulated" not in res.stdout


def test_an_address_not_of_this_machine_is_refused(tmp_path: Path) -> None:
    res = run_cli("serve", "--host", "192.0.2.1", "--data-dir", str(tmp_path / "data"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "error: cannot listen on 192.0.2.1:" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert "simulated" not in res.stdout


def test_serve_listens_on_localhost_by_name(tmp_path: Path) -> None:
    # Granian takes only numbers ("invalid IP address syntax" after everything started)
    gw = Gateway(tmp_path, args=["--host", "localhost"])
    try:
        gw.start()
        assert httpx2.get(gw.url + "/health/ready").status_code == 200
        assert f"listening on http://127.0.0.1:{gw.port}/v1" in gw.output()
    finally:
        gw.stop()
