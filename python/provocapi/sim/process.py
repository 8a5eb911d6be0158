"""Start a simulator in a child process, for the gateway's launcher and for tests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ..netutil import free_port


def _flag(args: list[str], name: str) -> str | None:
    for i, word in enumerate(args):
        if word == name and i + 1 < len(args):
            return args[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _healthy(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nhost: sim\r\nconnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class SimHandle:
    """A running simulator process; ``url`` is its (first) base URL."""

    def __init__(
        self, process: subprocess.Popen[bytes], host: str, ports: list[int], log: Path
    ) -> None:
        self.process = process
        self.host = host
        self.ports = ports
        self.port = ports[0]
        self.log = log

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def urls(self) -> list[str]:
        return [f"http://{self.host}:{p}" for p in self.ports]

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_sim(
    args: list[str], port: int | None = None, *, wait: bool = True, timeout: float = 30.0
) -> SimHandle:
    """Spawn ``python -m provocapi.sim ARGS`` and wait until it serves.

    Without ``--port`` in args, ``port`` (or a free one) is added. Waits for /health 200,
    or only for the port to accept when --starting-s / --refuse-s are given; ``wait=False``
    returns at once (to watch a refusing worker come up).
    """
    args = list(args)
    host = _flag(args, "--host") or "127.0.0.1"
    fleet = _flag(args, "--fleet")
    if fleet is not None:
        ports = [int(e["port"]) for e in json.loads(fleet)]
    elif _flag(args, "--port") is not None:
        ports = [int(_flag(args, "--port") or 0)]
    else:
        ports = [port or free_port(host)]
        args += ["--port", str(ports[0])]
    fd, name = tempfile.mkstemp(prefix="worker-sim-", suffix=".log")
    with open(fd, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "provocapi.sim", *args], stdout=subprocess.DEVNULL, stderr=log
        )
    handle = SimHandle(proc, host, ports, Path(name))
    if not wait:
        return handle
    probe = (
        _accepts
        if ("--starting-s" in " ".join(args) or "--refuse-s" in " ".join(args) or fleet is not None)
        else _healthy
    )
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if proc.poll() is not None:
            err = handle.stderr()
            handle.stop()
            raise RuntimeError(f"worker-sim exited with {proc.returncode}: {err}")
        if time.monotonic() > deadline:
            handle.stop()
            raise TimeoutError(f"worker-sim not ready on ports {pending} after {timeout}s")
        pending = [p for p in pending if not probe(host, p)]
        if pending:
            time.sleep(0.02)
    return handle
