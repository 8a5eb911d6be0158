"""The package's one free_port and wait_healthy (launcher, simulator, tests, bench)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from provocapi.netutil import free_port, free_ports, wait_healthy


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(0 < p < 65536 for p in [*ports, free_port()])


def test_wait_healthy_fails_with_the_exit_code_of_a_dead_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait(10)
    with pytest.raises(RuntimeError, match="exited with 3"):
        wait_healthy(f"http://127.0.0.1:{free_port()}/health", 5.0, proc)


def test_wait_healthy_gives_up_and_says_what_it_saw() -> None:
    with pytest.raises(RuntimeError, match=r"not healthy after 0\.3 s"):
        wait_healthy(f"http://127.0.0.1:{free_port()}/health", 0.3)
