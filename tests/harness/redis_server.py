"""A real redis-server (Debian's) on a free loopback port, no persistence; stopped
and started again on the same port (a Redis outage)."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from provocapi.netutil import free_port

from .procs import Proc


class RedisServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None
        self._starts = 0

    def start(self) -> None:
        self._starts += 1
        self.proc = Proc(
            f"redis-{self.port}-{self._starts}",
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.root)],
            self.root,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {self.proc.output()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
